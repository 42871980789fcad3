package coord

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/storage"
)

// Metrics is a snapshot of one Coordinator: which election it runs and
// its counters.
type Metrics struct {
	// Namespace, Mode and WorkerID name the election and this process in
	// it; Plugin is the plugin of a PerPlugin coordinator ("" for
	// Global). Plugins lists the plugins subscribed to it, sorted.
	Namespace string
	Mode      Mode
	Plugin    string
	WorkerID  string
	Plugins   []string
	// HeartbeatCount counts heartbeat cycles (one per interval).
	HeartbeatCount uint64
	// ElectionCount counts takeover writes this coordinator attempted
	// (acquisitions of its lease and, in global mode, claims of plugin
	// leases). It stays low in a stable cluster.
	ElectionCount uint64
	// LeaderChanges counts observed changes of the leader id.
	LeaderChanges uint64
	// WorkerCount is the number of active workers of this election, this
	// process included: the leader counts them from its LIST of the
	// worker records (every WorkerTimeout - HeartbeatInterval - 3/2
	// HeartbeatJitter) and writes the count in its lease, where followers
	// read it; so on every process it equals the active workers within
	// WorkerTimeout + HeartbeatInterval. ActiveWorkers and Status set it
	// from their own listing.
	WorkerCount int
	// DuplicateWorkerIDs counts the beats that found this process's worker
	// record written by another process (or fresh at start): another
	// process runs with the same WorkerID. Each is also logged at Warn.
	DuplicateWorkerIDs uint64
	// LastHeartbeatTime is when the last heartbeat cycle ended (Clock;
	// zero before the first).
	LastHeartbeatTime time.Time
	// Epoch is the epoch of the leader this process last knew of (its
	// own when leading): the namespace epoch in Global mode, the plugin's
	// in PerPlugin mode.
	Epoch uint64
	// IsLeader: this process leads the election now. RenewedAt is then
	// the start of its last successful renewal, and LeadsUntil the renew
	// deadline (RenewedAt + RenewDeadline) at which it steps down unless
	// a renewal succeeds first.
	IsLeader   bool
	RenewedAt  time.Time
	LeadsUntil time.Time
	// ConsecutiveFailures counts the storage requests that failed in a
	// row since the last one that succeeded (lost preconditions and
	// misses are answers, not failures).
	ConsecutiveFailures int
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
	// HeartbeatP50, HeartbeatP95 and HeartbeatP99 are percentiles of the
	// duration of the last 256 heartbeat cycles (HeartbeatSamples).
	HeartbeatP50, HeartbeatP95, HeartbeatP99 time.Duration
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

// latency holds percentiles of recent samples.
type latency struct{ p50, p95, p99 time.Duration }

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

func (r *latencyRing) summary() latency {
	r.mu.Lock()
	s := slices.Clone(r.samples[:min(r.n, len(r.samples))])
	r.mu.Unlock()
	if len(s) == 0 {
		return latency{}
	}
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return latency{p50: at(0.50), p95: at(0.95), p99: at(0.99)}
}

// Circuit breaker states (the storage layer's).
const (
	breakerClosed   = storage.BreakerClosed
	breakerOpen     = storage.BreakerOpen
	breakerHalfOpen = storage.BreakerHalfOpen
)

// meteredStore is the Hub's store as one Coordinator sees it: a
// storage.Bucket of its own, so that it counts this coordinator's requests
// (the driver's counter is shared by everyone using it) and has its own
// circuit breaker, on the coordinator's clock, that refuses with
// errCircuitOpen. The Bucket validates, bounds every request (timeout on
// the deadline clock), wraps errors once and runs the breaker; what is left
// here are the engine's views of it.
type meteredStore struct {
	*storage.Bucket

	// preconditions and errors count the outcomes Lost and Failed; state
	// and failures (guarded by mu) are a copy of the breaker's, kept for
	// Coordinator.Metrics.
	preconditions atomic.Uint64
	errors        atomic.Uint64
	mu            sync.Mutex
	state         string
	failures      int

	// onBreaker, when set, hears each opening and closing of the breaker
	// (called without a lock held).
	onBreaker func(from, to string, failures int)
}

// newMeteredStore wraps s; every request gets a deadline of timeout on
// dclock, and the breaker stays open for cooldown. dclock is clock, or nil
// for clock.Real (deadlineClockOf): the Bucket's one clock, for the
// breaker too, so clock itself is not needed.
func newMeteredStore(s driver.Store, clock clock.Clock, dclock deadline.Clock, timeout, cooldown time.Duration) *meteredStore {
	m := &meteredStore{state: breakerClosed}
	m.Bucket = storage.New(s, storage.Options{
		Timeout: timeout,
		Clock:   dclock,
		Breaker: storage.Breaker{Cooldown: cooldown, Refusal: errCircuitOpen, OnChange: m.changed},
		OnOutcome: func(_ string, o storage.Outcome) {
			switch o {
			case storage.Lost:
				m.preconditions.Add(1)
			case storage.Failed:
				m.errors.Add(1)
			}
		},
	})
	return m
}

// changed copies the breaker's latest state and tells onBreaker of
// openings and closings (half-open is a passing state: not news).
func (m *meteredStore) changed(from, to string, failures int) {
	m.mu.Lock()
	b := m.Bucket.Breaker()
	m.state, m.failures = b.State, b.Failures
	m.mu.Unlock()
	if from == to || m.onBreaker == nil || to == breakerHalfOpen || (from == breakerHalfOpen && to == breakerOpen) {
		return
	}
	m.onBreaker(from, to, failures)
}

// openFor reports how long the breaker stays open (0 when closed).
func (m *meteredStore) openFor() time.Duration { return m.Bucket.Breaker().OpenFor }

// probe lets the next request through even if the breaker is open (a
// graceful stop's release is worth one attempt).
func (m *meteredStore) probe() { m.Bucket.Probe() }

func (m *meteredStore) breaker() (string, uint64) {
	b := m.Bucket.Breaker()
	return b.State, b.Trips
}

// Close does not close the shared store.
func (m *meteredStore) Close() error { return nil }
