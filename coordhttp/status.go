package coordhttp

import (
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
)

// Status is the JSON form of a coord.Status: one election as a Coordinator
// sees it (Handler) or one namespace as read from the store
// (coord.ReadStatus, used by coordctl). Durations are in seconds, times
// in RFC 3339. Fields that only a running coordinator knows (mode,
// worker_id, is_leader, metrics) are empty in a status read from the
// store.
type Status struct {
	Namespace string `json:"namespace"`
	Mode      string `json:"mode,omitempty"`
	// Plugin is the plugin of a per-plugin coordinator ("" for the
	// namespace lease).
	Plugin   string `json:"plugin,omitempty"`
	WorkerID string `json:"worker_id,omitempty"`
	IsLeader bool   `json:"is_leader"`
	// HasLeader: the lease names a holder that has not released it and,
	// when the store reports modification times, whose last write is no
	// older (on the store's clock) than its lease duration. See
	// HasLeader.
	HasLeader bool `json:"has_leader"`
	// LeaderState is LeaderHeld, LeaderNone or LeaderUnknown: unknown when
	// the lease could not be read, never "none" then. LastKnown says who
	// led when last known.
	LeaderState string     `json:"leader_state"`
	LastKnown   *LastKnown `json:"last_known,omitempty"`
	Leader      Lease      `json:"leader"`
	// LeaseAgeSeconds is the store's time minus the lease's last write,
	// when the store reports both.
	LeaseAgeSeconds *float64   `json:"lease_age_seconds,omitempty"`
	ServerTime      *time.Time `json:"server_time,omitempty"`
	Workers         []Worker   `json:"workers"`
	// WorkersUnknown: the workers could not be listed (Workers is empty
	// for that reason, not because none is active).
	WorkersUnknown bool `json:"workers_unknown,omitempty"`
	// Plugins are the subscribed plugins of a Global coordinator, or
	// every plugin with records in the namespace (ReadStatus).
	Plugins []Plugin `json:"plugins"`
	Metrics *Metrics `json:"metrics,omitempty"`
	// Error is set when the status could not be read completely; the
	// other fields hold what was read.
	Error string `json:"error,omitempty"`
}

// Lease is the JSON form of a coord.LeaderInfo.
type Lease struct {
	// ID is the holder's worker id; "" when there is no record.
	ID         string `json:"id"`
	Epoch      uint64 `json:"epoch"`
	Released   bool   `json:"released"`
	ReleasedBy string `json:"released_by,omitempty"`
	// Version is the record's store version: pass it to coordctl release
	// -version to release only that record.
	Version      string     `json:"version,omitempty"`
	Renewed      *time.Time `json:"renewed,omitempty"`
	Modified     *time.Time `json:"modified,omitempty"`
	LeaseSeconds float64    `json:"lease_seconds"`
	Mode         string     `json:"mode,omitempty"`
	// Delegated: a plugin lease held by the namespace lease at
	// NamespaceEpoch.
	Delegated      bool              `json:"delegated,omitempty"`
	NamespaceEpoch uint64            `json:"namespace_epoch,omitempty"`
	Plugins        map[string]uint64 `json:"plugins,omitempty"`
	Corrupt        string            `json:"corrupt,omitempty"`
}

