package coordprom_test

import (
	"context"
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
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// gather returns the metric families of collectors by name.
func gather(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	fs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fs {
		out[f.GetName()] = f
	}
	return out
}

// find returns the metric of family f whose labels include want.
func find(f *dto.MetricFamily, want ...string) *dto.Metric {
	for _, m := range f.GetMetric() {
		ok := true
		for i := 0; i < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			ok = ok && found
		}
		if ok {
			return m
		}
	}
	return nil
}

// TestLeadershipSeries: coord_plugin_leader follows each process's
// leadership of each plugin; a leader cut off from the store counts a
// renew_deadline end, and its successor's gauge turns 1.
func TestLeadershipSeries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		va := faultstore.New(store, 1)
		a, err := coord.NewHub(va, coord.Config{WorkerID: "a", RandSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := coord.NewHub(store, coord.Config{WorkerID: "b", RandSeed: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { va.Partition(0); _ = a.Close(context.Background()); _ = b.Close(context.Background()) }()
		for _, h := range []*coord.Hub{a, b} {
			if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Second)
			synctest.Wait()
		}
		ca, cb := coordprom.New(a), coordprom.New(b)
		leader := func(c *coordprom.Collector) float64 {
			m := find(gather(t, c)["coord_plugin_leader"], "namespace", "default", "plugin", "queue")
			if m == nil {
				t.Fatal("no coord_plugin_leader series for default/queue")
			}
			return m.GetGauge().GetValue()
		}
		if la, lb := leader(ca), leader(cb); la != 1 || lb != 0 {
			t.Fatalf("coord_plugin_leader: a %v, b %v; want 1 and 0", la, lb)
		}
		if m := find(gather(t, ca)["coord_store_check"], "result", "passed"); m == nil || m.GetGauge().GetValue() != 1 {
			t.Errorf("coord_store_check{result=passed}: %v", m)
		}
		va.Partition(time.Second)
		time.Sleep(time.Minute)
		synctest.Wait()
		if la, lb := leader(ca), leader(cb); la != 0 || lb != 1 {
			t.Fatalf("after a partition: coord_plugin_leader a %v, b %v; want 0 and 1", la, lb)
		}
		fs := gather(t, ca)
		if m := find(fs["coord_leadership_ends_total"], "cause", "renew_deadline", "plugin", ""); m == nil || m.GetCounter().GetValue() != 1 {
			t.Errorf("a: coord_leadership_ends_total{cause=renew_deadline}: %v", m)
		}
		if m := find(fs["coord_circuit_breaker_trips_total"]); m == nil || m.GetCounter().GetValue() == 0 {
			t.Errorf("a: breaker trips %v after a minute partitioned", m)
		}
	})
}

// TestHeartbeatHistogram: the histogram holds every heartbeat once
// (bucket counts add up to the count, which follows HeartbeatCount from
// one scrape to the next) and counts those a late scrape missed.
func TestHeartbeatHistogram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		view := faultstore.New(mem.New(mem.Options{}), 1)
		view.Set(faultstore.Faults{RequestDelay: faultstore.Delay{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond}})
		h, err := coord.NewHub(view, coord.Config{DisableMembership: true})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		c, err := h.GlobalCoordinator(t.Context(), "default")
		if err != nil {
			t.Fatal(err)
		}
		col := coordprom.New(h)
		check := func(wantMissed uint64) *dto.Histogram {
			t.Helper()
			fs := gather(t, col)
			hist := fs["coord_heartbeat_duration_seconds"].GetMetric()[0].GetHistogram()
			missed := uint64(fs["coord_heartbeat_samples_missed_total"].GetMetric()[0].GetCounter().GetValue())
			beats := c.Metrics().HeartbeatCount
			if hist.GetSampleCount()+missed != beats || missed != wantMissed {
				t.Errorf("histogram count %d + missed %d, want %d heartbeats with %d missed", hist.GetSampleCount(), missed, beats, wantMissed)
			}
			bs := hist.GetBucket()
			if len(bs) != len(coordprom.LatencyBuckets) || bs[len(bs)-1].GetCumulativeCount() != hist.GetSampleCount() {
				t.Errorf("buckets %v for %d samples", bs, hist.GetSampleCount())
			}
			return hist
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		first := check(0)
		// Each heartbeat of the leader is its lease read back (a GET) and
		// its renewal (a PUT), each of 20-80 ms here.
		if mean := first.GetSampleSum() / float64(first.GetSampleCount()); mean < 0.04 || mean > 0.16 {
			t.Errorf("mean heartbeat %.3fs, want within the store's 40-160 ms (two requests)", mean)
		}
		// (The first cycle of a new leader sends several requests.)
		if bs, n := first.GetBucket(), first.GetSampleCount(); bs[2].GetCumulativeCount() != 0 || bs[5].GetCumulativeCount() != n-1 {
			t.Errorf("buckets: %d at <= 25ms (want 0), %d at <= 250ms (want all %d but the first)", bs[2].GetCumulativeCount(), bs[5].GetCumulativeCount(), n)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if second := check(0); second.GetSampleCount() <= first.GetSampleCount() {
			t.Errorf("count went from %d to %d", first.GetSampleCount(), second.GetSampleCount())
		}
		before := c.Metrics().HeartbeatCount
		time.Sleep(30 * time.Minute) // > 256 heartbeats between two scrapes
		synctest.Wait()
		check(c.Metrics().HeartbeatCount - before - 256)
	})
}

func TestInstrumentStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		view := faultstore.New(mem.New(mem.Options{}), 1)
		view.Set(faultstore.Faults{RequestDelay: faultstore.Delay{Min: 30 * time.Millisecond, Max: 30 * time.Millisecond}})
		s := coordprom.InstrumentStore(view)
		ctx := t.Context()
		v, err := s.Put(ctx, "k", []byte("x"), driver.IfAbsent())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "k", []byte("y"), driver.IfAbsent()); err == nil {
			t.Fatal("second IfAbsent put succeeded")
		}
		if _, err := s.Get(ctx, "missing"); err == nil {
			t.Fatal("get of a missing key succeeded")
		}
		if err := s.Delete(ctx, "k", driver.IfMatch(v)); err != nil && !strings.Contains(err.Error(), "unsupported") {
			t.Fatal(err)
		}
		view.FailNext(1)
		if _, err := s.List(ctx, ""); err == nil {
			t.Fatal("injected failure did not fail")
		}
		if got := testutil.CollectAndCount(s, "coord_request_duration_seconds"); got != 5 {
			t.Errorf("%d series, want 5 (PUT ok, PUT precondition, GET not_found, DELETE ok, LIST error)", got)
		}
		fs := gather(t, s)
		f := fs["coord_request_duration_seconds"]
		for _, want := range [][2]string{{"PUT", "ok"}, {"PUT", "precondition"}, {"GET", "not_found"}, {"LIST", "error"}} {
			m := find(f, "class", want[0], "outcome", want[1])
			if m == nil || m.GetHistogram().GetSampleCount() != 1 {
				t.Errorf("%s %s: %v", want[0], want[1], m)
				continue
			}
			if want[1] != "error" && m.GetHistogram().GetSampleSum() != 0.03 {
				t.Errorf("%s %s: sum %v, want the store's 30 ms", want[0], want[1], m.GetHistogram().GetSampleSum())
			}
		}
		problems, err := testutil.CollectAndLint(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	})
}
