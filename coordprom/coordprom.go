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
// Collecting reads each coordinator's Metrics snapshot only: it sends no
// storage request, so scraping costs nothing on the store's bill.
package coordprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
)

const namespace = "coord"

// Labels of every series, in this order.
var labels = []string{"namespace", "plugin", "mode"}

// Breaker states, in the order exported by coord_circuit_breaker_state.
var breakerStates = []string{"closed", "open", "half-open"}

// Heartbeat latency percentiles, as exported in the percentile label.
var percentiles = []string{"50", "95", "99"}

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
	breakerState      *prometheus.Desc
	breakerTrips      *prometheus.Desc
	fallback          *prometheus.Desc
	dropped           *prometheus.Desc
	subscribed        *prometheus.Desc
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
		workers:           d("workers", "Active workers at the last membership listing."),
		lastHeartbeat:     d("last_heartbeat_timestamp_seconds", "Unix time at which the last heartbeat cycle ended (absent before the first)."),
		epoch:             d("epoch", "Epoch (fencing token) of the leader this process last knew of."),
		isLeader:          d("is_leader", "1 when this process leads the election now, else 0."),
		requests:          d("requests_total", "Storage requests sent by this coordinator, every attempt, by billing class.", "class"),
		conflicts:         d("request_conflicts_total", "Lost races the server reported as a conflict (S3 409 ConditionalRequestConflict); also counted in requests_total."),
		preconditionsLost: d("preconditions_lost_total", "Conditional writes that lost a race (precondition failed)."),
		errors:            d("errors_total", "Failed storage requests (not lost preconditions, not misses) and corrupt records."),
		corrupt:           d("corrupt_records_total", "Coordination records that could not be decoded."),
		latency:           d("heartbeat_duration_seconds", "Duration of recent heartbeat cycles (last 256) at the given percentile.", "percentile"),
		breakerState:      d("circuit_breaker_state", "1 for the circuit breaker's current state, 0 for the others.", "state"),
		breakerTrips:      d("circuit_breaker_trips_total", "Times the circuit breaker opened after consecutive storage failures."),
		fallback:          d("fallback_active", "1 when this coordinator runs a plugin per-plugin because the global coordinator could not start."),
		dropped:           d("dropped_events_total", "Leader-change events dropped because a watcher or observer was not keeping up."),
		subscribed:        d("subscribed_plugins", "Plugins subscribed to this coordinator."),
	}
}

// Describe sends the descriptors of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.heartbeats, c.elections, c.leaderChanges, c.workers, c.lastHeartbeat,
		c.epoch, c.isLeader, c.requests, c.conflicts, c.preconditionsLost, c.errors,
		c.corrupt, c.latency, c.breakerState, c.breakerTrips, c.fallback, c.dropped, c.subscribed,
	} {
		ch <- d
	}
}

// Collect sends the current metrics of every coordinator of the Hub.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, co := range c.hub.Coordinators() {
		c.collect(ch, co.Metrics(), co.Namespace(), co.Plugin(), string(co.Mode()), co.WorkerID())
	}
}

func (c *Collector) collect(ch chan<- prometheus.Metric, m coord.Metrics, ns, plugin, mode, worker string) {
	lv := []string{ns, plugin, mode}
	with := func(extra ...string) []string { return append(append([]string(nil), lv...), extra...) }
	counter := func(d *prometheus.Desc, v uint64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), with(extra...)...)
	}
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, with(extra...)...)
	}
	gauge(c.info, 1, worker)
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
	for i, d := range []float64{m.HeartbeatLatency.P50.Seconds(), m.HeartbeatLatency.P95.Seconds(), m.HeartbeatLatency.P99.Seconds()} {
		gauge(c.latency, d, percentiles[i])
	}
	for _, s := range breakerStates {
		gauge(c.breakerState, boolValue(m.Breaker == s), s)
	}
	counter(c.breakerTrips, m.BreakerTrips)
	gauge(c.fallback, boolValue(m.FallbackActive))
	counter(c.dropped, m.DroppedEvents)
	gauge(c.subscribed, float64(m.Subscribed))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Compile-time check.
var _ prometheus.Collector = (*Collector)(nil)
