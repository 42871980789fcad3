package conformance_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

func statusOf(rep conformance.Report, check string) conformance.Status {
	for _, f := range rep.Findings {
		if f.Check == check {
			return f.Status
		}
	}
	return ""
}

func failedChecks(rep conformance.Report) []string {
	var out []string
	for _, f := range rep.Failed() {
		out = append(out, f.Check)
	}
	return out
}

// TestProbeMem: an exact store passes every check, the probe leaves
// nothing behind, and it reports what it measured.
func TestProbeMem(t *testing.T) {
	inner := mem.New(mem.Options{})
	if _, err := inner.Put(t.Context(), "user/data", []byte("keep"), driver.None); err != nil {
		t.Fatal(err)
	}
	rep := conformance.Probe(t.Context(), inner, conformance.ProbeOptions{Prefix: "scratch/"})
	for _, f := range rep.Findings {
		t.Logf("%-20s %s %s %v", f.Check, f.Status, f.Summary, f.Details)
	}
	if rep.Status != conformance.Pass || !rep.Usable {
		t.Errorf("status %s (usable %v), want PASS; failed: %v", rep.Status, rep.Usable, failedChecks(rep))
	}
	for _, r := range conformance.ProbeRules() {
		if got := statusOf(rep, r.Name); got != conformance.Pass {
			t.Errorf("%s: %q, want PASS", r.Name, got)
		}
	}
	if rep.Leftover != 0 {
		t.Errorf("Leftover = %d", rep.Leftover)
	}
	res, err := inner.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].Key != "user/data" {
		t.Errorf("after the probe the store holds %d objects (%v), want only user/data", len(res.Entries), res.Entries)
	}
	if len(rep.Latency) != 3 || rep.Latency[0].Samples != 20 || rep.Recommended.HeartbeatInterval != time.Second || !rep.Recommended.DefaultsOK {
		t.Errorf("latency %+v, recommended %+v", rep.Latency, rep.Recommended)
	}
	if rep.ClockOffset.Abs() > 100*time.Millisecond {
		t.Errorf("clock offset of mem = %v, want about 0", rep.ClockOffset)
	}
	if rep.Requests.Put == 0 || rep.Requests.Delete == 0 {
		t.Errorf("requests %v", rep.Requests)
	}
}

// TestProbeLyingStore: a store that ignores a condition fails the rules
// that name it, and only those; the others pass.
func TestProbeLyingStore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults faultstore.Faults
		want   []string
	}{
		{"ignores IfAbsent", faultstore.Faults{IgnoreIfAbsentRate: 1}, []string{"Put/IfAbsent", "Race/IfAbsent"}},
		{"ignores IfMatch", faultstore.Faults{IgnoreIfMatchRate: 1},
			[]string{"Put/IfMatch", "Put/IfMatchMissing", "Delete/IfMatch", "Race/IfMatch", "Race/DeleteIfMatch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := faultstore.New(mem.New(mem.Options{}), 1)
			fs.Set(tc.faults)
			rep := conformance.Probe(t.Context(), fs, conformance.ProbeOptions{Prefix: "scratch/"})
			got := failedChecks(rep)
			if !slices.Equal(got, tc.want) {
				for _, f := range rep.Findings {
					t.Logf("%-20s %s %v", f.Check, f.Status, f.Details)
				}
				t.Errorf("failed checks %v, want %v", got, tc.want)
			}
			if rep.Status != conformance.Fail || rep.Leftover != 0 {
				t.Errorf("status %s leftover %d, want FAIL and 0", rep.Status, rep.Leftover)
			}
		})
	}
}

// TestProbeHangingStore: a store whose calls are accepted and never
// answered (even ignoring their context) gives FAIL/timeout within the
// bounds, never a hang.
func TestProbeHangingStore(t *testing.T) {
	fs := faultstore.New(mem.New(mem.Options{}), 1)
	fs.Set(faultstore.Faults{HangRate: 1, HangIgnoresContext: true})
	t.Cleanup(func() { fs.Close() })
	const reqTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	rep := conformance.Probe(ctx, fs, conformance.ProbeOptions{Prefix: "scratch/", RequestTimeout: reqTimeout})
	took := time.Since(start)
	if rep.Usable || statusOf(rep, "Store/Write") != conformance.Fail || rep.Status != conformance.Fail {
		t.Errorf("usable %v, Store/Write %s, status %s; want unusable and FAIL", rep.Usable, statusOf(rep, "Store/Write"), rep.Status)
	}
	// One request for the preflight, one LIST for the cleanup.
	if took > 10*reqTimeout+time.Second {
		t.Errorf("the probe of a hanging store took %v", took)
	}
	t.Logf("took %v: %+v", took, rep.Findings)

	// Hanging only after the preflight: the overall bound cuts the rest.
	fs2 := faultstore.New(mem.New(mem.Options{}), 1)
	t.Cleanup(func() { fs2.Close() })
	fs2.Set(faultstore.Faults{HangRate: 1, HangIgnoresContext: true, Match: func(op, key string) bool { return op == faultstore.OpPut && key != "scratch/write/hello" }})
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	start = time.Now()
	rep = conformance.Probe(ctx2, fs2, conformance.ProbeOptions{Prefix: "scratch/", RequestTimeout: reqTimeout})
	took = time.Since(start)
	if !rep.Usable || rep.Status != conformance.Fail || statusOf(rep, "Put/IfAbsent") != conformance.Fail {
		t.Errorf("usable %v status %s Put/IfAbsent %s", rep.Usable, rep.Status, statusOf(rep, "Put/IfAbsent"))
	}
	if took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}
