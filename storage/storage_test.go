package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/storage"
)

// fixture is a Bucket over a faultstore view of a mem store, with a count
// of the calls that reached the view's inner store.
type fixture struct {
	b    *storage.Bucket
	fs   *faultstore.Store
	sent atomic.Int64
}

func newFixture(t *testing.T, opts storage.Options) *fixture {
	t.Helper()
	f := &fixture{fs: faultstore.New(mem.New(mem.Options{}), 1)}
	f.fs.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error {
		f.sent.Add(1)
		return nil
	}})
	f.b = storage.New(f.fs, opts)
	return f
}

// op is one call of each kind, for the tables.
type op struct {
	name string
	call func(ctx context.Context, b *storage.Bucket, key string) error
}

var ops = []op{
	{"get", func(ctx context.Context, b *storage.Bucket, key string) error { _, err := b.Get(ctx, key); return err }},
	{"put", func(ctx context.Context, b *storage.Bucket, key string) error {
		_, err := b.Put(ctx, key, []byte("x"), driver.None)
		return err
	}},
	{"delete", func(ctx context.Context, b *storage.Bucket, key string) error { return b.Delete(ctx, key, driver.None) }},
	{"list", func(ctx context.Context, b *storage.Bucket, key string) error { _, err := b.List(ctx, key); return err }},
}

// opErrors counts the *driver.OpError values in err's tree.
func opErrors(err error) int {
	if err == nil {
		return 0
	}
	n := 0
	if _, ok := err.(*driver.OpError); ok {
		n++
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		n += opErrors(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			n += opErrors(e)
		}
	}
	return n
}

// checkWrapped fails unless err is one OpError with op and key, matching
// want.
func checkWrapped(t *testing.T, err error, op, key string, want error) {
	t.Helper()
	var oe *driver.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Key != key {
		t.Fatalf("error %v (%T): want an OpError with op %q and key %q", err, err, op, key)
	}
	if n := opErrors(err); n != 1 {
		t.Fatalf("error %v holds %d OpErrors, want 1", err, n)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("error %v: want errors.Is(err, %v)", err, want)
	}
}

// A call refused for its input, the closed state or its context sends
// nothing, counts nothing and leaves the breaker alone.
func TestRefusedBeforeAnyIO(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	cases := []struct {
		name  string
		key   string // for list, the prefix
		ctx   context.Context
		close bool
		want  error
	}{
		{"empty key", "", context.Background(), false, driver.ErrInvalidKey},
		{"dot segment", "a/../b", context.Background(), false, driver.ErrInvalidKey},
		{"control character", "a\x01b", context.Background(), false, driver.ErrInvalidKey},
		{"too long", strings.Repeat("k", driver.MaxKeyLen+1), context.Background(), false, driver.ErrInvalidKey},
		{"invalid key on a closed bucket", "/abs", context.Background(), true, driver.ErrInvalidKey},
		{"closed", "k", context.Background(), true, driver.ErrClosed},
		{"closed with a cancelled context", "k", cancelled, true, driver.ErrClosed},
		{"cancelled", "k", cancelled, false, context.Canceled},
		{"deadline passed", "k", expired, false, context.DeadlineExceeded},
	}
	for _, c := range cases {
		for _, o := range ops {
			if o.name == "list" && c.key == "" {
				continue // an empty prefix lists everything
			}
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				f := newFixture(t, storage.Options{Timeout: time.Minute, Breaker: storage.Breaker{Cooldown: time.Minute, Threshold: 1}})
				if c.close {
					if err := f.b.Close(); err != nil {
						t.Fatal(err)
					}
				}
				err := o.call(c.ctx, f.b, c.key)
				checkWrapped(t, err, o.name, c.key, c.want)
				if n := f.sent.Load(); n != 0 {
					t.Errorf("%d calls reached the driver, want 0", n)
				}
				if s := f.b.Stats(); s != (storage.Stats{}) {
					t.Errorf("Stats = %+v, want zero", s)
				}
				if st := f.b.Breaker(); st.State != storage.BreakerClosed || st.Failures != 0 {
					t.Errorf("breaker %+v after a refused call, want closed with no failure", st)
				}
			})
		}
	}
}

