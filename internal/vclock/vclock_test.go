package vclock

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ticker waits d on c n times and records the virtual times it woke at.
func ticker(c *Clock, d time.Duration, n int, out *[]time.Time, mu *sync.Mutex) {
	for range n {
		<-c.After(d)
		busyWork()
		mu.Lock()
		*out = append(*out, c.Now())
		mu.Unlock()
	}
}

func busyWork() {
	x := 0
	for i := range 100000 {
		x += i
	}
	_ = x
}

func TestTimersFireInOrderAndWorkTakesNoTime(t *testing.T) {
	c := New(start)
	var mu sync.Mutex
	var a, b []time.Time
	go ticker(c, 5*time.Second, 1000, &a, &mu)
	go ticker(c, 7*time.Second, 1000, &b, &mu)
	if c.RunUntil(start.Add(time.Hour), nil) {
		t.Fatal("RunUntil without stop reported a stop")
	}
	if got := c.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("clock at %v, want %v", got, start.Add(time.Hour))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(a) != 720 || len(b) != 514 {
		t.Fatalf("ticks: %d every 5s, %d every 7s in an hour; want 720 and 514", len(a), len(b))
	}
	for i, at := range a {
		if want := start.Add(time.Duration(i+1) * 5 * time.Second); !at.Equal(want) {
			t.Fatalf("tick %d at %v, want %v", i, at, want)
		}
	}
}

func TestStopAtTheEventTime(t *testing.T) {
	c := New(start)
	var mu sync.Mutex
	var a []time.Time
	go ticker(c, 3*time.Second, 10, &a, &mu)
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(a) }
	if !c.RunFor(time.Minute, func() bool { return n() == 4 }) {
		t.Fatal("stop condition never held")
	}
	if got := c.Now().Sub(start); got != 12*time.Second {
		t.Fatalf("stopped at +%v, want +12s", got)
	}
	// Nothing pending any more once the ticker ends: RunUntil says so.
	c.RunFor(time.Hour, nil)
	if n() != 10 || c.Pending() != 0 {
		t.Fatalf("ticks %d pending %d", n(), c.Pending())
	}
	if got := c.Now().Sub(start); got != 30*time.Second {
		t.Fatalf("idle clock moved to +%v, want it left at the last event (+30s)", got)
	}
}

func TestRunWaitsForACallThatWaitsOnTheClock(t *testing.T) {
	c := New(start)
	var woke time.Time
	ok := c.Run(time.Minute, func() {
		<-c.After(10 * time.Second)
		woke = c.Now()
	})
	if !ok || !woke.Equal(start.Add(10*time.Second)) {
		t.Fatalf("Run = %v, woke at %v", ok, woke)
	}
	if c.Run(time.Second, func() { <-c.After(time.Hour) }) {
		t.Fatal("Run reported a call that outlived its limit as finished")
	}
	if got := c.Now().Sub(start); got != 11*time.Second {
		t.Fatalf("clock at +%v after the 1s limit, want +11s", got)
	}
}

func TestZeroAfterFiresAtOnce(t *testing.T) {
	c := New(start)
	select {
	case at := <-c.After(0):
		if !at.Equal(start) {
			t.Fatalf("fired with %v", at)
		}
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestAllBlocked(t *testing.T) {
	self := "goroutine 1 [running]:\nmain.main()\n\t/x/main.go:1"
	watched := func(state string) string {
		return "goroutine 7 [" + state + "]:\ngithub.com/s3coord/coord.(*Coordinator).loop()\n\t/x/lease.go:9"
	}
	other := "goroutine 3 [syscall]:\nos/signal.signal_recv()\n\t/go/src/runtime/sigqueue.go:152"
	w := [][]byte{[]byte("os/signal.signal_recv")}
	for _, tc := range []struct {
		dump string
		want bool
	}{
		{self, true},
		{self + "\n\n" + watched("select"), true},
		{self + "\n\n" + watched("select, 2 minutes"), true},
		{self + "\n\n" + watched("chan receive") + "\n\n" + other, true}, // signal delivery ignored
		{self + "\n\n" + watched("runnable"), false},
		{self + "\n\n" + watched("select") + "\n\n" + watched("syscall"), false},
		{self + "\n\n" + watched("sync.Mutex.Lock") + "\n\n" + watched("running"), false},
		{watched("running") + "\n\n" + watched("select"), true}, // the caller's own block is skipped
		{self + "\n\ngoroutine 9 [runnable]:\nsync.(*WaitGroup).Go.func1()\n\t/go/src/sync/waitgroup.go:1", false},
	} {
		if got := allBlocked([]byte(tc.dump), w); got != tc.want {
			t.Errorf("allBlocked(%q) = %v, want %v", tc.dump, got, tc.want)
		}
	}
}

// TestWaitsForWork: an event fires only once every goroutine is blocked:
// a goroutine that computes before it waits is never overtaken.
func TestWaitsForWork(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := New(start)
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
	for want := int64(1); want <= 5; want++ {
		c.RunFor(time.Second-time.Nanosecond, nil)
		if got := steps.Load(); got != want {
			t.Fatalf("at %v: %d steps, want %d", c.Now().Sub(start), got, want)
		}
		c.RunFor(time.Nanosecond, nil)
	}
	if !c.Run(time.Minute, func() { <-done }) {
		t.Fatal("the goroutine did not finish")
	}
}

// TestTurnsOneAtATimeInKeyOrder: goroutines that take a turn at one
// instant go one at a time, in the order of their keys, whatever order
// they asked in; each runs alone until it waits again.
func TestTurnsOneAtATimeInKeyOrder(t *testing.T) {
	c := New(start)
	var mu sync.Mutex
	var order []string
	var running atomic.Int32
	keys := []string{"w3 put a", "w1 get b", "w2 put a", "w1 get a"}
	for _, k := range keys {
		go func() {
			<-c.After(time.Second)
			done := c.Turn(k)
			defer done()
			if running.Add(1) != 1 {
				t.Error("two goroutines ran after their turns at once")
			}
			busyWork()
			mu.Lock()
			order = append(order, k)
			mu.Unlock()
			running.Add(-1)
		}()
	}
	c.RunFor(time.Minute, nil)
	want := []string{"w1 get a", "w1 get b", "w2 put a", "w3 put a"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Fatalf("turns in order %q, want %q", order, want)
	}
	if got := c.Now().Sub(start); got != time.Second {
		t.Fatalf("clock at +%v, want it left at the last event (+1s)", got)
	}
}
