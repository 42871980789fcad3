package deadline_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/internal/faultstore"
)

// Every call returns by the Store's deadline, whether the driver honours
// its context or not, with context.DeadlineExceeded reachable; a shorter
// deadline of the caller's wins; answers before the deadline pass
// through unchanged.
func TestEveryCallEndsByItsDeadline(t *testing.T) {
	for _, ignores := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			fs := faultstore.New(mem.New(mem.Options{}), 1)
			fs.Set(faultstore.Faults{HangIgnoresContext: ignores})
			st := deadline.New(fs, nil, 5*time.Second)
			ctx := context.Background()
			if _, err := st.Put(ctx, "k", []byte("v"), driver.IfAbsent()); err != nil {
				t.Fatal(err)
			}
			calls := map[string]func(context.Context) error{
				"get":    func(ctx context.Context) error { _, err := st.Get(ctx, "k"); return err },
				"put":    func(ctx context.Context) error { _, err := st.Put(ctx, "k", []byte("w"), driver.None); return err },
				"delete": func(ctx context.Context) error { return st.Delete(ctx, "nope", driver.None) },
				"list":   func(ctx context.Context) error { _, err := st.List(ctx, ""); return err },
			}
			for name, call := range calls {
				fs.HangNext(1)
				start := time.Now()
				err := call(ctx)
				if took := time.Since(start); took != 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("ignores=%v %s: %v after %v, want DeadlineExceeded after 5s", ignores, name, err, took)
				}
				fs.HangNext(1)
				short, cancel := context.WithTimeout(ctx, time.Second)
				start = time.Now()
				err = call(short)
				cancel()
				if took := time.Since(start); took != time.Second || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("ignores=%v %s with a 1s ctx: %v after %v", ignores, name, err, took)
				}
				fs.ReleaseHangs()
			}
			if o, err := st.Get(ctx, "k"); err != nil || string(o.Data) == "" {
				t.Errorf("a call that is answered: %v %q", err, o.Data)
			}
			if err := st.Delete(ctx, "nope", driver.IfMatch("x")); !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
				t.Errorf("a driver's error passes through: %v", err)
			}
		})
	}
}

// A call of the mem driver through a Store, on a context that already
// ends within the Store's timeout, costs no allocation more than the
// driver's own: no context, no timer, no goroutine, no channel.
func TestNoCostOverMem(t *testing.T) {
	m := mem.New(mem.Options{})
	st := deadline.New(m, nil, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := m.Put(ctx, "k", []byte("v"), driver.None); err != nil {
		t.Fatal(err)
	}
	direct := testing.AllocsPerRun(100, func() { _, _ = m.Get(ctx, "k") })
	bounded := testing.AllocsPerRun(100, func() { _, _ = st.Get(ctx, "k") })
	if bounded != direct {
		t.Errorf("a bounded Get allocates %v times, the driver's own %v", bounded, direct)
	}
}

// blockingMem is the mem driver with a Get that ignores its context and
// returns only once released: a wrapper of mem is not mem, and is waited
// for from another goroutine like any driver.
type blockingMem struct {
	*mem.Store
	release chan struct{}
}

func (b blockingMem) Get(context.Context, string) (driver.Object, error) {
	<-b.release
	return driver.Object{}, nil
}

func TestAWrapperOfMemIsNotTrusted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := blockingMem{mem.New(mem.Options{}), make(chan struct{})}
		defer close(b.release)
		st := deadline.New(b, nil, 5*time.Second)
		start := time.Now()
		if _, err := st.Get(context.Background(), "k"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("%v after %v, want DeadlineExceeded after 5s", err, time.Since(start))
		}
	})
}

// lateClock is a clock whose timers fire only when told: the instant a
// deadline falls on, before its timer has fired.
type lateClock struct {
	now   time.Time
	fired chan time.Time
}

func (c *lateClock) Now() time.Time                       { return c.now }
func (c *lateClock) After(time.Duration) <-chan time.Time { return c.fired }

// At the instant a WithTimeout expires, Err reports DeadlineExceeded
// whether or not its timer has fired yet, and a call is not sent.
func TestErrAtTheDeadlineInstant(t *testing.T) {
	c := &lateClock{now: time.Unix(1000, 0), fired: make(chan time.Time)}
	ctx, cancel := deadline.WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	if err := deadline.Err(ctx, c); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	c.now = c.now.Add(time.Second)
	if ctx.Err() != nil {
		t.Fatal("the timer fired")
	}
	if err := deadline.Err(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("at the deadline: %v, want DeadlineExceeded", err)
	}
	if err := deadline.Err(ctx, &lateClock{now: c.now}); err != nil {
		t.Fatalf("on another clock: %v", err)
	}
	sent := 0
	fs := faultstore.New(mem.New(mem.Options{}), 1)
	fs.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error { sent++; return nil }})
	if _, err := deadline.New(fs, c, time.Minute).Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) || sent != 0 {
		t.Fatalf("a call at the deadline: %v, %d sent", err, sent)
	}
}

// A context.WithoutCancel of a context that expires never expires: it
// gets the Store's deadline of its own (a call on it used to wait for a
// hung driver forever, the parent's expiry read as its own), and a
// WithTimeout of it is not cut short by the parent's.
func TestWithoutCancelHasNoDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := realClock{}
		parent, cancel := deadline.WithTimeout(context.Background(), clk, time.Second)
		defer cancel()
		detached := context.WithoutCancel(parent)
		fs := faultstore.New(mem.New(mem.Options{}), 1)
		fs.Set(faultstore.Faults{HangIgnoresContext: true})
		defer fs.ReleaseHangs()
		st := deadline.New(fs, clk, 5*time.Second)
		fs.HangNext(1)
		start := time.Now()
		if _, err := st.Get(detached, "k"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("%v after %v, want DeadlineExceeded after 5s", err, time.Since(start))
		}
		if err := deadline.Err(detached, clk); err != nil {
			t.Fatalf("the detached context: %v", err)
		}
		long, cancelLong := deadline.WithTimeout(detached, clk, time.Minute)
		defer cancelLong()
		time.Sleep(time.Second)
		if err := deadline.Err(long, clk); err != nil {
			t.Fatalf("a minute's timeout of the detached context, after a second: %v", err)
		}
	})
}

// realClock is the time package as a Clock other than nil (inside a
// synctest bubble: fake time).
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// labelClock is the time package as a Clock that labels its timers, and
// records the labels.
type labelClock struct {
	realClock
	labels chan string
}

func (c labelClock) AfterAs(label string, d time.Duration) <-chan time.Time {
	c.labels <- label
	return time.After(d)
}

// On a clock that labels its timers, the deadline of a request is
// labelled by its operation and key: requests that goroutines started
// together time out at one instant in the order of their keys, not in the
// order the scheduler let the goroutines make their timers.
func TestDeadlineTimersAreLabelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := labelClock{labels: make(chan string, 4)}
		fs := faultstore.New(mem.New(mem.Options{}), 1)
		st := deadline.New(fs, clk, 5*time.Second)
		if _, err := st.Put(context.Background(), "a/k", []byte("v"), driver.None); err != nil {
			t.Fatal(err)
		}
		fs.HangNext(1)
		if _, err := st.Get(context.Background(), "a/k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a hung get: %v", err)
		}
		close(clk.labels)
		var got []string
		for l := range clk.labels {
			got = append(got, l)
		}
		if want := []string{" put a/k", " get a/k"}; !slices.Equal(got, want) {
			t.Fatalf("timer labels %q, want %q", got, want)
		}
	})
}