// Worker is the JSON form of a coord.Worker.
type Worker struct {
	ID         string            `json:"id"`
	LastSeen   time.Time         `json:"last_seen"`
	AgeSeconds float64           `json:"age_seconds"`
	Mode       string            `json:"mode,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
}

// Plugin is the JSON form of an entry of coord.Status.Plugins.
type Plugin struct {
	Name    string   `json:"name"`
	Lease   Lease    `json:"lease"`
	Workers []Worker `json:"workers,omitempty"`
}

// Metrics is the JSON form of coord.Metrics.
type Metrics struct {
	HeartbeatCount    uint64            `json:"heartbeat_count"`
	ElectionCount     uint64            `json:"election_count"`
	LeaderChanges     uint64            `json:"leader_changes"`
	WorkerCount       int               `json:"worker_count"`
	LastHeartbeatTime *time.Time        `json:"last_heartbeat_time,omitempty"`
	Epoch             uint64            `json:"epoch"`
	IsLeader          bool              `json:"is_leader"`
	Requests          map[string]uint64 `json:"requests"`
	Conflicts         uint64            `json:"conflicts"`
	PreconditionsLost uint64            `json:"preconditions_lost"`
	Errors            uint64            `json:"errors"`
	CorruptRecords    uint64            `json:"corrupt_records"`
	HeartbeatLatency  Latency           `json:"heartbeat_latency_seconds"`
	Breaker           string            `json:"breaker"`
	BreakerTrips      uint64            `json:"breaker_trips"`
	FallbackActive    bool              `json:"fallback_active"`
	DroppedEvents     uint64            `json:"dropped_events"`
	Subscribed        int               `json:"subscribed"`
}

// Latency holds heartbeat latency percentiles in seconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// FromStatus converts a coord.Status to its JSON form.
func FromStatus(st coord.Status) Status {
	out := Status{
		Namespace: st.Namespace, Mode: string(st.Mode), Plugin: st.Plugin, WorkerID: st.WorkerID,
		IsLeader: st.IsLeader, Leader: fromLease(st.Leader),
		HasLeader: HasLeader(st.Leader, st.LeaseAge),
		Workers:   fromWorkers(st.Workers), Plugins: []Plugin{},
	}
	out.LeaderState = LeaderNone
	if out.HasLeader {
		out.LeaderState = LeaderHeld
	}
	if !st.Leader.Modified.IsZero() && !st.ServerTime.IsZero() {
		age := st.LeaseAge.Seconds()
		out.LeaseAgeSeconds = &age
	}
	out.ServerTime = timePtr(st.ServerTime)
	for _, p := range st.Plugins {
		out.Plugins = append(out.Plugins, Plugin{Name: p.Plugin, Lease: fromLease(p.Leader), Workers: fromWorkers(p.Workers)})
	}
	if st.Metrics != nil {
		m := fromMetrics(*st.Metrics)
		out.Metrics = &m
	}
	return out
}

// HasLeader reports whether a lease names a live holder as far as one
// read can tell: a holder id, not released, not corrupt, and, when age is
// known (nonzero), no older than the lease duration. age must be measured
// on the store's clock (coord.Status.LeaseAge); a lease older than its
// duration has expired for every follower too. A plugin lease delegated
// to the namespace lease is not rewritten while delegated, so its age
// says nothing: it counts as held (judge the namespace lease instead).
func HasLeader(li coord.LeaderInfo, age time.Duration) bool {
	if li.ID == "" || li.Released || li.Corrupt != nil {
		return false
	}
	return li.Delegated || li.Lease <= 0 || age <= li.Lease
}

func fromLease(li coord.LeaderInfo) Lease {
	l := Lease{
		ID: li.ID, Epoch: li.Epoch, Released: li.Released, ReleasedBy: li.ReleasedBy, Version: li.Version,
		Renewed: timePtr(li.Renewed), Modified: timePtr(li.Modified), LeaseSeconds: li.Lease.Seconds(),
		Mode: string(li.Mode), Delegated: li.Delegated, NamespaceEpoch: li.NamespaceEpoch, Plugins: li.Plugins,
	}
	if li.Corrupt != nil {
		l.Corrupt = li.Corrupt.Error()
	}
	return l
}

func fromWorkers(ws []coord.Worker) []Worker {
	out := make([]Worker, 0, len(ws))
	for _, w := range ws {
		out = append(out, Worker{ID: w.ID, LastSeen: w.LastSeen, AgeSeconds: w.Age.Seconds(), Mode: string(w.Mode), Meta: w.Meta})
	}
	return out
}

func fromMetrics(m coord.Metrics) Metrics {
	out := Metrics{
		HeartbeatCount: m.HeartbeatCount, ElectionCount: m.ElectionCount, LeaderChanges: m.LeaderChanges,
		WorkerCount: m.WorkerCount, LastHeartbeatTime: timePtr(m.LastHeartbeatTime), Epoch: m.Epoch,
		IsLeader: m.IsLeader, Requests: map[string]uint64{}, Conflicts: m.Requests.Conflicts,
		PreconditionsLost: m.PreconditionsLost, Errors: m.Errors, CorruptRecords: m.CorruptRecords,
		HeartbeatLatency: Latency{
			P50: m.HeartbeatP50.Seconds(), P95: m.HeartbeatP95.Seconds(), P99: m.HeartbeatP99.Seconds(),
		},
		Breaker: m.Breaker, BreakerTrips: m.BreakerTrips, FallbackActive: m.FallbackActive,
		DroppedEvents: m.DroppedEvents, Subscribed: len(m.Plugins),
	}
	for _, c := range driver.Classes() {
		out.Requests[c.String()] = m.Requests.Of(c)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
