package chaos

import (
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func iv(worker, plugin string, epoch uint64, start, lastAct, end int64) Interval {
	return Interval{Worker: worker, Plugin: plugin, Epoch: epoch, Start: start * ms, LastAct: lastAct * ms, End: end * ms, Reason: EndCancelled}
}

func TestCheck(t *testing.T) {
	slack := time.Second
	cases := []struct {
		name      string
		intervals []Interval
		freezes   []Freeze
		overlaps  int
		epochErrs int
		frozen    int
	}{
		{
			name: "clean handovers",
			intervals: []Interval{
				iv("a", "p", 1, 0, 590, 600), iv("b", "p", 2, 1000, 1990, 2000), iv("a2", "p", 3, 2500, 2600, 2700),
				iv("a", "q", 1, 0, 590, 600), iv("b", "q", 2, 1000, 1990, 2000),
			},
		},
		{
			name:      "acted after the successor started",
			intervals: []Interval{iv("a", "p", 1, 0, 1100, 1100), iv("b", "p", 2, 1000, 1990, 2000)},
			overlaps:  1,
		},
		{
			name:      "believed it led after the successor started, not frozen",
			intervals: []Interval{iv("a", "p", 1, 0, 500, 1100), iv("b", "p", 2, 1000, 1990, 2000)},
			overlaps:  1,
		},
		{
			name:      "frozen leader: belief outlives the successor's start, no action after it",
			intervals: []Interval{iv("a", "p", 1, 0, 500, 2010), iv("b", "p", 2, 1500, 2990, 3000)},
			freezes:   []Freeze{{Worker: "a", Stop: 510 * ms, Cont: 2000 * ms}},
			frozen:    1,
		},
		{
			name:      "frozen leader that keeps believing long after waking",
			intervals: []Interval{iv("a", "p", 1, 0, 500, 4000), iv("b", "p", 2, 1500, 4990, 5000)},
			freezes:   []Freeze{{Worker: "a", Stop: 510 * ms, Cont: 2000 * ms}},
			overlaps:  1,
		},
		{
			name:      "frozen leader that acted after waking",
			intervals: []Interval{iv("a", "p", 1, 0, 2005, 2010), iv("b", "p", 2, 1500, 2990, 3000)},
			freezes:   []Freeze{{Worker: "a", Stop: 510 * ms, Cont: 2000 * ms}},
			overlaps:  1,
		},
		{
			name:      "freeze of another worker excuses nothing",
			intervals: []Interval{iv("a", "p", 1, 0, 500, 2010), iv("b", "p", 2, 1500, 2990, 3000)},
			freezes:   []Freeze{{Worker: "c", Stop: 510 * ms, Cont: 2000 * ms}},
			overlaps:  1,
		},
		{
			name:      "simultaneous starts",
			intervals: []Interval{iv("a", "p", 1, 100, 0, 200), iv("b", "p", 2, 100, 0, 200)},
			overlaps:  1,
		},
		{
			name:      "epoch does not increase",
			intervals: []Interval{iv("a", "p", 5, 0, 590, 600), iv("b", "p", 5, 1000, 1990, 2000)},
			epochErrs: 2, // not increasing, and held by two workers
		},
		{
			name:      "epoch goes back",
			intervals: []Interval{iv("a", "p", 5, 0, 590, 600), iv("b", "p", 4, 1000, 1990, 2000)},
			epochErrs: 1,
		},
		{
			name:      "one worker re-entering its epoch is one leader",
			intervals: []Interval{iv("a", "p", 5, 0, 590, 600), iv("a", "p", 5, 1000, 1990, 2000)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.intervals, tc.freezes, slack)
			if len(r.Overlaps) != tc.overlaps || len(r.EpochErrors) != tc.epochErrs || r.FrozenBeliefs != tc.frozen {
				t.Errorf("overlaps %q, epoch errors %q, frozen %d; want %d, %d, %d",
					r.Overlaps, r.EpochErrors, r.FrozenBeliefs, tc.overlaps, tc.epochErrs, tc.frozen)
			}
			if r.OK() != (tc.overlaps == 0 && tc.epochErrs == 0) {
				t.Errorf("OK() = %v", r.OK())
			}
		})
	}
}

func TestCheckLeaderChanges(t *testing.T) {
	r := Check([]Interval{
		iv("a", "p", 1, 0, 590, 600), iv("a", "p", 2, 700, 800, 900), iv("b", "p", 3, 2000, 2100, 2200),
	}, nil, time.Second)
	if got := r.LeaderChanges["p"]; got != 1 || !r.OK() {
		t.Errorf("leader changes %d (want 1), report %+v", got, r)
	}
}

func TestPercentile(t *testing.T) {
	var r Result
	for i := 1; i <= 20; i++ {
		r.Failovers = append(r.Failovers, Failover{Took: time.Duration(i) * time.Millisecond})
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 10 * time.Millisecond}, {95, 19 * time.Millisecond}, {100, 20 * time.Millisecond}, {0, time.Millisecond}} {
		if got := r.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestCheckMargins(t *testing.T) {
	r := Check([]Interval{
		iv("a", "p", 1, 0, 590, 600), iv("b", "p", 2, 1000, 1990, 2000), iv("c", "p", 3, 2500, 2600, 2700),
	}, nil, time.Second)
	if r.ActMargin != 410*time.Millisecond || r.BeliefMargin != 400*time.Millisecond {
		t.Errorf("margins: acting %v (want 410ms), belief %v (want 400ms)", r.ActMargin, r.BeliefMargin)
	}
}
