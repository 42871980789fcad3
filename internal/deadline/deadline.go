// Package deadline is the one place where coord gives every storage
// request a deadline. The engine and the built-in plugins reach their
// store only through a *Store of this package, so no call path can forget
// one.
//
// A Store does two things for every call:
//
//   - it bounds the call's context by the Store's timeout (a shorter
//     deadline already on the context is kept), on the Store's clock, so
//     that a request slowed down on a virtual clock times out on it too;
//   - it stops waiting at that deadline even when the driver ignores its
//     context: the call then returns an error for which
//     errors.Is(err, context.DeadlineExceeded) holds. A write whose answer
//     was not awaited may still be applied; to the caller it is a write in
//     doubt, like any other timeout. The driver's goroutine runs on until
//     the driver returns: a driver that never returns keeps that one
//     goroutine, but nothing waits for it.
//
// A call costs no context and no timer when the caller's context ends no
// later than the Store's timeout anyway. The mem driver's calls (that
// type itself, not a wrapper of it) only work on memory under its own
// lock: they cannot hang, so they run on the caller's goroutine, with the
// same deadline and the same errors.
package deadline

import (
	"context"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

// Clock is the time source of the deadlines: coord's one clock interface
// (package clock). nil means the time package.
type Clock = clock.Clock

// expiryKey keys the expiry, on its clock, of a context made by
// WithTimeout on a Clock.
type expiryKey struct{}

type expiry struct {
	clock Clock
	at    time.Time
}

// WithTimeout is context.WithTimeout on clock (the time package when clock
// is nil). When the time runs out the context's cause is
// context.DeadlineExceeded (its Err is then context.Canceled on a clock
// other than the time package's: read the cause, as Cause below does).
func WithTimeout(ctx context.Context, clock Clock, d time.Duration) (context.Context, context.CancelFunc) {
	return withTimeout(ctx, clock, d, "")
}

// labeller is a Clock that labels its timers (the simulation's clocks):
// timers due at one instant fire in the order of their labels, not in the
// order goroutines started together happened to make them.
type labeller interface {
	AfterAs(label string, d time.Duration) <-chan time.Time
}

// withTimeout is WithTimeout with its timer labelled label, when clock
// labels timers.
func withTimeout(ctx context.Context, clock Clock, d time.Duration, label string) (context.Context, context.CancelFunc) {
	if clock == nil {
		return context.WithTimeout(ctx, d)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	at := clock.Now().Add(d)
	if e, ok := expiryOf(ctx, clock); !ok || at.Before(e) {
		tctx = context.WithValue(tctx, expiryKey{}, expiry{clock, at})
	}
	var fired <-chan time.Time // made before the goroutine: timers are made in program order
	if l, ok := clock.(labeller); ok && label != "" {
		fired = l.AfterAs(label, d)
	} else {
		fired = clock.After(d)
	}
	go func() {
		select {
		case <-fired:
			cancel(context.DeadlineExceeded)
		case <-tctx.Done():
		}
	}()
	return tctx, func() { cancel(context.Canceled) }
}

// expiryOf is when ctx expires on clock, if a WithTimeout on clock bounds
// it. A context that can never be done (context.WithoutCancel) keeps its
// parent's values but not its deadline: it has none.
func expiryOf(ctx context.Context, clock Clock) (time.Time, bool) {
	e, ok := ctx.Value(expiryKey{}).(expiry)
	if !ok || clock == nil || e.clock != clock || ctx.Done() == nil {
		return time.Time{}, false
	}
	return e.at, true
}

// Err is ctx's error as Cause reports it, or context.DeadlineExceeded once
// clock has reached the expiry of a WithTimeout on clock that bounds ctx,
// even before the timer that ends it has fired: at one instant of a
// virtual clock, a call then fails the same way whichever goroutine runs
// first.
func Err(ctx context.Context, clock Clock) error {
	if ctx.Err() != nil {
		return Cause(ctx)
	}
	if at, ok := expiryOf(ctx, clock); ok && !clock.Now().Before(at) {
		return context.DeadlineExceeded
	}
	return nil
}

// Store bounds every call of a driver.Store (see the package doc).
type Store struct {
	inner   driver.Store
	clock   Clock
	timeout time.Duration
	// inline: inner is the mem driver itself, whose calls only take its
	// own lock around work on memory, so they cannot hang: they run on
	// the caller's goroutine, with the same deadline and the same answer
	// after it.
	inline bool
}

var _ driver.Store = (*Store)(nil)

// New returns inner with every call bounded by timeout on clock (nil: the
// time package). A timeout <= 0 means no deadline of the Store's own (the
// caller's still bounds the wait, even for a driver that ignores it).
func New(inner driver.Store, clock Clock, timeout time.Duration) *Store {
	if s, ok := inner.(*Store); ok && s.clock == clock && s.timeout == timeout {
		return s
	}
	_, inline := inner.(*mem.Store) // the type itself: a wrapper may block
	return &Store{inner: inner, clock: clock, timeout: timeout, inline: inline}
}

// Inner returns the wrapped store.
func (s *Store) Inner() driver.Store { return s.inner }

// Timeout returns the Store's own per-request deadline.
func (s *Store) Timeout() time.Duration { return s.timeout }

func noCancel() {}

// bound is ctx with the Store's deadline for r (its timer labelled by r's
// operation and key on a clock that labels timers), or ctx itself when it
// ends no later already (no context and no timer more: a call costs less,
// and on a virtual clock every timer costs). ctx itself needs no cancel of its
// own: a call returns once the driver answered, or once ctx is done,
// which the driver sees.
func (s *Store) bound(ctx context.Context, r request) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, noCancel
	}
	if s.clock == nil {
		if dl, ok := ctx.Deadline(); ok && !dl.After(time.Now().Add(s.timeout)) {
			return ctx, noCancel
		}
	} else if at, ok := expiryOf(ctx, s.clock); ok && !at.After(s.clock.Now().Add(s.timeout)) {
		return ctx, noCancel
	}
	label := ""
	if _, ok := s.clock.(labeller); ok {
		label = " " + r.op + " " + r.key
	}
	return withTimeout(ctx, s.clock, s.timeout, label)
}

