package sim

import (
	"math"
	"sync"
	"time"
)

// procClock is one simulated process's clock (a clock.Clock): the true
// (virtual, global) time shifted by an offset and running at rate, which
// stops firing timers while the process is paused. Pausing does not stop
// Now: a process that wakes from a pause sees its clock jump by the
// length of the pause, as after a GC pause or a SIGSTOP.
type procClock struct {
	origin time.Time // true time at which local time = origin+offset
	offset time.Duration
	rate   float64
	q      *sequencer // fires the timers
	label  string     // of the timers' events

	mu     sync.Mutex
	paused bool
	held   []heldTimer
}

type heldTimer struct {
	ch chan time.Time
}

func newProcClock(q *sequencer, label string, origin time.Time, offset time.Duration, rate float64) *procClock {
	return &procClock{q: q, label: label, origin: origin, offset: offset, rate: rate}
}

// Now returns the local time. It keeps the monotonic reading of the true
// clock (time.Time.Add preserves it), as clock.Clock requires.
func (c *procClock) Now() time.Time {
	return c.local(time.Now())
}

func (c *procClock) local(truth time.Time) time.Time {
	elapsed := truth.Sub(c.origin)
	return c.origin.Add(c.offset + time.Duration(float64(elapsed)*c.rate))
}

// truth is the true time at which the local clock shows local (the
// inverse of local, pauses aside: they do not stop Now).
func (c *procClock) truth(local time.Time) time.Time {
	return c.origin.Add(time.Duration(float64(local.Sub(c.origin)-c.offset) / c.rate))
}

// trueDuration is how long local duration d lasts in true time, rounded
// up so that the local clock has moved by at least d when it is over (a
// timer must never fire before its time, or a loop waiting for a
// nanosecond would spin without time moving).
func (c *procClock) trueDuration(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(d)/c.rate)) + 1
}

// After fires once d has passed on the local clock; a timer due while the
// process is paused fires when it resumes. Every timer is an event of the
// sequencer, even one due now (a channel ready at once would race with
// the other cases of a select).
func (c *procClock) After(d time.Duration) <-chan time.Time { return c.AfterAs("", d) }

// AfterAs is After with its event labelled what (after the clock's own
// label): timers that goroutines started at once make for one instant
// then fire in the order of their labels, not in the order the scheduler
// let the goroutines make them. (internal/deadline labels the deadlines
// of store requests by their operation and key with it.)
func (c *procClock) AfterAs(what string, d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	at := time.Now()
	if d > 0 {
		at = at.Add(c.trueDuration(d))
	}
	c.q.schedule(at, c.label+what, func() { c.fire(ch) })
	return ch
}

func (c *procClock) fire(ch chan time.Time) {
	c.mu.Lock()
	if c.paused {
		c.held = append(c.held, heldTimer{ch: ch})
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	ch <- c.Now()
}

// Sleep waits d on the local clock (pausable).
func (c *procClock) Sleep(d time.Duration) { <-c.After(d) }

func (c *procClock) pause() {
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
}

// resume fires the timers that came due during the pause, in the order
// they came due, each as its own event (one goroutine woken at a time).
func (c *procClock) resume() {
	c.mu.Lock()
	c.paused = false
	held := c.held
	c.held = nil
	c.mu.Unlock()
	now := time.Now()
	for _, h := range held {
		c.q.schedule(now, c.label, func() { h.ch <- c.Now() })
	}
}
