package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Interval is one leadership of one plugin as one worker process believed
// it: from Start (Lead called) to End (the worker noticed the end, or was
// reaped after kill -9). Times are Unix nanoseconds of this machine's
// wall clock.
type Interval struct {
	Worker string
	PID    int
	Mode   string
	Plugin string
	Epoch  uint64
	// Acquired is plugin.Term.Started, the engine's start of the
	// leadership (the start of the winning write); Start is when the
	// worker learnt it (Lead called), Start >= Acquired.
	Acquired, Start int64
	// End is when the interval ended as far as the worker is concerned:
	// when it noticed the end (cancelled context, invalid Term), or, for
	// a killed worker, when the orchestrator reaped the process.
	End int64
	// LastAct is the last leader action (0: none). A killed worker's
	// LastAct is its End: it may have acted until it died.
	LastAct int64
	Reason  string
}

// actEnd is the end of the interval's acting part: [Start, actEnd].
func (iv Interval) actEnd() int64 { return max(iv.Start, iv.LastAct) }

// Freeze is a span during which a worker was stopped (SIGSTOP): Stop is
// taken after the kernel reported the process stopped, Cont just before
// SIGCONT was sent, so [Stop, Cont] lies inside the real freeze.
type Freeze struct {
	Worker     string
	Stop, Cont int64
}

// Report is what Check found.
type Report struct {
	Intervals int
	// LeaderChanges counts, per plugin, consecutive intervals held by
	// different workers.
	LeaderChanges map[string]int
	// Overlaps are the safety violations: pairs of intervals of one
	// plugin where one acted, or believed it led without the freeze
	// excuse, after the other had started. Must be empty.
	Overlaps []string
	// EpochErrors: epochs not strictly increasing across leaders, or one
	// epoch held by two workers. Must be empty.
	EpochErrors []string
	// FrozenBeliefs counts intervals whose belief outlived a successor's
	// start only because the worker was frozen (see Check); WakeToEnd is
	// the largest time from SIGCONT to the end of such an interval.
	FrozenBeliefs int
	WakeToEnd     time.Duration
	// ActMargin is the smallest gap between an interval's last action
	// and a later interval's start; BeliefMargin the same for the end of
	// the earlier interval. Intervals with a freeze inside are left out. They say
	// how close the run came to an overlap (the engine's margin is
	// LeaseTimeout - RenewDeadline, minus request latency).
	ActMargin, BeliefMargin time.Duration
}

// OK reports whether no safety property was violated.
func (r Report) OK() bool { return len(r.Overlaps) == 0 && len(r.EpochErrors) == 0 }