// Close closes the driver, once.
func TestCloseClosesTheDriver(t *testing.T) {
	inner := mem.New(mem.Options{})
	b := storage.New(inner, storage.Options{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := inner.Get(context.Background(), "k"); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("driver after the Bucket's Close: %v, want ErrClosed", err)
	}
}

// A driver that ignores its context is not waited for past the Bucket's
// timeout, nor past the caller's deadline when the Bucket has none.
func TestDeadlineWhenTheDriverIgnoresContext(t *testing.T) {
	cases := []struct {
		name     string
		timeout  time.Duration // the Bucket's
		deadline time.Duration // the caller's; 0: none
		want     time.Duration // when the call returns
	}{
		{"bucket timeout", 2 * time.Second, 0, 2 * time.Second},
		{"caller deadline shorter", 2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond},
		{"caller deadline, no bucket timeout", 0, 3 * time.Second, 3 * time.Second},
	}
	for _, c := range cases {
		for _, o := range ops {
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := newFixture(t, storage.Options{Timeout: c.timeout})
					f.fs.Set(faultstore.Faults{HangIgnoresContext: true})
					f.fs.HangNext(1)
					ctx := context.Background()
					if c.deadline > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, c.deadline)
						defer cancel()
					}
					start := time.Now()
					err := o.call(ctx, f.b, "k")
					if took := time.Since(start); took != c.want {
						t.Errorf("returned after %v, want %v", took, c.want)
					}
					checkWrapped(t, err, o.name, "k", context.DeadlineExceeded)
					if f.fs.Hanging() != 1 {
						t.Errorf("%d calls hang in the driver, want 1 (the one not waited for)", f.fs.Hanging())
					}
					if s := f.b.Stats(); s.Failed != 1 || s.Requests.Total() != 1 {
						t.Errorf("Stats = %+v, want 1 request, 1 failure", s)
					}
					f.fs.ReleaseHangs()
				})
			})
		}
	}
}

// Whatever the driver wraps, the caller gets one OpError with its own
// operation and key, and the native error and sentinel stay reachable.
func TestWrapOnce(t *testing.T) {
	native := errors.New("native")
	cases := []struct {
		name   string
		answer func(c faultstore.Call) error
		want   error
	}{
		{"driver's OpError", func(c faultstore.Call) error { return driver.Wrap(c.Op, c.Key, driver.ErrNotFound, native) }, driver.ErrNotFound},
		{"other key", func(c faultstore.Call) error { return driver.Wrap(c.Op, "full/"+c.Key, driver.ErrAccessDenied, native) }, driver.ErrAccessDenied},
		{"wrapped twice", func(c faultstore.Call) error {
			return &driver.OpError{Op: c.Op, Key: c.Key, Err: driver.Wrap(c.Op, c.Key, driver.ErrUnreachable, native)}
		}, driver.ErrUnreachable},
		{"annotated OpError", func(c faultstore.Call) error { return fmt.Errorf("retry 3: %w", driver.Wrap(c.Op, c.Key, nil, native)) }, native},
		{"bare error", func(faultstore.Call) error { return native }, native}, // faultstore wraps it, as a driver must
	}
	for _, c := range cases {
		for _, o := range ops {
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				f := newFixture(t, storage.Options{})
				f.fs.SetHooks(faultstore.Hooks{After: func(call faultstore.Call, _ error) error { return c.answer(call) }})
				err := o.call(context.Background(), f.b, "k")
				checkWrapped(t, err, o.name, "k", c.want)
				if !errors.Is(err, native) {
					t.Errorf("native error lost: %v", err)
				}
			})
		}
	}
}

// The Bucket counts the calls it sends by class, and their outcomes.
func TestCounting(t *testing.T) {
	ctx := context.Background()
	var heard []string
	f := newFixture(t, storage.Options{OnOutcome: func(op string, o storage.Outcome) { heard = append(heard, op+":"+o.String()) }})
	b := f.b
	v, err := b.Put(ctx, "k", []byte("1"), driver.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("2"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("second IfAbsent: %v", err)
	}
	if _, err := b.Get(ctx, "missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := b.List(ctx, ""); err != nil {
		t.Fatal(err)
	}
	f.fs.FailNext(1)
	if err := b.Delete(ctx, "k", driver.IfMatch(v)); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("failed delete: %v", err)
	}
	_, _ = b.Get(ctx, "") // refused: not counted, not heard
	want := storage.Stats{Requests: driver.Counts{Get: 1, Put: 2, List: 1, Delete: 1}, Lost: 1, Failed: 1}
	if s := b.Stats(); s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if b.Requests() != want.Requests {
		t.Errorf("Requests = %v, want %v", b.Requests(), want.Requests)
	}
	if got := strings.Join(heard, " "); got != "put:answered put:lost get:answered list:answered delete:failed" {
		t.Errorf("outcomes heard: %s", got)
	}
}

