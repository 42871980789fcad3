package coord

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
)

// Metrics is a snapshot of one Coordinator's counters.
type Metrics struct {
	// HeartbeatCount counts heartbeat cycles (one per interval).
	HeartbeatCount uint64
	// ElectionCount counts takeover writes this coordinator attempted
	// (acquisitions of its lease and, in global mode, claims of plugin
	// leases). It stays low in a stable cluster.
	ElectionCount uint64
	// LeaderChanges counts observed changes of the leader id.
	LeaderChanges uint64
	// WorkerCount is the number of active workers at the last listing.
	WorkerCount int
	// LastHeartbeatTime is when the last heartbeat cycle ended (Clock).
	LastHeartbeatTime time.Time
	Epoch             uint64
	IsLeader          bool
	// Requests are the requests this coordinator sent, by class.
	Requests driver.Counts
	// PreconditionsLost counts conditional writes that lost
	// (driver.ErrPrecondition).
	PreconditionsLost uint64
	// Errors counts failed requests (not lost preconditions, not misses)
	// and corrupt records.
	Errors uint64
	// CorruptRecords counts records that could not be decoded.
	CorruptRecords uint64
	// HeartbeatLatency summarises the duration of recent heartbeat cycles.
	HeartbeatLatency Latency
	// Breaker is "closed", "open" or "half-open"; BreakerTrips counts
	// openings.
	Breaker      string
	BreakerTrips uint64
	// FallbackActive: this coordinator runs a plugin in per-plugin mode
	// because the global coordinator could not start.
	FallbackActive bool
	// UnsafeStore counts the times this coordinator saw the store break a
	// rule of conditional writes (a history no honest store gives: two
	// holders at one epoch, an epoch going down, a write conditioned on a
	// replaced version that succeeded); each made the Hub's leaders step
	// down until the store check passed again.
	UnsafeStore uint64
	// Ends counts the leaderships of this coordinator's election that
	// ended, by cause (the context.Cause its plugins' contexts carry).
	Ends Ends
	// LeadReturns counts resignations: a plugin's Lead returned while
	// this process still led it (see plugin.Leader); LeadErrors counts
	// those that returned an error.
	LeadReturns uint64
	LeadErrors  uint64
	// DroppedEvents counts leader-change events dropped because a
	// watcher or observer was not keeping up.
	DroppedEvents uint64
	// Subscribed is the number of plugins subscribed.
	Subscribed int
}

// Ends counts ended leaderships by cause.
type Ends struct {
	LeaseLost       uint64 // ErrLeaseLost
	RenewDeadline   uint64 // ErrRenewDeadline
	Resigned        uint64 // ErrResigned
	OperatorRelease uint64 // ErrOperatorRelease
	UnsafeStore     uint64 // ErrUnsafeStore
}

type leadershipEnds struct {
	lost, deadline, resigned, operator, unsafe atomic.Uint64
}

func (e *leadershipEnds) count(cause error) {
	switch {
	case errors.Is(cause, ErrOperatorRelease):
		e.operator.Add(1)
	case errors.Is(cause, ErrLeaseLost):
		e.lost.Add(1)
	case errors.Is(cause, ErrRenewDeadline):
		e.deadline.Add(1)
	case errors.Is(cause, ErrUnsafeStore):
		e.unsafe.Add(1)
	default:
		e.resigned.Add(1)
	}
}

func (e *leadershipEnds) snapshot() Ends {
	return Ends{LeaseLost: e.lost.Load(), RenewDeadline: e.deadline.Load(), Resigned: e.resigned.Load(),
		OperatorRelease: e.operator.Load(), UnsafeStore: e.unsafe.Load()}
}

// Latency holds percentiles of recent samples.
type Latency struct{ P50, P95, P99 time.Duration }

// latencyRing keeps the last len(samples) durations.
type latencyRing struct {
	mu      sync.Mutex
	samples [256]time.Duration
	n       int // total recorded
}

func (r *latencyRing) add(d time.Duration) {
	r.mu.Lock()
	r.samples[r.n%len(r.samples)] = d
	r.n++
	r.mu.Unlock()
}

