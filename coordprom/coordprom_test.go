package coordprom_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordprom"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// cluster starts two processes (hubs) on one store inside the current
// synctest bubble: hub a uses plugin "queue" in Global mode and "mailer"
// in PerPlugin mode; hub b uses "queue" in Global mode. Hub a starts
// first, so it leads the namespace lease at epoch 1.
func cluster(t *testing.T, store driver.Store) (a, b *coord.Hub) {
	t.Helper()
	open := func(id string) *coord.Hub {
		h, err := coord.NewHub(store, coord.Config{WorkerID: id, RandSeed: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		return h
	}
	a = open("worker-a")
	if _, err := a.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Use(t.Context(), "mailer", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin}); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	b = open("worker-b")
	if _, err := b.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	// Let both write their worker records, then have every coordinator
	// count the workers (the count is taken at a listing).
	time.Sleep(30 * time.Second)
	synctest.Wait()
	for _, h := range []*coord.Hub{a, b} {
		for _, c := range h.Coordinators() {
			if _, err := c.ActiveWorkers(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	synctest.Wait()
	return a, b
}

// seriesPerCoordinator is the number of series one coordinator exports
// once it has run a heartbeat: 16 single series, 5 request classes, 3
// breaker states, the heartbeat histogram and its missed count, 5 causes
// of ended leaderships, lead returns, lead errors, unsafe store, duplicate
// worker ids.
const seriesPerCoordinator = 16 + 5 + 3 + 2 + 5 + 4

// seriesPerHub: the store check's 5 results.
const seriesPerHub = 5

func TestCollectAndCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cluster(t, mem.New(mem.Options{}))
		ca, cb := coordprom.New(a), coordprom.New(b)
		if n := len(a.Coordinators()); n != 2 {
			t.Fatalf("hub a runs %d coordinators, want 2 (namespace and mailer)", n)
		}
		// plus one coord_plugin_leader per subscribed plugin
		if got, want := testutil.CollectAndCount(ca), 2*seriesPerCoordinator+seriesPerHub+2; got != want {
			t.Errorf("hub a: %d series, want %d", got, want)
		}
		if got, want := testutil.CollectAndCount(cb), seriesPerCoordinator+seriesPerHub+1; got != want {
			t.Errorf("hub b: %d series, want %d", got, want)
		}
		if got := testutil.CollectAndCount(ca, "coord_requests_total"); got != 2*len(driver.Classes()) {
			t.Errorf("hub a: %d coord_requests_total series, want one per class per coordinator", got)
		}
	})
}

func TestCollectAndCompare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cluster(t, mem.New(mem.Options{}))
		expectA := `
# HELP coord_coordinator_info A running coordinator of this process; worker_id is this process's worker id in the election.
# TYPE coord_coordinator_info gauge
coord_coordinator_info{mode="global",namespace="default",plugin="",worker_id="worker-a"} 1
coord_coordinator_info{mode="per-plugin",namespace="default",plugin="mailer",worker_id="worker-a"} 1
# HELP coord_epoch Epoch (fencing token) of the leader this process last knew of.
# TYPE coord_epoch gauge
coord_epoch{mode="global",namespace="default",plugin=""} 1
coord_epoch{mode="per-plugin",namespace="default",plugin="mailer"} 1
# HELP coord_is_leader 1 when this process leads the election now, else 0.
# TYPE coord_is_leader gauge
coord_is_leader{mode="global",namespace="default",plugin=""} 1
coord_is_leader{mode="per-plugin",namespace="default",plugin="mailer"} 1
# HELP coord_workers Active workers of the election, this process included: the leader's count from the listing that is one renewal's read-back in three at defaults, written in its lease for followers; equal to the active workers within WorkerTimeout + HeartbeatInterval.
# TYPE coord_workers gauge
coord_workers{mode="global",namespace="default",plugin=""} 2
coord_workers{mode="per-plugin",namespace="default",plugin="mailer"} 1
# HELP coord_subscribed_plugins Plugins subscribed to this coordinator.
# TYPE coord_subscribed_plugins gauge
coord_subscribed_plugins{mode="global",namespace="default",plugin=""} 1
coord_subscribed_plugins{mode="per-plugin",namespace="default",plugin="mailer"} 1
# HELP coord_fallback_active 1 when this coordinator runs a plugin per-plugin because the global coordinator could not start.
# TYPE coord_fallback_active gauge
coord_fallback_active{mode="global",namespace="default",plugin=""} 0
coord_fallback_active{mode="per-plugin",namespace="default",plugin="mailer"} 0
# HELP coord_circuit_breaker_state 1 for the circuit breaker's current state, 0 for the others.
# TYPE coord_circuit_breaker_state gauge
coord_circuit_breaker_state{mode="global",namespace="default",plugin="",state="closed"} 1
coord_circuit_breaker_state{mode="global",namespace="default",plugin="",state="half-open"} 0
coord_circuit_breaker_state{mode="global",namespace="default",plugin="",state="open"} 0
coord_circuit_breaker_state{mode="per-plugin",namespace="default",plugin="mailer",state="closed"} 1
coord_circuit_breaker_state{mode="per-plugin",namespace="default",plugin="mailer",state="half-open"} 0
coord_circuit_breaker_state{mode="per-plugin",namespace="default",plugin="mailer",state="open"} 0
# HELP coord_errors_total Failed storage requests (not lost preconditions, not misses) and corrupt records.
# TYPE coord_errors_total counter
coord_errors_total{mode="global",namespace="default",plugin=""} 0
coord_errors_total{mode="per-plugin",namespace="default",plugin="mailer"} 0
`
		names := []string{
			"coord_coordinator_info", "coord_epoch", "coord_is_leader", "coord_workers", "coord_subscribed_plugins",
			"coord_fallback_active", "coord_circuit_breaker_state", "coord_errors_total",
		}
		if err := testutil.CollectAndCompare(coordprom.New(a), strings.NewReader(expectA), names...); err != nil {
			t.Error("hub a:", err)
		}
		expectB := `
# HELP coord_epoch Epoch (fencing token) of the leader this process last knew of.
# TYPE coord_epoch gauge
coord_epoch{mode="global",namespace="default",plugin=""} 1
# HELP coord_is_leader 1 when this process leads the election now, else 0.
# TYPE coord_is_leader gauge
coord_is_leader{mode="global",namespace="default",plugin=""} 0
# HELP coord_elections_total Takeover writes attempted: acquisitions of the lease and, in global mode, claims of plugin leases.
# TYPE coord_elections_total counter
coord_elections_total{mode="global",namespace="default",plugin=""} 0
`
		if err := testutil.CollectAndCompare(coordprom.New(b), strings.NewReader(expectB), "coord_epoch", "coord_is_leader", "coord_elections_total"); err != nil {
			t.Error("hub b:", err)
		}
	})
}

