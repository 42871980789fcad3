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
package deadline

import (
	"context"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
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
	if clock == nil {
		return context.WithTimeout(ctx, d)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	at := clock.Now().Add(d)
	if e, ok := ctx.Value(expiryKey{}).(expiry); !ok || e.clock != clock || at.Before(e.at) {
		tctx = context.WithValue(tctx, expiryKey{}, expiry{clock, at})
	}
	fired := clock.After(d) // made before the goroutine: timers are made in program order
	go func() {
		select {
		case <-fired:
			cancel(context.DeadlineExceeded)
		case <-tctx.Done():
		}
	}()
	return tctx, func() { cancel(context.Canceled) }
}

// Store bounds every call of a driver.Store (see the package doc).
type Store struct {
	inner   driver.Store
	clock   Clock
	timeout time.Duration
}

var _ driver.Store = (*Store)(nil)

// New returns inner with every call bounded by timeout on clock (nil: the
// time package). A timeout <= 0 means no deadline of the Store's own (the
// caller's still bounds the wait, even for a driver that ignores it).
func New(inner driver.Store, clock Clock, timeout time.Duration) *Store {
	if s, ok := inner.(*Store); ok && s.clock == clock && s.timeout == timeout {
		return s
	}
	return &Store{inner: inner, clock: clock, timeout: timeout}
}

// Inner returns the wrapped store.
func (s *Store) Inner() driver.Store { return s.inner }

// Timeout returns the Store's own per-request deadline.
func (s *Store) Timeout() time.Duration { return s.timeout }

// bound is ctx with the Store's deadline, unless ctx ends no later
// already (then no timer more: on a virtual clock every timer costs).
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	if s.clock == nil {
		if dl, ok := ctx.Deadline(); ok && !dl.After(time.Now().Add(s.timeout)) {
			return context.WithCancel(ctx)
		}
	} else if e, ok := ctx.Value(expiryKey{}).(expiry); ok && e.clock == s.clock && !e.at.After(s.clock.Now().Add(s.timeout)) {
		return context.WithCancel(ctx)
	}
	return WithTimeout(ctx, s.clock, s.timeout)
}

// call runs f on a bounded context and returns its answer, or the
// context's error once it is done, whichever comes first.
func call[T any](s *Store, ctx context.Context, op, key string, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var zero T
	if ctx.Err() != nil {
		return zero, driver.Wrap(op, key, nil, Cause(ctx))
	}
	type answer struct {
		v   T
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := f(ctx)
		ch <- answer{v, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil && ctx.Err() != nil {
			// Failed as the deadline passed: the same answer as when the
			// deadline is seen first, whichever goroutine ran first.
			return zero, driver.Wrap(op, key, nil, Cause(ctx))
		}
		return a.v, a.err
	case <-ctx.Done():
		return zero, driver.Wrap(op, key, nil, Cause(ctx))
	}
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
	return call(s, ctx, "get", key, func(ctx context.Context) (driver.Object, error) { return s.inner.Get(ctx, key) })
}

// Put is driver.Store.Put, bounded.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	return call(s, ctx, "put", key, func(ctx context.Context) (string, error) { return s.inner.Put(ctx, key, data, cond) })
}

// Delete is driver.Store.Delete, bounded.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	_, err := call(s, ctx, "delete", key, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.inner.Delete(ctx, key, cond)
	})
	return err
}

// List is driver.Store.List, bounded.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	return call(s, ctx, "list", prefix, func(ctx context.Context) (driver.ListResult, error) { return s.inner.List(ctx, prefix) })
}

// Capabilities is the inner store's.
func (s *Store) Capabilities() driver.Capabilities { return s.inner.Capabilities() }

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }
