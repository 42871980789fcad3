package main

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/s3coord/coord"
)

// Target limits from issue 5. The per-hour limits are set at default
// settings (720 lease writes and reads: one a 5s heartbeat; 540 worker
// records: one every third of a 20s worker timeout) and follow the
// settings the hourly figures stand for (see perHourLimits).
const (
	// maxTimeToLeader is the median time until every plugin knows its
	// leader, for the largest plugin count in global mode, on a real store.
	maxTimeToLeader = 100 * time.Millisecond
)

// loopTolerance is how far (a fraction) the ratio of two steady counts
// may stray from the model's ratio by chance alone, when the numerator
// is the mean of n election loops and the denominator one loop, each
// counted over window at settings s.
//
// One coordinator's heartbeats are a renewal process: gaps of
// HeartbeatInterval plus a jitter uniform on [0, J), mean μ = I + J/2,
// variance σ² = J²/12. Over a window T it beats T/μ times with a relative
// standard deviation of √(σ²/(μT)); a mean of n loops has 1/√n of it, and
// the ratio's deviations add in quadrature: √(σ²/(μT))·√(1+1/n). The
// tolerance is four of those, plus one beat at each end of the window
// (2μ/T: where the window cuts the first and the last gap).
func loopTolerance(s Settings, window time.Duration, n int) float64 {
	if s.HeartbeatInterval <= 0 || window <= 0 || n < 1 {
		return 0
	}
	mu := (s.HeartbeatInterval + s.HeartbeatJitter/2).Seconds()
	j := s.HeartbeatJitter.Seconds()
	t := window.Seconds()
	return 4*math.Sqrt(j*j/12/(mu*t))*math.Sqrt(1+1/float64(n)) + 2*mu/t
}

