// Package storage is the store that coord's engine, its built-in plugins
// and applications use: one concrete type, *Bucket, over a driver.Store,
// in the style of gocloud.dev/blob's Bucket over blob/driver. The Bucket
// owns the policy every call needs, written once for every driver, in the
// order a call meets it:
//
//  1. the key is validated (driver.ValidateKey, or ValidatePrefix for
//     List): an invalid key never reaches the driver, the breaker or the
//     counts;
//  2. a closed Bucket refuses the call with driver.ErrClosed;
//  3. a done context refuses it with the context's error, and so does
//     one whose deadline on the Bucket's clock has passed though its timer
//     has not fired yet (internal/deadline.Err): at one instant the
//     answer does not depend on which goroutine ran first;
//  4. an open circuit breaker (Options.Breaker) refuses it;
//  5. the call is counted (Requests) and sent with a deadline on the
//     Bucket's clock (internal/deadline) that ends the wait even when the
//     driver ignores its context;
//  6. its outcome is counted (Stats) and fed to the breaker.
//
// Every error is wrapped once in a *driver.OpError with the caller's
// operation and key: errors.As finds exactly one, and errors.Is sees the
// sentinels of package driver through it.
//
// A driver keeps I/O and the classification of what its storage says into
// those sentinels. Applications and plugins hold a *Bucket, not a driver:
// driver.Store is the contract between the two, so it can grow with
// optional interfaces without breaking them. The drivers of this module
// still run the prologue of step 1-3 themselves (driver.CheckCall),
// because some tools use a driver directly; the Bucket's checks come
// first, so a call is refused the same way either way.
package storage

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
)

// Clock is the time source of a Bucket's deadlines and breaker: coord's
// one clock interface (package clock).
type Clock = clock.Clock

// Options configure a Bucket. The zero value is usable: no deadline of the
// Bucket's own, no breaker, the time package's clock.
type Options struct {
	// Timeout bounds every call. 0 means no deadline of the Bucket's own:
	// the caller's context still ends the wait, even for a driver that
	// ignores it.
	Timeout time.Duration
	// Clock is the clock of the deadlines and the breaker; nil means the
	// time package (deadlines are then the contexts' own).
	Clock Clock
	// Breaker configures the circuit breaker; the zero value turns it off.
	Breaker Breaker
	// OnOutcome, when set, hears the outcome of every call sent to the
	// driver, after it ended (from the caller's goroutine).
	OnOutcome func(op string, o Outcome)
}

// Outcome is how a call sent to the driver ended, as the counts and the
// breaker see it.
type Outcome int

// Outcomes.
const (
	// Answered: the store answered (success, driver.ErrNotFound or
	// driver.ErrTooLarge).
	Answered Outcome = iota
	// Lost: the write's condition did not hold (driver.ErrPrecondition).
	// The store answered: the breaker counts it as a success.
	Lost
	// Failed: any other error, a deadline passed included. Consecutive
	// failures open the breaker.
	Failed
	// Abandoned: the caller cancelled the call; not the store's failure.
	Abandoned
)

func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case Lost:
		return "lost"
	case Failed:
		return "failed"
	case Abandoned:
		return "abandoned"
	}
	return "Outcome(?)"
}

// OutcomeOf classifies err, the answer of a call made with ctx.
func OutcomeOf(ctx context.Context, err error) Outcome {
	switch {
	case err == nil, errors.Is(err, driver.ErrNotFound), errors.Is(err, driver.ErrTooLarge):
		return Answered
	case errors.Is(err, driver.ErrPrecondition):
		return Lost
	case ctx.Err() != nil && errors.Is(err, context.Canceled) && !errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return Abandoned
	}
	return Failed
}

// Stats are a Bucket's counts since it was made.
type Stats struct {
	// Requests are the calls sent to the driver, by class (a driver's own
	// count also holds its retries).
	Requests driver.Counts
	// Lost and Failed count the calls of those outcomes.
	Lost, Failed uint64
	// Refused counts the calls the open breaker withheld.
	Refused uint64
}

// Bucket is the portable store over a driver (see the package doc). It is
// safe for concurrent use. It implements driver.Store and
// driver.RequestCounter, so that code written against a driver.Store takes
// it too.
type Bucket struct {
	driver  driver.Store
	clock   deadline.Clock // nil: the time package
	bounded *deadline.Store
	onDone  func(op string, o Outcome)
	breaker breaker

	closed       atomic.Bool
	counter      driver.Counter
	lost, failed atomic.Uint64
	refused      atomic.Uint64
}