func TestOutcomeOf(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	timedOut, cancel2 := context.WithCancelCause(live)
	cancel2(context.DeadlineExceeded) // a deadline on a virtual clock
	cases := []struct {
		ctx  context.Context
		err  error
		want storage.Outcome
	}{
		{live, nil, storage.Answered},
		{live, driver.Wrap("get", "k", driver.ErrNotFound, nil), storage.Answered},
		{live, driver.Wrap("get", "k", driver.ErrTooLarge, nil), storage.Answered},
		{live, driver.Wrap("put", "k", driver.ErrPrecondition, nil), storage.Lost},
		{cancelled, driver.Wrap("put", "k", driver.ErrPrecondition, nil), storage.Lost},
		{live, driver.Wrap("get", "k", driver.ErrUnreachable, nil), storage.Failed},
		{live, context.Canceled, storage.Failed}, // not ours: the driver's
		{cancelled, driver.Wrap("get", "k", nil, context.Canceled), storage.Abandoned},
		{timedOut, driver.Wrap("get", "k", nil, context.Canceled), storage.Failed},
		{live, driver.Wrap("get", "k", nil, context.DeadlineExceeded), storage.Failed},
	}
	for i, c := range cases {
		if got := storage.OutcomeOf(c.ctx, c.err); got != c.want {
			t.Errorf("case %d: OutcomeOf(%v) = %v, want %v", i, c.err, got, c.want)
		}
	}
}

// The breaker opens after Threshold consecutive failures, refuses calls
// for Cooldown without sending them, then lets one through: its failure
// opens it again, an answer (a lost condition too) closes it.
func TestBreaker(t *testing.T) {
	const cooldown = 10 * time.Second
	refusal := errors.New("refused here")
	type step struct {
		fail    bool          // the call that is sent fails
		wait    time.Duration // before the call
		probe   bool          // Probe before the call
		refused bool          // the call is withheld
		state   string        // after the call
		trips   uint64
	}
	fail := func(s step) step { s.fail = true; return s }
	cases := []struct {
		name  string
		steps []step
	}{
		{"opens at the threshold", []step{
			fail(step{state: storage.BreakerClosed}), fail(step{state: storage.BreakerClosed}),
			fail(step{state: storage.BreakerOpen, trips: 1}),
			{refused: true, state: storage.BreakerOpen, trips: 1},
			{wait: cooldown - time.Millisecond, refused: true, state: storage.BreakerOpen, trips: 1},
		}},
		{"an answer resets the count", []step{
			fail(step{state: storage.BreakerClosed}), fail(step{state: storage.BreakerClosed}),
			{state: storage.BreakerClosed},
			fail(step{state: storage.BreakerClosed}), fail(step{state: storage.BreakerClosed}),
			fail(step{state: storage.BreakerOpen, trips: 1}),
		}},
		{"half-open, then closed", []step{
			fail(step{}), fail(step{}), fail(step{state: storage.BreakerOpen, trips: 1}),
			{wait: cooldown, state: storage.BreakerClosed, trips: 1},
			fail(step{state: storage.BreakerClosed, trips: 1}),
		}},
		{"half-open, then open again at the first failure", []step{
			fail(step{}), fail(step{}), fail(step{state: storage.BreakerOpen, trips: 1}),
			fail(step{wait: cooldown, state: storage.BreakerOpen, trips: 2}),
			{refused: true, state: storage.BreakerOpen, trips: 2},
		}},
		{"probe lets one call through", []step{
			fail(step{}), fail(step{}), fail(step{state: storage.BreakerOpen, trips: 1}),
			{probe: true, state: storage.BreakerClosed, trips: 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var changes []string
				f := newFixture(t, storage.Options{Breaker: storage.Breaker{
					Cooldown: cooldown, Threshold: 3, Refusal: refusal,
					OnChange: func(from, to string, n int) { changes = append(changes, fmt.Sprintf("%s>%s/%d", from, to, n)) },
				}})
				var failing atomic.Bool
				f.fs.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error {
					f.sent.Add(1)
					if failing.Load() {
						return errors.New("injected")
					}
					return nil
				}})
				for i, s := range c.steps {
					time.Sleep(s.wait)
					if s.probe {
						f.b.Probe()
					}
					failing.Store(s.fail)
					before := f.sent.Load()
					_, err := f.b.Get(context.Background(), "k")
					sent := f.sent.Load() - before
					switch {
					case s.refused:
						checkWrapped(t, err, "get", "k", refusal)
						if sent != 0 {
							t.Fatalf("step %d: a refused call was sent", i)
						}
					case sent != 1:
						t.Fatalf("step %d: %d calls sent, want 1 (err %v)", i, sent, err)
					case s.fail != (err != nil && !errors.Is(err, driver.ErrNotFound)):
						t.Fatalf("step %d: err %v, want failure %v", i, err, s.fail)
					}
					st := f.b.Breaker()
					if s.state == "" {
						s.state = storage.BreakerClosed
					}
					if st.State != s.state || st.Trips != s.trips {
						t.Fatalf("step %d: breaker %+v, want %s after %d trips; changes %v", i, st, s.state, s.trips, changes)
					}
					if open := st.State == storage.BreakerOpen; open != (st.OpenFor > 0) {
						t.Fatalf("step %d: OpenFor %v in state %s", i, st.OpenFor, st.State)
					}
				}
				if len(changes) == 0 {
					t.Fatal("OnChange heard nothing")
				}
			})
		})
	}
}