// Check verifies the safety properties over every interval of a run.
//
// For two intervals A and B of one plugin held by different workers, or
// by one worker in different epochs, with A starting first:
//
//  1. Acting: A's last action must come before B's start
//     (A.LastAct < B.Start). This is the property that matters to a user:
//     an old leader stops acting before the new one starts. It holds for
//     every kind of fault, kill -9 and SIGSTOP included.
//  2. Belief: A's end must come before B's start (A.End < B.Start), with
//     one exception. A worker frozen by SIGSTOP cannot notice anything, so
//     its belief outlives its lease however correct the engine is; what
//     the engine must guarantee is that on waking it ends the leadership
//     before acting again (its renew deadline has passed). So when A's
//     worker was frozen at B's start (a Freeze of A's worker spans
//     B.Start), A.End may be later than B.Start provided rule 1 holds
//     (no action of A after B's start: A did nothing between waking and
//     noticing) and A ended within wakeSlack of SIGCONT. Such intervals
//     are counted in FrozenBeliefs.
//
// Epochs: in start order, the epoch of a plugin strictly increases from
// one worker's interval to another's (never decreases within one
// worker), and no epoch is held by two workers.
func Check(intervals []Interval, freezes []Freeze, wakeSlack time.Duration) Report {
	r := Report{Intervals: len(intervals), LeaderChanges: make(map[string]int), ActMargin: -1, BeliefMargin: -1}
	least := func(m *time.Duration, d int64) {
		if *m < 0 || time.Duration(d) < *m {
			*m = time.Duration(d)
		}
	}
	byPlugin := make(map[string][]Interval)
	for _, iv := range intervals {
		byPlugin[iv.Plugin] = append(byPlugin[iv.Plugin], iv)
	}
	frozenAt := func(worker string, at int64) (Freeze, bool) {
		for _, f := range freezes {
			if f.Worker == worker && f.Stop <= at && at <= f.Cont {
				return f, true
			}
		}
		return Freeze{}, false
	}
	frozenDuring := func(worker string, from, to int64) bool {
		for _, f := range freezes {
			if f.Worker == worker && f.Stop <= to && f.Cont >= from {
				return true
			}
		}
		return false
	}
	plugins := make([]string, 0, len(byPlugin))
	for p := range byPlugin {
		plugins = append(plugins, p)
	}
	slices.Sort(plugins)
	for _, p := range plugins {
		ivs := byPlugin[p]
		slices.SortStableFunc(ivs, func(a, b Interval) int { return cmp.Compare(a.Start, b.Start) })
		excused := make(map[int]bool)
		for i, a := range ivs {
			for j, b := range ivs {
				if i == j || b.Start < a.Start || (b.Start == a.Start && j < i) {
					continue
				}
				if a.Worker == b.Worker && a.Epoch == b.Epoch {
					continue
				}
				if a.actEnd() >= b.Start {
					r.Overlaps = append(r.Overlaps, fmt.Sprintf("%s: %s (epoch %d) acted at %s, after %s (epoch %d) started at %s",
						p, a.Worker, a.Epoch, Wall(a.actEnd()), b.Worker, b.Epoch, Wall(b.Start)))
					continue
				}
				// Margins of intervals with a freeze inside say nothing
				// about the lease: the deadline passed long before.
				measure := !frozenDuring(a.Worker, a.Start, a.End)
				if measure {
					least(&r.ActMargin, b.Start-a.actEnd())
				}
				if a.End < b.Start {
					if measure {
						least(&r.BeliefMargin, b.Start-a.End)
					}
					continue
				}
				f, frozen := frozenAt(a.Worker, b.Start)
				switch {
				case !frozen:
					r.Overlaps = append(r.Overlaps, fmt.Sprintf("%s: %s (epoch %d) believed it led until %s (%s), after %s (epoch %d) started at %s",
						p, a.Worker, a.Epoch, Wall(a.End), a.Reason, b.Worker, b.Epoch, Wall(b.Start)))
				case time.Duration(a.End-f.Cont) > wakeSlack:
					r.Overlaps = append(r.Overlaps, fmt.Sprintf("%s: %s (epoch %d) was woken at %s but believed it led until %s, after %s (epoch %d) started at %s",
						p, a.Worker, a.Epoch, Wall(f.Cont), Wall(a.End), b.Worker, b.Epoch, Wall(b.Start)))
				default:
					if !excused[i] {
						excused[i] = true
						r.FrozenBeliefs++
						r.WakeToEnd = max(r.WakeToEnd, time.Duration(a.End-f.Cont))
					}
				}
			}
		}
		holder := make(map[uint64]string)
		for i, iv := range ivs {
			if w, ok := holder[iv.Epoch]; ok && w != iv.Worker {
				r.EpochErrors = append(r.EpochErrors, fmt.Sprintf("%s: epoch %d held by %s and %s", p, iv.Epoch, w, iv.Worker))
			}
			holder[iv.Epoch] = iv.Worker
			if i == 0 {
				continue
			}
			prev := ivs[i-1]
			switch {
			case prev.Worker != iv.Worker && iv.Epoch <= prev.Epoch:
				r.EpochErrors = append(r.EpochErrors, fmt.Sprintf("%s: epoch %d of %s (started %s) does not exceed epoch %d of the previous leader %s",
					p, iv.Epoch, iv.Worker, Wall(iv.Start), prev.Epoch, prev.Worker))
			case prev.Worker == iv.Worker && iv.Epoch < prev.Epoch:
				r.EpochErrors = append(r.EpochErrors, fmt.Sprintf("%s: %s went back from epoch %d to %d", p, iv.Worker, prev.Epoch, iv.Epoch))
			}
			if prev.Worker != iv.Worker {
				r.LeaderChanges[p]++
			}
		}
	}
	return r
}
