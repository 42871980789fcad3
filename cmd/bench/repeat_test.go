package main

import (
	"encoding/json"
	"testing"
)

// TestRepeatsExactly: two runs with the same settings and seed report the
// same counts and virtual times, request for request.
func TestRepeatsExactly(t *testing.T) {
	flags := []string{"-membership-twin=false", "-timing", "-trials", "2"}
	a, _ := quickRun(t, flags...)
	b, _ := quickRun(t, flags...)
	ja, jb := figures(t, a), figures(t, b)
	if ja != jb {
		t.Fatalf("two runs of one seed differ:\n%s\n%s", ja, jb)
	}
}

// figures is a report's JSON without what is not a figure of the run
// (wall time).
func figures(t *testing.T, r *Report) string {
	t.Helper()
	c := *r
	c.Elapsed = 0
	j, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}