// TestValuesMatchMetrics checks every exported series against the
// coordinator's own Metrics snapshot, taken while the bubble is idle.
func TestValuesMatchMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := cluster(t, mem.New(mem.Options{}))
		time.Sleep(10 * time.Minute) // many heartbeats, nonzero counters
		synctest.Wait()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(coordprom.New(a))
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{} // "name{labels}" -> value
		for _, f := range families {
			for _, m := range f.GetMetric() {
				got[f.GetName()+labelString(m)] = value(m)
			}
		}
		for _, c := range a.Coordinators() {
			m := c.Metrics()
			if m.HeartbeatCount < 100 {
				t.Fatalf("%s: only %d heartbeats in 10 minutes", c.Metrics().Mode, m.HeartbeatCount)
			}
			key := func(name string, extra ...string) string {
				m := &dto.Metric{}
				pairs := append([]string{"mode", string(c.Metrics().Mode), "namespace", c.Metrics().Namespace, "plugin", c.Metrics().Plugin}, extra...)
				for i := 0; i < len(pairs); i += 2 {
					m.Label = append(m.Label, &dto.LabelPair{Name: &pairs[i], Value: &pairs[i+1]})
				}
				return name + labelString(m)
			}
			want := map[string]float64{
				key("coord_heartbeats_total"):                             float64(m.HeartbeatCount),
				key("coord_elections_total"):                              float64(m.ElectionCount),
				key("coord_leader_changes_total"):                         float64(m.LeaderChanges),
				key("coord_workers"):                                      float64(m.WorkerCount),
				key("coord_last_heartbeat_timestamp_seconds"):             float64(m.LastHeartbeatTime.UnixNano()) / 1e9,
				key("coord_epoch"):                                        float64(m.Epoch),
				key("coord_is_leader"):                                    1,
				key("coord_request_conflicts_total"):                      float64(m.Requests.Conflicts),
				key("coord_preconditions_lost_total"):                     float64(m.PreconditionsLost),
				key("coord_errors_total"):                                 float64(m.Errors),
				key("coord_corrupt_records_total"):                        float64(m.CorruptRecords),
				key("coord_circuit_breaker_trips_total"):                  float64(m.BreakerTrips),
				key("coord_dropped_events_total"):                         float64(m.DroppedEvents),
				key("coord_heartbeat_duration_seconds"):                   float64(m.HeartbeatCount), // the count: fewer than 256, none missed
				key("coord_heartbeat_samples_missed_total"):               0,
				key("coord_lead_returns_total"):                           float64(m.LeadReturns),
				key("coord_lead_errors_total"):                            float64(m.LeadErrors),
				key("coord_unsafe_store_total"):                           float64(m.UnsafeStore),
				key("coord_duplicate_worker_id_total"):                    float64(m.DuplicateWorkerIDs),
				key("coord_leadership_ends_total", "cause", "lease_lost"): float64(m.Ends.LeaseLost),
				key("coord_leadership_ends_total", "cause", "resigned"):   float64(m.Ends.Resigned),
			}
			for _, class := range driver.Classes() {
				want[key("coord_requests_total", "class", class.String())] = float64(m.Requests.Of(class))
			}
			if m.Requests.Put == 0 || m.Requests.Get == 0 {
				t.Errorf("%s: requests %+v: a leader renews (PUT) and reads (GET)", c.Metrics().Mode, m.Requests)
			}
			for k, v := range want {
				g, ok := got[k]
				if !ok {
					t.Errorf("series %s missing", k)
				} else if g != v {
					t.Errorf("%s = %v, want %v (from Metrics)", k, g, v)
				}
			}
		}
	})
}

func TestLint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := cluster(t, mem.New(mem.Options{}))
		problems, err := testutil.CollectAndLint(coordprom.New(a))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	})
}

// TestTwoHubsOneRegistry shows the documented way to export two hubs:
// each wrapped with a distinguishing label; without it registration fails.
func TestTwoHubsOneRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cluster(t, mem.New(mem.Options{}))
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(coordprom.New(a)); err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(coordprom.New(b)); err == nil {
			t.Fatal("a second hub's collector registered without a distinguishing label")
		}
		reg = prometheus.NewPedanticRegistry()
		for name, h := range map[string]*coord.Hub{"a": a, "b": b} {
			if err := prometheus.WrapRegistererWith(prometheus.Labels{"process": name}, reg).Register(coordprom.New(h)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := testutil.GatherAndCount(reg, "coord_is_leader"); err != nil || n != 3 {
			t.Fatalf("coord_is_leader: %d series (%v), want 3 (two coordinators in a, one in b)", n, err)
		}
	})
}

func labelString(m *dto.Metric) string {
	var parts []string
	ls := slices.Clone(m.GetLabel())
	slices.SortFunc(ls, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}
