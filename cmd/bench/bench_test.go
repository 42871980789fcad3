package main

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestVirtualHourOnMem runs the whole benchmark on mem for a simulated
// hour per scenario and checks the measured numbers against what the
// engine's settings imply (not against recorded output).
func TestVirtualHourOnMem(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated hours")
	}
	o, err := parseFlags([]string{"-store", "mem://", "-plugins", "1,4", "-workers", "2", "-trials", "1", "-plugin-costs=false", "-quiet"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r, err := benchmark(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wall time %v", time.Since(began))
	if r.Clock != clockVirtual || r.TimeScale != 1 || len(r.Steady) != 4 {
		t.Fatalf("report: clock %s scale %v, %d steady results", r.Clock, r.TimeScale, len(r.Steady))
	}
	s := r.Settings
	// One coordinator heartbeats at most every interval, at least every
	// interval+jitter: between 600 and 720 times an hour at the defaults.
	minBeats := float64(time.Hour) / float64(s.HeartbeatInterval+s.HeartbeatJitter)
	maxBeats := float64(time.Hour) / float64(s.HeartbeatInterval)
	for _, st := range r.Steady {
		if st.Window != time.Hour {
			t.Errorf("%s: window %v, want a simulated hour", setupName(st.Plugins, st.Mode), st.Window)
		}
		coords := float64(st.Workers)
		if st.Mode == modePerPlugin {
			coords *= float64(st.Plugins)
		}
		if per := st.HeartbeatsPerHour / coords; per < minBeats || per > maxBeats {
			t.Errorf("%s: %.0f heartbeats/hour per coordinator, want %.0f..%.0f", setupName(st.Plugins, st.Mode), per, minBeats, maxBeats)
		}
		if st.Requests.Total() == 0 || math.Abs(st.PerHour.Total()-float64(st.Requests.Total())) > 1e-9 {
			t.Errorf("%s: per hour %v from %d requests over an hour", setupName(st.Plugins, st.Mode), st.PerHour.Total(), st.Requests.Total())
		}
		if want := S3Standard.PerMonth(st.PerHour); st.CostPerMonth != want {
			t.Errorf("cost %v, want %v", st.CostPerMonth, want)
		}
	}
	// Per-plugin mode costs N times one plugin; global mode does not
	// grow: to within the jitter's spread of the loops compared.
	pp1, _ := r.steady(modePerPlugin, 1)
	pp4, _ := r.steady(modePerPlugin, 4)
	g1, _ := r.steady(modeGlobal, 1)
	g4, _ := r.steady(modeGlobal, 4)
	if f, tol := pp4.PerHour.Total()/pp1.PerHour.Total(), loopTolerance(s, time.Hour, 4); math.Abs(f/4-1) > tol {
		t.Errorf("per-plugin 4 plugins / 1 plugin = %.3f, want 4 ± %.2f%%", f, 100*tol)
	}
	if d, tol := g4.PerHour.Total()/g1.PerHour.Total()-1, loopTolerance(s, time.Hour, 1); math.Abs(d) > tol {
		t.Errorf("global 4 plugins vs 1: %+.2f%%, want within ±%.2f%%", 100*d, 100*tol)
	}
	// Per worker: the leader reads back and renews, the follower reads; a follower
	// writes its worker record at most every WorkerTimeout/3 (how much
	// less often, and whether the leader writes one at all, is the
	// engine's choice: the benchmark measures it).
	maxWorker := float64(time.Hour) / float64(s.WorkerTimeout/3)
	for _, l := range r.PerWorker {
		if l.WorkerWrites > maxWorker+2 || (l.Role == roleFollower && l.WorkerWrites == 0) {
			t.Errorf("%s %s: %.0f worker-record writes/hour, want 1..%.0f", setupName(l.Plugins, l.Mode), l.Role, l.WorkerWrites, maxWorker)
		}
		switch l.Role {
		case roleLeader:
			// It reads its lease back before each renewal (a GET, or a
			// LIST that counts the workers too), and the unsafe-store
			// notice once per LeaseTimeout.
			notices := float64(time.Hour / s.LeaseTimeout)
			if reads := l.Reads + l.Lists; l.LeaseWrites < minBeats || l.LeaseWrites > maxBeats || reads < l.LeaseWrites || reads > l.LeaseWrites+notices {
				t.Errorf("leader: %+v", l)
			}
		case roleFollower:
			if l.LeaseWrites != 0 || l.Reads < minBeats || l.Reads > maxBeats {
				t.Errorf("follower: %+v", l)
			}
		}
	}
	if len(r.PerWorker) != 4 {
		t.Errorf("%d per-worker rows, want leader and follower for 2 global scenarios", len(r.PerWorker))
	}
	// Failover stays within the design's bounds; convergence was measured.
	if len(r.Failover) != 8 || len(r.Convergence) != 4 {
		t.Fatalf("%d failover, %d convergence results", len(r.Failover), len(r.Convergence))
	}
	for _, f := range r.Failover {
		if len(f.Trials) != 1 || f.Max() <= 0 || f.Max() > f.Bound {
			t.Errorf("%s %s failover: %v (bound %v)", setupName(f.Plugins, f.Mode), f.Kind, f.Trials, f.Bound)
		}
	}
	for _, c := range r.Convergence {
		if len(c.Known) != 2 || c.KnownTiming().Max() > 2*(s.HeartbeatInterval+s.HeartbeatJitter) {
			t.Errorf("%s: every worker knew its leaders after %v", setupName(c.Plugins, c.Mode), c.Known)
		}
	}
	for _, tg := range r.Targets {
		if tg.Verdict == verdictFail {
			t.Errorf("target failed: %+v", tg)
		}
	}
}

// TestRunWritesEveryFormat runs the command itself on a tiny scenario.
func TestRunWritesEveryFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated time")
	}
	base := []string{"-store", "mem://", "-plugins", "2", "-workers", "2", "-trials", "1", "-duration", "10m", "-plugin-costs=false", "-quiet"}
	svg := t.TempDir() + "/chart.svg"
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"-svg", svg}, "## API Call Reduction"},
		{[]string{"-json"}, `"steady": [`},
		{[]string{"-csv"}, "section,mode,plugins,metric,value"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(base, tc.extra...), &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.extra, code, errOut.String())
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: output lacks %q", tc.extra, tc.want)
		}
		if errOut.Len() != 0 {
			t.Errorf("-quiet wrote to stderr: %q", errOut.String())
		}
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"-workers", "0"}, &bytes.Buffer{}, &errOut); code != 2 {
		t.Errorf("bad flags: exit %d, want 2", code)
	}
}
