package storage

import (
	"errors"
	"sync"
	"time"
)

// ErrCircuitOpen is the default error of a call the open breaker
// withheld: nothing was sent.
var ErrCircuitOpen = errors.New("circuit breaker open")

// DefaultThreshold is the default Breaker.Threshold.
const DefaultThreshold = 5

// Breaker states, as Bucket.Breaker reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// Breaker configures a Bucket's circuit breaker. Closed, it lets every
// call through; Threshold consecutive failures (Outcome Failed) open it:
// for Cooldown every call is refused with Refusal, sending nothing. Then
// it is half-open: the next call goes through, and its failure opens the
// breaker again for Cooldown while any answer (Answered or Lost) closes
// it. A breaker only ever withholds calls, so it cannot weaken what a
// caller's safety rests on: a leader that cannot renew steps down at its
// renew deadline either way.
type Breaker struct {
	// Cooldown is how long the breaker stays open; 0 turns it off.
	Cooldown time.Duration
	// Threshold is how many consecutive failures open it (0:
	// DefaultThreshold).
	Threshold int
	// Refusal is the error a withheld call fails with, wrapped with the
	// call's operation and key; nil means ErrCircuitOpen.
	Refusal error
	// OnChange, when set, hears every change of the state or of the count
	// of consecutive failures, without the breaker's lock held. Concurrent
	// calls may report their changes out of order: Bucket.Breaker has the
	// latest.
	OnChange func(from, to string, failures int)
}

// BreakerState is a snapshot of a Bucket's breaker.
type BreakerState struct {
	State    string // BreakerClosed, BreakerOpen or BreakerHalfOpen
	Failures int    // consecutive failures
	Trips    uint64 // openings so far
	// OpenFor is how long the breaker stays open; 0 unless it is open.
	OpenFor time.Duration
}

type breaker struct {
	on  Breaker
	now func() time.Time

	mu        sync.Mutex
	state     string
	failures  int
	openUntil time.Time
	trips     uint64
}

func (b *breaker) init(cfg Breaker, clock Clock) {
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Refusal == nil {
		cfg.Refusal = ErrCircuitOpen
	}
	b.on, b.state, b.now = cfg, BreakerClosed, time.Now
	if clock != nil {
		b.now = clock.Now
	}
}

// allow refuses a call while the breaker is open; once Cooldown has
// passed it turns half-open and lets the call through.
func (b *breaker) allow() error {
	b.mu.Lock()
	if b.state != BreakerOpen {
		b.mu.Unlock()
		return nil
	}
	if b.now().Before(b.openUntil) {
		b.mu.Unlock()
		return b.on.Refusal
	}
	b.set(BreakerHalfOpen, b.failures) // unlocks
	return nil
}

// record feeds a call's outcome to the breaker.
func (b *breaker) record(o Outcome) {
	b.mu.Lock()
	switch o {
	case Abandoned:
		b.mu.Unlock()
	case Failed:
		n := b.failures + 1
		if b.on.Cooldown > 0 && (b.state == BreakerHalfOpen || (b.state == BreakerClosed && n >= b.on.Threshold)) {
			b.openUntil = b.now().Add(b.on.Cooldown)
			b.trips++
			b.set(BreakerOpen, n)
			return
		}
		b.set(b.state, n)
	default:
		b.set(BreakerClosed, 0)
	}
}

// probe lets the next call through even when the breaker is open (a
// graceful stop's last write is worth one attempt).
func (b *breaker) probe() {
	b.mu.Lock()
	if b.state != BreakerOpen {
		b.mu.Unlock()
		return
	}
	b.set(BreakerHalfOpen, b.failures)
}

// set changes the state with b.mu held, unlocks, and reports a change.
func (b *breaker) set(state string, failures int) {
	from, n := b.state, b.failures
	b.state, b.failures = state, failures
	b.mu.Unlock()
	if (from != state || n != failures) && b.on.OnChange != nil {
		b.on.OnChange(from, state, failures)
	}
}

func (b *breaker) snapshot() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerState{State: b.state, Failures: b.failures, Trips: b.trips}
	if b.state == BreakerOpen {
		s.OpenFor = max(0, b.openUntil.Sub(b.now()))
	}
	return s
}

// Breaker returns a snapshot of the breaker.
func (b *Bucket) Breaker() BreakerState { return b.breaker.snapshot() }

// Probe lets the next call through even when the breaker is open: the
// call then decides, as a half-open breaker's does.
func (b *Bucket) Probe() { b.breaker.probe() }
