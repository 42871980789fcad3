package main

import (
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestSimClockWaitsForWork: a timer fires only once every goroutine is
// blocked: a goroutine that computes before it waits is never overtaken.
func TestSimClockWaitsForWork(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := newSimClock(virtualStart)
	var steps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			// Busy for a while (real time), then wait a virtual second.
			deadline := time.Now().Add(5 * time.Millisecond)
			for time.Now().Before(deadline) {
			}
			steps.Store(int64(i + 1))
			<-c.After(time.Second)
		}
	}()
	// Each virtual second holds exactly one step: the clock never moved
	// while the goroutine was busy.
	for want := int64(1); want <= 5; want++ {
		c.RunFor(time.Second-time.Nanosecond, nil)
		if got := steps.Load(); got != want {
			t.Fatalf("at %v: %d steps, want %d", c.Now().Sub(virtualStart), got, want)
		}
		c.RunFor(time.Nanosecond, nil)
	}
	if !c.Run(time.Minute, func() { <-done }) {
		t.Fatal("the goroutine did not finish")
	}
	if got := c.Now().Sub(virtualStart); got != 5*time.Second {
		t.Errorf("virtual time %v, want 5s", got)
	}
}

// TestSimClockOrder: each timer fires at its time, and RunFor stops at
// its deadline.
func TestSimClockOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := newSimClock(virtualStart)
	durations := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, time.Second}
	fired := make(chan [2]time.Duration, len(durations))
	for _, d := range durations {
		ch := c.After(d)
		go func() {
			at := <-ch
			fired <- [2]time.Duration{d, at.Sub(virtualStart)}
		}()
	}
	if c.RunFor(1500*time.Millisecond, nil) {
		t.Error("RunFor without stop reported true")
	}
	if got := c.Now().Sub(virtualStart); got != 1500*time.Millisecond {
		t.Errorf("clock at %v, want 1.5s", got)
	}
	if len(fired) != 2 {
		t.Errorf("%d timers fired by 1.5s, want 2", len(fired))
	}
	c.RunFor(10*time.Second, nil)
	if len(fired) != len(durations) {
		t.Fatalf("%d timers fired, want %d", len(fired), len(durations))
	}
	for range durations {
		if f := <-fired; f[0] != f[1] {
			t.Errorf("a %v timer fired at %v", f[0], f[1])
		}
	}
	if !c.RunFor(time.Second, func() bool { return true }) {
		t.Error("stop true must return true")
	}
}

// TestSimClockMatchesExactClock: a scenario counts the same requests on
// simClock as on internal/vclock's exact clock (to within the request or
// two that goroutines of one instant racing for the store may shift).
func TestSimClockMatchesExactClock(t *testing.T) {
	fast, _ := quickRun(t, "-membership-twin=false")
	exact, _ := quickRun(t, "-membership-twin=false", "-exact-clock")
	if len(fast.Steady) != len(exact.Steady) {
		t.Fatalf("%d vs %d scenarios", len(fast.Steady), len(exact.Steady))
	}
	for i, f := range fast.Steady {
		e := exact.Steady[i]
		if d := math.Abs(f.PerHour.Total() - e.PerHour.Total()); d > 2*6 { // a request or two in a 10-minute window, ×6 per hour
			t.Errorf("%s: %.0f requests/hour on simClock, %.0f on the exact clock", setupName(f.Plugins, f.Mode), f.PerHour.Total(), e.PerHour.Total())
		}
	}
}
