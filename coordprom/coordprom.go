// Package coordprom exports the metrics of a coord.Hub to Prometheus.
//
// It lives in its own package so that package coord does not depend on
// the Prometheus client. Register one Collector per Hub:
//
//	prometheus.MustRegister(coordprom.New(hub))
//
// Every series carries the labels namespace, plugin and mode. A Global
// coordinator (the namespace lease) has plugin=""; a per-plugin one (also
// after a fallback) has the plugin's name. Within one Hub these label sets
// are unique. To export two Hubs from one process (two stores, say),
// register each through prometheus.WrapRegistererWith with a distinguishing
// label, or the registry rejects the duplicate series.
//
// Exceptions to those labels: coord_plugin_leader has namespace and
// plugin only (one series per subscribed plugin, whatever its mode), and
// coord_store_check has result only (one Hub, one store check).
//
// Collecting reads each coordinator's Metrics snapshot only: it sends no
// storage request, so scraping costs nothing on the store's bill. Request
// latency is measured by wrapping the store (InstrumentStore), since a
// Hub does not time its requests.
package coordprom

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
)

const namespace = "coord"

// Labels of every series, in this order.
var labels = []string{"namespace", "plugin", "mode"}

// Breaker states, in the order exported by coord_circuit_breaker_state.
var breakerStates = []string{"closed", "open", "half-open"}

// Causes of ended leaderships, in the order of the cause label.
var endCauses = []string{"lease_lost", "renew_deadline", "resigned", "operator_release", "unsafe_store"}

// Store check results, in the order of the result label.
var storeCheckResults = []coord.CheckState{
	coord.StoreCheckPending, coord.StoreCheckPassed, coord.StoreCheckSkipped, coord.StoreCheckUnsafe, coord.StoreCheckFailed,
}

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms (heartbeat cycles and storage requests): from a fast local
// store to a request that ran into its timeout.
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Collector is a prometheus.Collector over every coordinator of a Hub
// (coord.Hub.Coordinators at collection time). It is safe for concurrent
// use.
type Collector struct {
	hub *coord.Hub

	info              *prometheus.Desc
	heartbeats        *prometheus.Desc
	elections         *prometheus.Desc
	leaderChanges     *prometheus.Desc
	workers           *prometheus.Desc
	lastHeartbeat     *prometheus.Desc
	epoch             *prometheus.Desc
	isLeader          *prometheus.Desc
	requests          *prometheus.Desc
	conflicts         *prometheus.Desc
	preconditionsLost *prometheus.Desc
	errors            *prometheus.Desc
	corrupt           *prometheus.Desc
	latency           *prometheus.Desc
	latencyMissed     *prometheus.Desc
	ends              *prometheus.Desc
	leadReturns       *prometheus.Desc
	leadErrors        *prometheus.Desc
	unsafeStore       *prometheus.Desc
	duplicateIDs      *prometheus.Desc
	pluginLeader      *prometheus.Desc
	storeCheck        *prometheus.Desc
	breakerState      *prometheus.Desc
	breakerTrips      *prometheus.Desc
	fallback          *prometheus.Desc
	dropped           *prometheus.Desc
	subscribed        *prometheus.Desc

	mu    sync.Mutex
	beats map[*coord.Coordinator]*histogram // cumulative heartbeat durations
}

// histogram accumulates the heartbeat durations of one coordinator
// between scrapes (coord.Coordinator.HeartbeatSamples keeps the last 256).
type histogram struct {
	read    uint64 // samples read so far (HeartbeatSamples' total)
	missed  uint64 // dropped before a scrape read them
	count   uint64
	sum     float64
	buckets []uint64 // per LatencyBuckets bound, not cumulative
}

func (h *histogram) add(samples []time.Duration) {
	for _, d := range samples {
		s := d.Seconds()
		h.count++
		h.sum += s
		for i, b := range LatencyBuckets {
			if s <= b {
				h.buckets[i]++
				break
			}
		}
	}
}

func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(LatencyBuckets))
	var n uint64
	for i, b := range LatencyBuckets {
		n += h.buckets[i]
		out[b] = n
	}
	return out
}

// New returns a Collector over hub. hub must not be nil.
func New(hub *coord.Hub) *Collector {
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append(append([]string(nil), labels...), extra...), nil)
	}
	return &Collector{
		hub:               hub,
		info:              d("coordinator_info", "A running coordinator of this process; worker_id is this process's worker id in the election.", "worker_id"),
		heartbeats:        d("heartbeats_total", "Heartbeat cycles run (one per heartbeat interval)."),
		elections:         d("elections_total", "Takeover writes attempted: acquisitions of the lease and, in global mode, claims of plugin leases."),
		leaderChanges:     d("leader_changes_total", "Changes of the leader id observed by this coordinator."),
		workers:           d("workers", "Active workers of the election, this process included: the leader's count from the listing that is one renewal's read-back in three at defaults, written in its lease for followers; equal to the active workers within WorkerTimeout + HeartbeatInterval."),
		duplicateIDs:      d("duplicate_worker_id_total", "Beats that found this process's worker record written by another process: another process runs with the same WorkerID (also logged at Warn)."),
		lastHeartbeat:     d("last_heartbeat_timestamp_seconds", "Unix time at which the last heartbeat cycle ended (absent before the first)."),
		epoch:             d("epoch", "Epoch (fencing token) of the leader this process last knew of."),
		isLeader:          d("is_leader", "1 when this process leads the election now, else 0."),
		requests:          d("requests_total", "Storage requests sent by this coordinator, every attempt, by billing class.", "class"),
		conflicts:         d("request_conflicts_total", "Lost races the server reported as a conflict (S3 409 ConditionalRequestConflict); also counted in requests_total."),
		preconditionsLost: d("preconditions_lost_total", "Conditional writes that lost a race (precondition failed)."),
		errors:            d("errors_total", "Failed storage requests (not lost preconditions, not misses) and corrupt records."),
		corrupt:           d("corrupt_records_total", "Coordination records that could not be decoded."),
		latency:           d("heartbeat_duration_seconds", "Duration of heartbeat cycles (those ended since this collector started, read at each scrape)."),
		latencyMissed:     d("heartbeat_samples_missed_total", "Heartbeat durations dropped before a scrape read them (more than 256 heartbeats between two scrapes); counted in heartbeats_total, not in the histogram."),
		ends:              d("leadership_ends_total", "Leaderships of this election that ended, by cause (the context.Cause plugins see).", "cause"),
		leadReturns:       d("lead_returns_total", "Resignations: a plugin's Lead returned while this process still led it."),
		leadErrors:        d("lead_errors_total", "Resignations whose Lead returned an error."),
		unsafeStore:       d("unsafe_store_total", "Times the store was seen breaking a rule of conditional writes (every leader of the process stepped down)."),
		pluginLeader: prometheus.NewDesc("coord_plugin_leader", "1 while this process leads the plugin, else 0 (one series per subscribed plugin).",
			[]string{"namespace", "plugin"}, nil),
		storeCheck: prometheus.NewDesc("coord_store_check", "1 for the result of the process's store check (pending, passed, skipped, unsafe, failed), 0 for the others.",
			[]string{"result"}, nil),
		breakerState: d("circuit_breaker_state", "1 for the circuit breaker's current state, 0 for the others.", "state"),
		breakerTrips: d("circuit_breaker_trips_total", "Times the circuit breaker opened after consecutive storage failures."),
		fallback:     d("fallback_active", "1 when this coordinator runs a plugin per-plugin because the global coordinator could not start."),
		dropped:      d("dropped_events_total", "Leader-change events dropped because a watcher or observer was not keeping up."),
		subscribed:   d("subscribed_plugins", "Plugins subscribed to this coordinator."),
		beats:        map[*coord.Coordinator]*histogram{},
	}
}