var (
	_ driver.Store          = (*Bucket)(nil)
	_ driver.RequestCounter = (*Bucket)(nil)
)

// New returns a Bucket over d. Closing the Bucket closes d.
func New(d driver.Store, opts Options) *Bucket {
	var dclock deadline.Clock
	if opts.Clock != nil {
		dclock = opts.Clock
	}
	b := &Bucket{driver: d, clock: dclock, bounded: deadline.New(d, dclock, opts.Timeout), onDone: opts.OnOutcome}
	b.breaker.init(opts.Breaker, opts.Clock)
	return b
}

// Driver returns the driver under the Bucket, for its optional interfaces
// (driver.BucketCreator, ...).
func (b *Bucket) Driver() driver.Store { return b.driver }

// admit runs steps 1-4 of the package doc and counts the call.
func (b *Bucket) admit(ctx context.Context, op, key string, class driver.Class, validate func(string) error) error {
	if err := driver.CheckCall(ctx, op, key, b.closed.Load(), validate); err != nil {
		return err
	}
	if err := deadline.Err(ctx, b.clock); err != nil {
		return driver.Wrap(op, key, nil, err)
	}
	if err := b.breaker.allow(); err != nil {
		b.refused.Add(1)
		return driver.Wrap(op, key, nil, err)
	}
	b.counter.Inc(class)
	return nil
}

// done runs step 6 and returns err wrapped once with op and key.
func (b *Bucket) done(ctx context.Context, op, key string, err error) error {
	o := OutcomeOf(ctx, err)
	switch o {
	case Lost:
		b.lost.Add(1)
	case Failed:
		b.failed.Add(1)
	}
	b.breaker.record(o)
	if b.onDone != nil {
		b.onDone(op, o)
	}
	return wrapOnce(op, key, err)
}

// wrapOnce returns err as one OpError with op and key: a driver's own
// OpError takes the caller's op and key (and loses any OpError directly
// inside it), any other error is wrapped. An error that holds an OpError
// under other wrapping is returned as it is: it has its one OpError.
func wrapOnce(op, key string, err error) error {
	if err == nil {
		return nil
	}
	oe, ok := err.(*driver.OpError)
	if !ok {
		if errors.As(err, &oe) {
			return err
		}
		return driver.Wrap(op, key, nil, err)
	}
	inner := oe.Err
	for {
		in, ok := inner.(*driver.OpError)
		if !ok {
			break
		}
		inner = in.Err
	}
	if oe.Op == op && oe.Key == key && inner == oe.Err {
		return err
	}
	return &driver.OpError{Op: op, Key: key, Err: inner}
}

// Get returns the object at key (driver.Store.Get).
func (b *Bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := b.admit(ctx, "get", key, driver.ClassGet, driver.ValidateKey); err != nil {
		return driver.Object{}, err
	}
	o, err := b.bounded.Get(ctx, key)
	return o, b.done(ctx, "get", key, err)
}

// Put writes data at key under cond and returns the new version
// (driver.Store.Put).
func (b *Bucket) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	if err := b.admit(ctx, "put", key, driver.ClassPut, driver.ValidateKey); err != nil {
		return "", err
	}
	v, err := b.bounded.Put(ctx, key, data, cond)
	return v, b.done(ctx, "put", key, err)
}

// Delete removes key under cond (driver.Store.Delete).
func (b *Bucket) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := b.admit(ctx, "delete", key, driver.ClassDelete, driver.ValidateKey); err != nil {
		return err
	}
	return b.done(ctx, "delete", key, b.bounded.Delete(ctx, key, cond))
}

// List returns every object whose key starts with prefix
// (driver.Store.List).
func (b *Bucket) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	if err := b.admit(ctx, "list", prefix, driver.ClassList, driver.ValidatePrefix); err != nil {
		return driver.ListResult{}, err
	}
	r, err := b.bounded.List(ctx, prefix)
	return r, b.done(ctx, "list", prefix, err)
}

// Capabilities are the driver's.
func (b *Bucket) Capabilities() driver.Capabilities { return b.driver.Capabilities() }

// Close closes the Bucket and its driver; later calls fail with
// driver.ErrClosed. Closing twice is a no-op.
func (b *Bucket) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	return b.driver.Close()
}

// Requests are the calls sent to the driver, by class.
func (b *Bucket) Requests() driver.Counts { return b.counter.Requests() }

// Stats returns the Bucket's counts.
func (b *Bucket) Stats() Stats {
	return Stats{Requests: b.counter.Requests(), Lost: b.lost.Load(), Failed: b.failed.Load(), Refused: b.refused.Load()}
}
