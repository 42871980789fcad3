package conformance_test

import (
	"context"
	"errors"
	"slices"
	"strings"
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
	if len(rep.Latency) != 6 || rep.Latency[0].Samples != 20 || rep.Recommended.HeartbeatInterval != time.Second || !rep.Recommended.DefaultsOK {
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

// contendedStore returns a store slow only under contention: a
// conditional Put that loses (its condition fails) is answered after
// delay; every other call at once.
func contendedStore(delay time.Duration) *faultstore.Store {
	fs := faultstore.New(mem.New(mem.Options{}), 1)
	fs.SetHooks(faultstore.Hooks{
		After: func(c faultstore.Call, err error) error {
			if c.Op == faultstore.OpPut && errors.Is(err, driver.ErrPrecondition) {
				time.Sleep(delay)
			}
			return err
		},
	})
	return fs
}

// TestProbeContendedLatency: on a store fast alone and slow only under
// contention, the race rows report their rounds' duration and the
// recommended configuration follows the contended p99, not the
// sequential one.
func TestProbeContendedLatency(t *testing.T) {
	const delay = 300 * time.Millisecond
	rep := conformance.Probe(t.Context(), contendedStore(delay), conformance.ProbeOptions{Prefix: "scratch/", RaceRounds: 2})
	if rep.Status != conformance.Pass {
		t.Fatalf("status %s; failed %v", rep.Status, failedChecks(rep))
	}
	rows := map[string]conformance.Latency{}
	for _, l := range rep.Latency {
		rows[l.Op] = l
	}
	for _, op := range []string{"Race/IfAbsent round", "Race/IfMatch round"} {
		if l := rows[op]; l.Samples != 2 || l.P50 < delay || l.P99 < delay {
			t.Errorf("%s: %+v, want 2 rounds of at least %v", op, l, delay)
		}
	}
	if seq := rows["PUT (IfMatch)"]; seq.P99 >= delay {
		t.Errorf("sequential PUT p99 %v: the store was contended without a race", seq.P99)
	}
	// 10 x a p99 of 300ms+ is 3s+: HeartbeatInterval 3s or more, where
	// the sequential figures alone give 1s.
	if r := rep.Recommended; r.HeartbeatInterval < 3*time.Second || r.RenewDeadline != 2*r.HeartbeatInterval || r.LeaseTimeout != 3*r.HeartbeatInterval {
		t.Errorf("recommended %+v, want HeartbeatInterval >= 3s (10 x the contended p99)", r)
	}
	var details []string
	for _, f := range rep.Findings {
		if f.Check == "Race/IfAbsent" {
			details = f.Details
		}
	}
	if len(details) != 1 || !strings.Contains(details[0], "2 rounds of 16 writers: p50 ") {
		t.Errorf("Race/IfAbsent details %q, want the rounds' p50 and p99", details)
	}
}

// TestProbeStatusCountsSkipsApart: a skipped check does not make the
// report's status SKIP: a store without conditional delete (two rules
// skipped) is PASS.
func TestProbeStatusCountsSkipsApart(t *testing.T) {
	fs := faultstore.New(mem.New(mem.Options{}), 1)
	fs.DisableConditionalDelete()
	rep := conformance.Probe(t.Context(), fs, conformance.ProbeOptions{Prefix: "scratch/", RaceRounds: 1})
	if got := statusOf(rep, "Race/DeleteIfMatch"); got != conformance.Skip {
		t.Fatalf("Race/DeleteIfMatch %s, want SKIP", got)
	}
	if rep.Status != conformance.Pass {
		t.Errorf("status %s, want PASS (skips are counted apart)", rep.Status)
	}
}

func TestRound(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{3217 * time.Nanosecond, 3220 * time.Nanosecond},
		{12345 * time.Nanosecond, 12 * time.Microsecond},
		{3456789 * time.Microsecond, 3457 * time.Millisecond},
	} {
		if got := conformance.Round(tc.in); got != tc.want {
			t.Errorf("Round(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
