package coord_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestProclaim: the leader publishes a value with its lease; followers
// learn it from the records they read anyway (their requests do not
// grow), as a Change (also when only the value changes) and in
// LeaderInfo; a too long value is refused.
func TestProclaim(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
				if err := a.Proclaim("10.0.0.1:8080"); err != nil {
					t.Fatal(err)
				}
				sa, err := a.Use(t.Context(), "api", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sa.WaitLeader(t.Context()); err != nil {
					t.Fatal(err)
				}
				changes := make(chan plugin.Change, 16)
				b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
				sb, err := b.Use(t.Context(), "api", plugin.Func{OnLead: plugin.Idle, OnChange: func(c plugin.Change) { changes <- c }}, coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				next := func(what string) plugin.Change {
					t.Helper()
					select {
					case c := <-changes:
						return c
					case <-time.After(time.Minute):
						t.Fatalf("no change: %s", what)
						return plugin.Change{}
					}
				}
				if c := next("first"); c.To != "a" || c.Value != "10.0.0.1:8080" {
					t.Errorf("follower heard %+v, want a with its value", c)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				before := sb.Metrics().Requests
				if err := a.Proclaim("10.0.0.1:9090"); err != nil {
					t.Fatal(err)
				}
				if c := next("new value"); c.From != "a" || c.To != "a" || c.Value != "10.0.0.1:9090" {
					t.Errorf("after a new value the follower heard %+v", c)
				}
				li, err := a.Coordinators()[0].Leader(context.Background())
				if err != nil || li.Value != "10.0.0.1:9090" {
					t.Errorf("LeaderInfo.Value %q, %v", li.Value, err)
				}
				time.Sleep(time.Minute - time.Second)
				synctest.Wait()
				after := sb.Metrics().Requests
				if after.Get-before.Get > 13 { // one GET a heartbeat, as without a value
					t.Errorf("follower requests grew: %+v then %+v", before, after)
				}
				if err := a.Proclaim(strings.Repeat("x", 1025)); !errors.Is(err, coord.ErrInvalidConfig) {
					t.Errorf("Proclaim of a long value: %v", err)
				}
				if err := a.Proclaim("\xff"); !errors.Is(err, coord.ErrInvalidConfig) {
					t.Errorf("Proclaim of a value that is not UTF-8: %v", err)
				}
			})
		})
	}
}
