// Package vclock is a virtual clock that lets an ordinary program (not a
// test) run coord's real engine, goroutines and all, through hours of
// simulated time in seconds, with results that depend on the program's
// inputs only.
//
// The engine only learns the time from its Clock (coord.Config.Clock):
// Now, and After to wait. A Clock from this package never moves on its
// own. The goroutine that drives it (RunUntil, Run) waits until every
// goroutine is blocked (in a select, a channel operation, a lock, a
// WaitGroup), which means nothing can happen any more except an event of
// the clock; then it fires the earliest event, one at a time, and waits
// again. Work therefore takes no virtual time, and events fire in time
// order, exactly as they would on a real clock with instantaneous work.
//
// Events are the timers of After and the turns of Turn. Events due at one
// instant fire in the order of their keys (timers have the empty key),
// then in the order they were made. Firing one event at a time means the
// goroutine it wakes runs alone until it waits again: code whose shared
// effects (store calls, say) each take a Turn with a key of their own runs
// the same way whatever the Go scheduler chooses.
//
// Idleness is judged from the turns not done yet (none), the scheduler's
// goroutine counts (runtime/metrics: nothing runnable, nothing running but
// the driver, no goroutine in a system call but those that always sit in
// one) and, when some goroutine is in a system call, from the goroutine
// states of runtime.Stack, for every goroutine but the driver and a short
// ignore list (signal delivery). The counts are exact when the driver runs
// on the only P (GOMAXPROCS 1) and no goroutine makes system calls outside
// a turn: a goroutine leaving a system call is, for a moment, in none of
// the counts. The garbage collector
// would make them inexact (a goroutine parked in a GC assist looks blocked
// but is not), so the driver switches automatic collection off while it
// runs and collects itself at idle points. The whole process is the
// bubble: one process should drive one Clock and run nothing else that
// keeps goroutines busy.
//
// Waiting on anything other than this clock — a real timer, the network —
// counts as blocked, so code under a virtual clock must not wait on real
// time.
package vclock

import (
	"bytes"
	"cmp"
	"container/heap"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// DefaultIgnore lists the goroutines a Clock never waits for: the
// runtime's signal delivery, which sits in a system call for the life of
// the process.
var DefaultIgnore = []string{"os/signal.signal_recv"}

// gcEvery is how many bytes the watched code may allocate between two
// collections the driver makes.
const gcEvery = 64 << 20

// Clock is a virtual clock. It is safe for concurrent use; only one
// goroutine at a time may drive it (RunUntil, Run, Settle).
type Clock struct {
	ignore [][]byte

	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
	fired  uint64
	turns  int // turns taken and not done

	// The driver's own.
	buf       []byte // stack dump buffer
	samples   []metrics.Sample
	permanent uint64 // goroutines in a system call when the exact check found everything blocked
	exact     uint64 // stack-dump checks made
	collected uint64 // allocated bytes at the driver's last collection
}

// Scheduler metrics the idle test reads.
var schedMetrics = []string{
	"/sched/goroutines/runnable:goroutines",
	"/sched/goroutines/running:goroutines",
	"/sched/goroutines/not-in-go:goroutines",
	"/gc/heap/allocs:bytes",
}

// New returns a clock reading start. It watches every goroutine of the
// process except those whose stack dump contains one of ignore
// (DefaultIgnore when none is given; empty strings are skipped): a
// goroutine about to start shows only a wrapper (sync.WaitGroup.Go's,
// say), so nothing narrower than "everything" is safe. The clock keeps
// start's monotonic reading, if any, so its Now values subtract correctly.
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
	for _, name := range schedMetrics {
		c.samples = append(c.samples, metrics.Sample{Name: name})
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
	if d <= 0 {
		ch <- c.Now()
		return ch
	}
	c.add(d, "", ch)
	return ch
}

// Turn returns when the clock lets the caller go on: at once in virtual
// time, but only after every event due now that sorts before key, and
// alone (see the package comment). The turn lasts until the caller calls
// the function Turn returns: until then the clock counts the caller as
// busy whatever its goroutine state, so work in a system call (a file
// write) is never mistaken for a wait. A turn must not wait on the clock,
// and Turn must not be called from the driving goroutine.
func (c *Clock) Turn(key string) (done func()) {
	ch := make(chan time.Time, 1)
	c.add(0, key, ch)
	<-ch
	c.mu.Lock()
	c.turns++
	c.mu.Unlock()
	return c.endTurn
}

func (c *Clock) endTurn() {
	c.mu.Lock()
	c.turns--
	c.mu.Unlock()
}

func (c *Clock) add(d time.Duration, key string, ch chan time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	heap.Push(&c.timers, &timer{when: c.now.Add(d), key: key, seq: c.seq, ch: ch})
}

// Pending is the number of events that have not fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Fired is the number of events fired so far (a measure of work done).
func (c *Clock) Fired() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// Settle returns once every watched goroutine is blocked, without moving
// the time.
func (c *Clock) Settle() {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	c.settle()
}

func (c *Clock) settle() {
	for spins := 0; ; spins++ {
		// Let woken goroutines run before looking.
		for range min(1<<min(spins, 6), 64) {
			runtime.Gosched()
		}
		c.mu.Lock()
		turns := c.turns
		c.mu.Unlock()
		if turns > 0 {
			continue
		}
		metrics.Read(c.samples)
		if c.count(0) > 0 || c.count(1) > 1 {
			continue
		}
		if c.count(2) > c.permanent {
			// A goroutine in a system call: busy, or one that always
			// is. Only the stack dump tells them apart; what is left in
			// a system call once it finds everything blocked is
			// permanent.
			c.exact++
			if !c.idle() {
				continue
			}
			metrics.Read(c.samples)
			c.permanent = c.count(2)
		}
		if allocs := c.count(3); allocs-c.collected > gcEvery {
			runtime.GC() // nothing runs: no goroutine waits in an assist
			c.collected = allocs
		}
		return
	}
}

// count is metric i of the last read; a metric unknown to this runtime
// is never idle.
func (c *Clock) count(i int) uint64 {
	if c.samples[i].Value.Kind() != metrics.KindUint64 {
		return 1 << 62
	}
	return c.samples[i].Value.Uint64()
}

// RunUntil drives the clock: each time the watched goroutines are idle it
// calls stop (if not nil; it returns true as soon as stop does, with the
// clock at the time of the event that made it true), then fires the
// earliest pending event, until the time would pass deadline. It then
// sets the clock to deadline, settles, and returns stop's verdict. It
// returns false, with the clock unchanged, when nothing is pending: the
// watched code waits on nothing this clock can deliver.
func (c *Clock) RunUntil(deadline time.Time, stop func() bool) bool {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for {
		c.settle()
		if stop != nil && stop() {
			return true
		}
		c.mu.Lock()
		if len(c.timers) == 0 {
			c.mu.Unlock()
			return false
		}
		t := c.timers[0]
		if t.when.After(deadline) {
			if deadline.After(c.now) {
				c.now = deadline
			}
			c.mu.Unlock()
			c.settle()
			return stop != nil && stop()
		}
		heap.Pop(&c.timers)
		if t.when.After(c.now) {
			c.now = t.when
		}
		t.ch <- c.now
		c.fired++
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

// ExactChecks is the number of stack-dump idle checks made so far.
func (c *Clock) ExactChecks() uint64 { return c.exact }

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

// timer is an event: a timer of After (key "") or a turn.
type timer struct {
	when time.Time
	key  string
	seq  uint64 // creation order among equal times and keys
	ch   chan time.Time
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := a.when.Compare(b.when); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
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
