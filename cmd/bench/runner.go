package main

import (
	"context"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/internal/vclock"
)

// runner is the clock a run keeps: virtual (driven by the benchmark) or
// real.
type runner interface {
	// engineClock is what goes into coord.Config.Clock (nil: real time).
	engineClock() clock.Clock
	now() time.Time
	// waitFor lets time pass until cond holds (true) or d has passed
	// (false). cond is evaluated when the engine is idle (virtual) or
	// every millisecond (real); it must not block.
	waitFor(ctx context.Context, d time.Duration, cond func() bool) bool
	// call runs f, which may wait on the clock, to its end (or limit).
	call(limit time.Duration, f func())
	// turn waits for the caller's turn to reach the store (virtual: one
	// call at a time, in the order of key among one instant's calls;
	// real: at once); the call is over when the caller calls done.
	turn(key string) (done func())
}

type virtualRunner struct{ c *vclock.Clock }

func (v virtualRunner) engineClock() clock.Clock { return v.c }
func (v virtualRunner) now() time.Time           { return v.c.Now() }
func (v virtualRunner) waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	return v.c.RunFor(d, func() bool { return ctx.Err() != nil || (cond != nil && cond()) }) && ctx.Err() == nil
}
func (v virtualRunner) call(limit time.Duration, f func()) { v.c.Run(limit, f) }
func (v virtualRunner) turn(key string) func()             { return v.c.Turn(key) }

type realRunner struct{}

func (realRunner) engineClock() clock.Clock { return nil }
func (realRunner) now() time.Time           { return time.Now() }
func (realRunner) waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if cond != nil && cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
func (realRunner) call(limit time.Duration, f func()) { f() }
func (realRunner) turn(string) func()                 { return func() {} }
