package main

import (
	"container/heap"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/s3coord/coord/internal/vclock"
)

// simClock is the benchmark's virtual clock: internal/vclock's rule (the
// time moves to the next pending timer only when every goroutine is
// blocked) with a cheaper test for "every goroutine is blocked".
//
// vclock judges idleness from runtime.Stack of every goroutine: exact, but
// it stops the world and formats every stack, once or more per timer. With
// 20 workers × 10 plugins per-plugin (200 coordinators, each timer an idle
// point) that was 93% of a 20-worker run's CPU (profile in docs/bench.md).
// simClock first asks the scheduler (runtime/metrics, no stop, no stack):
// goroutines runnable, running, and in a system call. Nothing runnable,
// only the driver running and nothing in a system call beyond the
// goroutines that always sit in one (signal delivery, the CPU profiler's
// writer) means idle. Only when some goroutine is in a system call does it
// fall back to vclock's exact check (Settle), which also tells how many
// such goroutines are permanent.
//
// The scheduler's counts are exact when the driving goroutine is the only
// one on the only P (the benchmark runs its virtual clock on GOMAXPROCS 1)
// and conservative otherwise (a P running anything counts as busy). Like
// vclock, a goroutine waiting on real time (a real timer, the network)
// counts as blocked; unlike vclock, so does one in time.Sleep. The engine
// waits on its Clock only.
type simClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers simTimers

	exact     *vclock.Clock // only its Settle: the stack-dump check
	samples   []metrics.Sample
	permanent uint64 // goroutines in a system call when the exact check found everything blocked
	fallbacks uint64 // exact checks made (tests)
}

// Scheduler metrics simClock reads.
var simMetrics = []string{
	"/sched/goroutines/runnable:goroutines",
	"/sched/goroutines/running:goroutines",
	"/sched/goroutines/not-in-go:goroutines",
}

// newSimClock returns a clock reading start; ignore are the goroutines
// (by a string of their stack) the exact check never waits for.
func newSimClock(start time.Time, ignore ...string) *simClock {
	c := &simClock{now: start, exact: vclock.New(start, ignore...)}
	for _, name := range simMetrics {
		c.samples = append(c.samples, metrics.Sample{Name: name})
	}
	return c
}

// Now returns the virtual time.
func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the virtual time once the clock
// has reached now+d (at once for d <= 0). The channel is buffered.
func (c *simClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.seq++
	heap.Push(&c.timers, &simTimer{when: c.now.Add(d), seq: c.seq, ch: ch})
	return ch
}

// sched reads the scheduler's goroutine counts.
func (c *simClock) sched() (runnable, running, notInGo uint64) {
	metrics.Read(c.samples)
	v := func(i int) uint64 {
		if c.samples[i].Value.Kind() != metrics.KindUint64 {
			return 1 << 62 // metric unknown to this runtime: never idle by the fast test
		}
		return c.samples[i].Value.Uint64()
	}
	return v(0), v(1), v(2)
}

// settle returns once every watched goroutine is blocked, without moving
// the time.
func (c *simClock) settle() {
	for spins := 0; ; spins++ {
		// Let woken goroutines run before looking.
		for range min(1<<min(spins, 6), 64) {
			runtime.Gosched()
		}
		runnable, running, notInGo := c.sched()
		if runnable > 0 || running > 1 {
			continue
		}
		if notInGo <= c.permanent {
			return
		}
		// A goroutine in a system call: busy, or one that always is.
		// The exact check waits for the first kind and ignores the
		// second; what is left in a system call after it is permanent.
		c.fallbacks++
		c.exact.Settle()
		_, _, c.permanent = c.sched()
		return
	}
}

// RunUntil drives the clock as vclock.Clock.RunUntil does: each time the
// goroutines are idle it calls stop (returning true as soon as it does),
// then fires the earliest pending timers, until the time would pass
// deadline; then it sets the clock to deadline, settles and returns
// stop's verdict. With nothing pending it returns false at once.
func (c *simClock) RunUntil(deadline time.Time, stop func() bool) bool {
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
		next := c.timers[0].when
		if next.After(deadline) {
			if deadline.After(c.now) {
				c.now = deadline
			}
			c.mu.Unlock()
			c.settle()
			return stop != nil && stop()
		}
		if next.After(c.now) {
			c.now = next
		}
		for len(c.timers) > 0 && !c.timers[0].when.After(c.now) {
			t := heap.Pop(&c.timers).(*simTimer)
			t.ch <- c.now
		}
		c.mu.Unlock()
	}
}

// RunFor drives the clock for d of virtual time (see RunUntil).
func (c *simClock) RunFor(d time.Duration, stop func() bool) bool {
	return c.RunUntil(c.Now().Add(d), stop)
}

// Run calls f in a new goroutine and drives the clock until f returns or
// limit has passed; it reports whether f returned.
func (c *simClock) Run(limit time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return c.RunFor(limit, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

type simTimer struct {
	when time.Time
	seq  uint64 // FIFO among equal times
	ch   chan time.Time
}

type simTimers []*simTimer

func (h simTimers) Len() int { return len(h) }
func (h simTimers) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h simTimers) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *simTimers) Push(x any)   { *h = append(*h, x.(*simTimer)) }
func (h *simTimers) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}
