package scheduler

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// countingClock is the time package, counting the waits it is asked for.
type countingClock struct{ afters atomic.Int64 }

func (c *countingClock) Now() time.Time { return time.Now() }
func (c *countingClock) After(d time.Duration) <-chan time.Time {
	c.afters.Add(1)
	return time.After(d)
}

// The job loops wait on Options.Clock, so a Hub's (or a virtual) clock
// paces them.
func TestOptionsClockPacesTheJobLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &countingClock{}
		var runs atomic.Int64
		job := Job{Name: "tick", Interval: time.Minute, Missed: Skip, Run: func(context.Context, Run) error {
			runs.Add(1)
			return nil
		}}
		s, err := New(mem.New(mem.Options{}), "app/sched/", []Job{job}, Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Lead(ctx, plugin.Term{Plugin: "sched", Leader: "w1", Epoch: 1}) }()
		time.Sleep(3*time.Minute + time.Second) // virtual time
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Lead: %v", err)
		}
		if runs.Load() < 3 {
			t.Errorf("%d runs in 3 minutes of a job every minute, want at least 3", runs.Load())
		}
		if clock.afters.Load() < runs.Load() {
			t.Errorf("the job loop waited %d times on Options.Clock for %d runs: it does not use the clock", clock.afters.Load(), runs.Load())
		}
	})
}
