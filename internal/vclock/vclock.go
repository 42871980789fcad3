// Package vclock is a virtual clock that lets an ordinary program (not a
// test) run coord's real engine, goroutines and all, through hours of
// simulated time in seconds.
//
// The engine only learns the time from its Clock (coord.Config.Clock):
// Now, and After to wait. A Clock from this package never moves on its
// own. The goroutine that drives it (RunUntil, Run) waits until every
// goroutine it watches is blocked (in a select, a channel operation, a
// lock, a WaitGroup), which means nothing can happen any more except a
// timer; then it moves the time to the earliest pending After and fires
// it. Work therefore takes no virtual time, and timers fire in time order,
// exactly as they would on a real clock with instantaneous work.
//
// Idleness is judged from the goroutine states of runtime.Stack (which
// leaves out the runtime's own goroutines), for every goroutine but the
// driver and a short ignore list (signal delivery): the rule
// testing/synctest applies to its bubble, for programs that must not
// import package testing. The whole process is the bubble, so one process
// should drive one Clock and run nothing else that keeps goroutines busy.
//
// Waiting on anything other than this clock — a real timer, the network —
// counts as blocked for a goroutine in a select or I/O wait, so code under
// a virtual clock should not wait on real time.
package vclock

import (
	"bytes"
	"container/heap"
	"runtime"
	"sync"
	"time"
)

// DefaultIgnore lists the goroutines a Clock never waits for: the
// runtime's signal delivery, which sits in a system call for the life of
// the process.
var DefaultIgnore = []string{"os/signal.signal_recv"}

// Clock is a virtual clock. It is safe for concurrent use; only one
// goroutine at a time may drive it (RunUntil, Run, Settle).
type Clock struct {
	ignore [][]byte

	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
	fired  uint64

	buf []byte // stack dump buffer of the driving goroutine
}

// New returns a clock reading start. It watches every goroutine of the
// process except those whose stack dump contains one of ignore
// (DefaultIgnore when none is given; empty strings are skipped): a
// goroutine about to start shows
// only a wrapper (sync.WaitGroup.Go's, say), so nothing narrower than
// "everything" is safe. The clock keeps start's monotonic reading, if
// any, so its Now values subtract correctly.
func New(start time.Time, ignore ...string) *Clock {
	c := &Clock{now: start, buf: make([]byte, 1<<16)}
	for _, w := range ignore {
		if w != "" {
			c.ignore = append(c.ignore, []byte(w))
		}
	}
	if len(c.ignore) == 0 {
		for _, w := range DefaultIgnore {
			c.ignore = append(c.ignore, []byte(w))
		}
	}
	return c
}

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the virtual time once the clock
// has reached now+d. The channel is buffered: an abandoned wait leaks
// nothing but a small heap entry until it fires.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.seq++
	heap.Push(&c.timers, &timer{when: c.now.Add(d), seq: c.seq, ch: ch})
	return ch
}

// Pending is the number of timers that have not fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Fired is the number of timers fired so far (a measure of work done).
func (c *Clock) Fired() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// Settle returns once every watched goroutine is blocked, without moving
// the time.
func (c *Clock) Settle() {
	for spins := 0; ; spins++ {
		// Let woken goroutines run before paying for a stack dump.
		for range min(1<<min(spins, 6), 64) {
			runtime.Gosched()
		}
		if c.idle() {
			return
		}
	}
}

// RunUntil drives the clock: each time the watched goroutines are idle it
// calls stop (if not nil; it returns true as soon as stop does, with the
// clock at the time of the event that made it true), then fires the
// earliest pending timers, until the time would pass deadline. It then
// sets the clock to deadline, settles, and returns false. It also returns
// false, with the clock unchanged, when nothing is pending: the watched
// code waits on nothing this clock can deliver.
func (c *Clock) RunUntil(deadline time.Time, stop func() bool) bool {
	for {
		c.Settle()
		if stop != nil && stop() {
			return true
		}
		c.mu.Lock()
		if len(c.timers) == 0 {
			c.mu.Unlock()
			return false
		}
		next := c.timers[0].when
		if next.After(deadline) {
			if deadline.After(c.now) {
				c.now = deadline
			}
			c.mu.Unlock()
			c.Settle()
			return stop != nil && stop()
		}
		if next.After(c.now) {
			c.now = next
		}
		for len(c.timers) > 0 && !c.timers[0].when.After(c.now) {
			t := heap.Pop(&c.timers).(*timer)
			t.ch <- c.now
			c.fired++
		}
		c.mu.Unlock()
	}
}

// RunFor drives the clock for d of virtual time (see RunUntil).
func (c *Clock) RunFor(d time.Duration, stop func() bool) bool {
	return c.RunUntil(c.Now().Add(d), stop)
}

// Run calls f in a new goroutine and drives the clock until f returns or
// limit of virtual time has passed; it reports whether f returned. Use it
// for calls that wait on the clock themselves (a Close that waits for
// loops to stop, say).
func (c *Clock) Run(limit time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	finished := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	return c.RunFor(limit, finished)
}

// Goroutine states in which a goroutine can only proceed when another
// goroutine (or a timer) acts. Anything else (running, runnable, syscall,
// preempted, GC work) is busy.
var blockedStates = map[string]bool{
	"select":                  true,
	"select (no cases)":       true,
	"chan receive":            true,
	"chan send":               true,
	"chan receive (nil chan)": true,
	"chan send (nil chan)":    true,
	"sync.Mutex.Lock":         true,
	"sync.RWMutex.Lock":       true,
	"sync.RWMutex.RLock":      true,
	"sync.Cond.Wait":          true,
	"sync.WaitGroup.Wait":     true,
	"semacquire":              true,
	"IO wait":                 true,
}

// idle reports whether every watched goroutine other than the caller is
// blocked.
func (c *Clock) idle() bool {
	var n int
	for {
		n = runtime.Stack(c.buf, true)
		if n < len(c.buf) {
			break
		}
		c.buf = make([]byte, 2*len(c.buf))
	}
	return allBlocked(c.buf[:n], c.ignore)
}

// allBlocked parses a runtime.Stack(all) dump: goroutine blocks separated
// by blank lines, each starting "goroutine N [state, …]:". The first block
// is the caller's own goroutine and is skipped.
func allBlocked(dump []byte, ignore [][]byte) bool {
	first := true
	for len(dump) > 0 {
		var block []byte
		if i := bytes.Index(dump, []byte("\n\n")); i >= 0 {
			block, dump = dump[:i], dump[i+2:]
		} else {
			block, dump = dump, nil
		}
		if first {
			first = false
			continue
		}
		if ignored(block, ignore) {
			continue
		}
		if !blockedStates[goroutineState(block)] {
			return false
		}
	}
	return true
}

func ignored(block []byte, ignore [][]byte) bool {
	for _, w := range ignore {
		if bytes.Contains(block, w) {
			return true
		}
	}
	return false
}

// goroutineState returns the state of a "goroutine N [state, 2 minutes]:"
// header, without the wait duration or lock annotations.
func goroutineState(block []byte) string {
	open := bytes.IndexByte(block, '[')
	if open < 0 {
		return ""
	}
	rest := block[open+1:]
	end := bytes.IndexAny(rest, ",]")
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

type timer struct {
	when time.Time
	seq  uint64 // FIFO among equal times
	ch   chan time.Time
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}