// request is one call of a driver.Store, and answer its result.
type request struct {
	op, key string // op: "get", "put", "delete" or "list"
	data    []byte
	cond    driver.Condition
}

type answer struct {
	obj     driver.Object
	version string
	list    driver.ListResult
	err     error
}

// send makes r's call of inner.
func (r *request) send(ctx context.Context, inner driver.Store) (a answer) {
	switch r.op {
	case "get":
		a.obj, a.err = inner.Get(ctx, r.key)
	case "put":
		a.version, a.err = inner.Put(ctx, r.key, r.data, r.cond)
	case "delete":
		a.err = inner.Delete(ctx, r.key, r.cond)
	default:
		a.list, a.err = inner.List(ctx, r.key)
	}
	return a
}

// sendAsync sends r from a goroutine of its own and hands the answer to
// ch (buffered: the goroutine never waits on its caller).
func (r request) sendAsync(ctx context.Context, inner driver.Store, ch chan<- answer) {
	ch <- r.send(ctx, inner)
}

// call makes r's call on a bounded context and returns its answer, or the
// context's error once it is done, whichever comes first.
func (s *Store) call(ctx context.Context, r request) answer {
	ctx, cancel := s.bound(ctx, r)
	defer cancel()
	if err := Err(ctx, s.clock); err != nil {
		return answer{err: driver.Wrap(r.op, r.key, nil, err)}
	}
	var a answer
	if s.inline {
		a = r.send(ctx, s.inner)
	} else {
		ch := make(chan answer, 1)
		go r.sendAsync(ctx, s.inner, ch)
		select {
		case a = <-ch:
		case <-ctx.Done():
			return answer{err: driver.Wrap(r.op, r.key, nil, Cause(ctx))}
		}
	}
	if a.err != nil && ctx.Err() != nil {
		// Failed as the deadline passed: the same answer as when the
		// deadline is seen first, whichever goroutine ran first.
		return answer{err: driver.Wrap(r.op, r.key, nil, Cause(ctx))}
	}
	return a
}

// Cause is ctx's error, context.DeadlineExceeded when its time ran out
// (on any clock).
func Cause(ctx context.Context) error {
	if c := context.Cause(ctx); c == context.DeadlineExceeded {
		return c
	}
	return ctx.Err()
}

// Get is driver.Store.Get, bounded.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	a := s.call(ctx, request{op: "get", key: key})
	return a.obj, a.err
}

// Put is driver.Store.Put, bounded.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	a := s.call(ctx, request{op: "put", key: key, data: data, cond: cond})
	return a.version, a.err
}

// Delete is driver.Store.Delete, bounded.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	return s.call(ctx, request{op: "delete", key: key, cond: cond}).err
}

// List is driver.Store.List, bounded.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	a := s.call(ctx, request{op: "list", key: prefix})
	return a.list, a.err
}

// Capabilities is the inner store's.
func (s *Store) Capabilities() driver.Capabilities { return s.inner.Capabilities() }

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }
