// Package clock is coord's one clock interface: the engine
// (coord.Config.Clock), the store layer (storage.Options.Clock), the
// built-in plugins (their Options.Clock) and the virtual clocks of the
// tests, the simulation and the benchmark all take or give a Clock.
//
// The engine only ever subtracts two Now() values of one Clock
// (monotonic readings), so an offset between the clocks of two hosts
// cannot matter; only a difference of rate can, and the margin
// LeaseTimeout - RenewDeadline covers it.
package clock

import "time"

// Clock is a source of time.
type Clock interface {
	// Now must carry a monotonic reading (time.Now does).
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

type system struct{}

func (system) Now() time.Time                         { return time.Now() }
func (system) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Real is the time package's clock. Under testing/synctest it runs on the
// bubble's virtual time.
var Real Clock = system{}