// evaluateTargets checks the goals of issue 5 against r's measurements.
// A target whose scenario was not run (or cannot be judged on this clock)
// is verdictNA, never a pass.
func evaluateTargets(r *Report) []Target {
	var out []Target
	maxLeaderLeaseWrites, maxFollowerReads, maxWorkerWrites := perHourLimits(r)
	counts := pluginCounts(r)

	// Global mode: one loop whatever the plugin count (and claims, which
	// a steady window without leader changes has none of): the ratio is
	// 1 to within the jitter of two single loops.
	if len(counts) >= 2 {
		lo, hi := counts[0], counts[len(counts)-1]
		a, okA := r.steady(modeGlobal, lo)
		b, okB := r.steady(modeGlobal, hi)
		tol := loopTolerance(r.Settings, r.Window, 1)
		t := Target{
			Name: fmt.Sprintf("global requests/hour: %d plugins vs %d", hi, lo),
			Want: "within ±" + formatPercent(tol)[1:] + " (one loop each; the jitter's spread)",
		}
		if okA && okB && a.PerHour.Total() > 0 {
			d := b.PerHour.Total()/a.PerHour.Total() - 1
			t.Measured = formatPercent(d)
			t.Verdict = verdict(math.Abs(d) <= tol)
		} else {
			t.Measured, t.Verdict = "not run", verdictNA
		}
		out = append(out, t)
	}

	// Reduction at the largest plugin count n: per-plugin mode runs n
	// loops of lease writes, reads and worker records, global mode one
	// loop (plus claims: none in a steady window), so the model's
	// reduction is n, to within the jitter of n loops against one.
	if len(counts) >= 1 {
		n := counts[len(counts)-1]
		tol := loopTolerance(r.Settings, r.Window, n)
		t := Target{
			Name: fmt.Sprintf("reduction at %d plugins (per-plugin ÷ global)", n),
			Want: fmt.Sprintf("%d× ± %s (n loops ÷ one loop; the jitter's spread)", n, formatPercent(tol)[1:]),
		}
		t.Measured, t.Verdict = "not run", verdictNA
		for _, red := range r.Reductions() {
			if red.Plugins == n && red.Global > 0 {
				t.Measured = formatFactor(red.Factor)
				t.Verdict = verdict(math.Abs(red.Factor/float64(n)-1) <= tol)
			}
		}
		out = append(out, t)
	}

	// Per worker per hour at default settings (global mode, every plugin count).
	var leaderW, followerR, workerW float64
	var haveLeader, haveFollower bool
	for _, l := range r.PerWorker {
		if l.Mode != modeGlobal {
			continue
		}
		switch l.Role {
		case roleLeader:
			haveLeader = true
			leaderW = max(leaderW, l.LeaseWrites)
		case roleFollower:
			haveFollower = true
			followerR = max(followerR, l.Reads)
			workerW = max(workerW, l.WorkerWrites)
		}
	}
	out = append(out, limitTarget("leader lease writes per hour (global)", haveLeader, leaderW, maxLeaderLeaseWrites))
	out = append(out, limitTarget("follower reads per hour (global)", haveFollower, followerR, maxFollowerReads))
	wt := limitTarget("follower worker-record writes per hour (global)", haveFollower, workerW, maxWorkerWrites)
	if !r.Settings.Membership && haveFollower {
		wt.Want = "0 (membership off)"
		wt.Verdict = verdict(workerW == 0)
	}
	out = append(out, wt)

	// Time to a leader, largest plugin count, global mode.
	if len(counts) >= 1 {
		n := counts[len(counts)-1]
		t := Target{
			Name: fmt.Sprintf("time to leader, %d plugins, global (median)", n),
			Want: "< " + formatDuration(maxTimeToLeader) + " on loopback MinIO",
		}
		t.Measured, t.Verdict = "not run", verdictNA
		for _, c := range r.Convergence {
			if c.Mode == modeGlobal && c.Plugins == n && len(c.Trials) > 0 {
				t.Measured = formatDuration(c.Median()) + " on " + r.Driver
				if r.Clock == clockVirtual {
					t.Measured += " (virtual clock: store latency not measured)"
					t.Verdict = verdictNA
				} else {
					t.Verdict = verdict(c.Median() < maxTimeToLeader)
				}
			}
		}
		out = append(out, t)
	}

	// Failover bounds: every trial of every scenario.
	for _, kind := range []string{failCrash, failGraceful} {
		bound := r.Settings.CrashBound()
		want := "≤ LeaseTimeout + HeartbeatInterval + HeartbeatJitter = "
		if kind == failGraceful {
			bound = r.Settings.GracefulBound()
			want = "≤ HeartbeatInterval + HeartbeatJitter = "
		}
		t := Target{Name: "failover after " + map[string]string{failCrash: "a leader crash", failGraceful: "a graceful stop"}[kind] + " (slowest trial)", Want: want + formatDuration(bound)}
		t.Measured, t.Verdict = "not run", verdictNA
		var worst time.Duration
		var any bool
		for _, f := range r.Failover {
			if f.Kind == kind && len(f.Trials) > 0 {
				any = true
				worst = max(worst, f.Max())
			}
		}
		if any {
			t.Measured = formatDuration(worst)
			t.Verdict = verdict(worst <= bound)
		}
		out = append(out, t)
	}
	return out
}

// perHourLimits are the per-worker limits at the settings r's hourly
// figures stand for: one lease write (leader) or read (follower) per
// heartbeat interval, one worker record per third of the worker timeout.
func perHourLimits(r *Report) (leaderWrites, followerReads, workerWrites float64) {
	s := r.PerHourAt
	if s.HeartbeatInterval <= 0 || s.WorkerTimeout <= 0 {
		s = r.Settings
	}
	if s.HeartbeatInterval <= 0 || s.WorkerTimeout <= 0 {
		s = settingsOf(coord.DefaultConfig())
	}
	beats := math.Floor(float64(time.Hour) / float64(s.HeartbeatInterval))
	return beats, beats, math.Floor(float64(time.Hour) / float64(s.WorkerTimeout/3))
}

func limitTarget(name string, have bool, got, limit float64) Target {
	t := Target{Name: name, Want: "≤ " + formatCount(limit)}
	if !have {
		t.Measured, t.Verdict = "not run", verdictNA
		return t
	}
	t.Measured = formatCount(got)
	t.Verdict = verdict(math.Round(got) <= limit)
	return t
}

func verdict(ok bool) string {
	if ok {
		return verdictPass
	}
	return verdictFail
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// pluginCounts lists the plugin counts of r's steady scenarios, ascending.
func pluginCounts(r *Report) []int {
	var out []int
	for _, s := range r.Steady {
		if !slices.Contains(out, s.Plugins) {
			out = append(out, s.Plugins)
		}
	}
	if len(out) == 0 {
		for _, c := range r.Convergence {
			if !slices.Contains(out, c.Plugins) {
				out = append(out, c.Plugins)
			}
		}
	}
	slices.Sort(out)
	return out
}