// A lost condition and an abandoned call do not count as failures.
func TestBreakerIgnoresLostAndAbandoned(t *testing.T) {
	f := newFixture(t, storage.Options{Breaker: storage.Breaker{Cooldown: time.Minute, Threshold: 1}})
	ctx := context.Background()
	if _, err := f.b.Put(ctx, "k", nil, driver.IfMatch("nope")); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	f.fs.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error {
		cancel() // the caller gives up while the call is in flight
		return context.Canceled
	}})
	if _, err := f.b.Get(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if st := f.b.Breaker(); st.State != storage.BreakerClosed || st.Failures != 0 {
		t.Fatalf("breaker %+v, want closed with no failures", st)
	}
	if s := f.b.Stats(); s.Lost != 1 || s.Failed != 0 {
		t.Fatalf("Stats %+v, want 1 lost, 0 failed", s)
	}
}

// The Bucket is held to the drivers' suite, as a wrapper must be.
type harness struct{}

func (harness) MakeStore(context.Context, *testing.T) (driver.Store, error) {
	return storage.New(mem.New(mem.Options{MaxRead: 64 << 10}), storage.Options{Timeout: time.Minute}), nil
}

func (harness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: 64 << 10}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }

// lateClock is a clock whose timers never fire: the instant a deadline
// falls on, before its timer has fired.
type lateClock struct{ now time.Time }

func (c *lateClock) Now() time.Time                       { return c.now }
func (c *lateClock) After(time.Duration) <-chan time.Time { return nil }

// A call whose deadline on the Bucket's clock has passed fails with
// DeadlineExceeded, not with the open breaker's refusal, even before the
// deadline's timer has fired: at one instant of a virtual clock the answer
// does not depend on which goroutine ran first.
func TestDeadlineBeforeBreaker(t *testing.T) {
	c := &lateClock{now: time.Unix(1000, 0)}
	f := newFixture(t, storage.Options{Clock: c, Breaker: storage.Breaker{Cooldown: time.Minute, Threshold: 1}})
	f.fs.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error {
		f.sent.Add(1)
		return errors.New("injected")
	}})
	ctx, cancel := deadline.WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	if _, err := f.b.Get(ctx, "k"); err == nil || f.b.Breaker().State != storage.BreakerOpen {
		t.Fatalf("%v, breaker %+v: want a failure that opens it", err, f.b.Breaker())
	}
	checkWrapped(t, getErr(ctx, f.b), "get", "k", storage.ErrCircuitOpen)
	c.now = c.now.Add(time.Second)
	before := f.b.Stats()
	checkWrapped(t, getErr(ctx, f.b), "get", "k", context.DeadlineExceeded)
	if after := f.b.Stats(); after.Refused != before.Refused || after.Requests != before.Requests {
		t.Fatalf("a call past its deadline was counted: %+v, then %+v", before, after)
	}
}

func getErr(ctx context.Context, b *storage.Bucket) error { _, err := b.Get(ctx, "k"); return err }