// Describe sends the descriptors of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.heartbeats, c.elections, c.leaderChanges, c.workers, c.lastHeartbeat,
		c.epoch, c.isLeader, c.requests, c.conflicts, c.preconditionsLost, c.errors,
		c.corrupt, c.latency, c.latencyMissed, c.ends, c.leadReturns, c.leadErrors, c.unsafeStore, c.duplicateIDs,
		c.pluginLeader, c.storeCheck, c.breakerState, c.breakerTrips, c.fallback, c.dropped, c.subscribed,
	} {
		ch <- d
	}
}

// Collect sends the current metrics of every coordinator of the Hub.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	cs := c.hub.Coordinators()
	c.mu.Lock()
	live := make(map[*coord.Coordinator]bool, len(cs))
	for _, co := range cs {
		live[co] = true
		h := c.beats[co]
		if h == nil {
			h = &histogram{buckets: make([]uint64, len(LatencyBuckets))}
			c.beats[co] = h
		}
		samples, total, missed := co.HeartbeatSamples(h.read)
		h.read, h.missed = total, h.missed+missed
		h.add(samples)
		c.collect(ch, co.Metrics(), h)
	}
	for co := range c.beats {
		if !live[co] {
			delete(c.beats, co)
		}
	}
	c.mu.Unlock()
	for _, s := range c.hub.Subscriptions() {
		_, leading := s.Term()
		ch <- prometheus.MustNewConstMetric(c.pluginLeader, prometheus.GaugeValue, boolValue(leading), s.Namespace(), s.Name())
	}
	state, _ := c.hub.StoreCheck()
	for _, r := range storeCheckResults {
		ch <- prometheus.MustNewConstMetric(c.storeCheck, prometheus.GaugeValue, boolValue(state == r), string(r))
	}
}

func (c *Collector) collect(ch chan<- prometheus.Metric, m coord.Metrics, beats *histogram) {
	lv := []string{m.Namespace, m.Plugin, string(m.Mode)}
	with := func(extra ...string) []string { return append(append([]string(nil), lv...), extra...) }
	counter := func(d *prometheus.Desc, v uint64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), with(extra...)...)
	}
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, with(extra...)...)
	}
	gauge(c.info, 1, m.WorkerID)
	counter(c.heartbeats, m.HeartbeatCount)
	counter(c.elections, m.ElectionCount)
	counter(c.leaderChanges, m.LeaderChanges)
	gauge(c.workers, float64(m.WorkerCount))
	if !m.LastHeartbeatTime.IsZero() {
		gauge(c.lastHeartbeat, float64(m.LastHeartbeatTime.UnixNano())/1e9)
	}
	gauge(c.epoch, float64(m.Epoch))
	gauge(c.isLeader, boolValue(m.IsLeader))
	for _, class := range driver.Classes() {
		counter(c.requests, m.Requests.Of(class), class.String())
	}
	counter(c.conflicts, m.Requests.Conflicts)
	counter(c.preconditionsLost, m.PreconditionsLost)
	counter(c.errors, m.Errors)
	counter(c.corrupt, m.CorruptRecords)
	ch <- prometheus.MustNewConstHistogram(c.latency, beats.count, beats.sum, beats.cumulative(), lv...)
	counter(c.latencyMissed, beats.missed)
	for i, n := range []uint64{m.Ends.LeaseLost, m.Ends.RenewDeadline, m.Ends.Resigned, m.Ends.OperatorRelease, m.Ends.UnsafeStore} {
		counter(c.ends, n, endCauses[i])
	}
	counter(c.leadReturns, m.LeadReturns)
	counter(c.leadErrors, m.LeadErrors)
	counter(c.unsafeStore, m.UnsafeStore)
	counter(c.duplicateIDs, m.DuplicateWorkerIDs)
	for _, s := range breakerStates {
		gauge(c.breakerState, boolValue(m.Breaker == s), s)
	}
	counter(c.breakerTrips, m.BreakerTrips)
	gauge(c.fallback, boolValue(m.FallbackActive))
	counter(c.dropped, m.DroppedEvents)
	gauge(c.subscribed, float64(len(m.Plugins)))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Compile-time check.
var _ prometheus.Collector = (*Collector)(nil)