func (r *latencyRing) summary() Latency {
	r.mu.Lock()
	s := slices.Clone(r.samples[:min(r.n, len(r.samples))])
	r.mu.Unlock()
	if len(s) == 0 {
		return Latency{}
	}
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

// Circuit breaker states.
const (
	breakerClosed   = "closed"
	breakerOpen     = "open"
	breakerHalfOpen = "half-open"
)

const breakerThreshold = 5 // consecutive failures that open the breaker

// meteredStore wraps the Hub's store for one Coordinator: it counts this
// coordinator's requests (the store's own counter is shared by everyone
// using it) and holds the circuit breaker. The breaker only ever withholds
// requests, so it cannot weaken safety: a leader that cannot renew steps
// down at its renew deadline either way.
type meteredStore struct {
	driver.Store
	clock    Clock
	cooldown time.Duration

	counter       driver.Counter
	preconditions atomic.Uint64
	errors        atomic.Uint64

	mu        sync.Mutex
	state     string
	failures  int
	openUntil time.Time
	trips     uint64

	// onBreaker, when set, hears each change of the breaker's state
	// (called without the lock held).
	onBreaker func(from, to string, failures int)
}

// newMeteredStore wraps s; every request gets a deadline of timeout on
// dclock (internal/deadline: the one place that bounds requests).
func newMeteredStore(s driver.Store, clock Clock, dclock deadline.Clock, timeout, cooldown time.Duration) *meteredStore {
	return &meteredStore{Store: deadline.New(s, dclock, timeout), clock: clock, cooldown: cooldown, state: breakerClosed}
}

func (m *meteredStore) allow() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == breakerOpen {
		if m.clock.Now().Sub(m.openUntil) < 0 {
			return ErrCircuitOpen
		}
		m.state = breakerHalfOpen
	}
	return nil
}

// gate refuses a request that is not to be sent: the breaker is open, or
// ctx is done already (nothing would be sent, so nothing is counted).
func (m *meteredStore) gate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return m.allow()
}

// openFor reports how long the breaker stays open (0 when closed).
func (m *meteredStore) openFor() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != breakerOpen {
		return 0
	}
	return max(0, m.openUntil.Sub(m.clock.Now()))
}

func (m *meteredStore) done(ctx context.Context, err error) {
	switch {
	case err == nil, errors.Is(err, driver.ErrNotFound), errors.Is(err, driver.ErrTooLarge):
	case errors.Is(err, driver.ErrPrecondition):
		m.preconditions.Add(1)
	case ctx.Err() != nil && errors.Is(err, context.Canceled) && !errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return // we gave up (stop), not a storage failure
	default:
		m.errors.Add(1)
		m.mu.Lock()
		m.failures++
		from, n := m.state, m.failures
		if m.state == breakerHalfOpen || (m.state == breakerClosed && m.failures >= breakerThreshold) {
			m.state = breakerOpen
			m.openUntil = m.clock.Now().Add(m.cooldown)
			m.trips++
		}
		to := m.state
		m.mu.Unlock()
		m.changed(from, to, n)
		return
	}
	m.mu.Lock()
	from, n := m.state, m.failures
	m.failures = 0
	m.state = breakerClosed
	m.mu.Unlock()
	m.changed(from, breakerClosed, n)
}

func (m *meteredStore) changed(from, to string, failures int) {
	// half-open is a passing state: only openings and closings are news.
	if from == to || m.onBreaker == nil || to == breakerHalfOpen || (from == breakerHalfOpen && to == breakerOpen) {
		return
	}
	m.onBreaker(from, to, failures)
}

// probe lets the next request through even if the breaker is open (a
// graceful stop's release is worth one attempt).
func (m *meteredStore) probe() {
	m.mu.Lock()
	if m.state == breakerOpen {
		m.state = breakerHalfOpen
	}
	m.mu.Unlock()
}

func (m *meteredStore) breaker() (string, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.trips
}

func (m *meteredStore) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := m.gate(ctx); err != nil {
		return driver.Object{}, err
	}
	m.counter.Inc(driver.ClassGet)
	o, err := m.Store.Get(ctx, key)
	m.done(ctx, err)
	return o, err
}

func (m *meteredStore) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	if err := m.gate(ctx); err != nil {
		return "", err
	}
	m.counter.Inc(driver.ClassPut)
	v, err := m.Store.Put(ctx, key, data, cond)
	m.done(ctx, err)
	return v, err
}

func (m *meteredStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := m.gate(ctx); err != nil {
		return err
	}
	m.counter.Inc(driver.ClassDelete)
	err := m.Store.Delete(ctx, key, cond)
	m.done(ctx, err)
	return err
}

func (m *meteredStore) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	if err := m.gate(ctx); err != nil {
		return driver.ListResult{}, err
	}
	m.counter.Inc(driver.ClassList)
	r, err := m.Store.List(ctx, prefix)
	m.done(ctx, err)
	return r, err
}

// Requests makes meteredStore a driver.RequestCounter.
func (m *meteredStore) Requests() driver.Counts { return m.counter.Requests() }

// Close does not close the shared store.
func (m *meteredStore) Close() error { return nil }
