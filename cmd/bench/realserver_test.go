package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/internal/testserver"
)

// TestRealTimeCountsMatchServer runs a short real-time benchmark against
// the MinIO test server through a counting proxy and checks that the
// benchmark's request counts (the driver's own counters) are the requests
// the server received: exactly over the whole run, and per steady-state
// window up to the requests in flight at the window's edges.
func TestRealTimeCountsMatchServer(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	proxy := testserver.NewCountingProxy(t, srv.Endpoint)
	pu, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	store, err := minio.New(minio.Config{Endpoint: pu.Host, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Region: srv.Region, Bucket: bucket, Prefix: "bench/"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	o := options{plugins: []int{1, 3}, workers: 2, modes: []string{modePerPlugin, modeGlobal}, clock: clockRealTime,
		duration: 1500 * time.Millisecond, interval: 100 * time.Millisecond, trials: 1, membership: true, seed: 1}
	type edge struct{ driver, server driver.Counts }
	var starts, ends []edge
	hook := func(start bool) {
		d, _ := driver.RequestsOf(store)
		e := edge{d, proxy.Counts()}
		if start {
			starts = append(starts, e)
		} else {
			ends = append(ends, e)
		}
	}
	server0 := proxy.Counts()
	st := &openedStore{store: store, shown: "minio (through a counting proxy)", close: func() error { return nil }}
	r, err := benchmarkOn(context.Background(), o, st, realRunner{}, nil, hook)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clock != clockRealTime || r.TimeScale != 50 {
		t.Errorf("clock %s, scale %v; want real time scaled 50× (5s / 100ms)", r.Clock, r.TimeScale)
	}

	// The whole run: every request the driver counted reached the server.
	// A request cancelled at the end of a scenario may still be on its way
	// into the proxy: wait (bounded) for the server side to settle.
	d, _ := driver.RequestsOf(store)
	s := proxy.Counts().Sub(server0)
	for deadline := time.Now().Add(5 * time.Second); s != d && time.Now().Before(deadline); s = proxy.Counts().Sub(server0) {
		select {
		case <-proxy.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, c := range driver.Classes() {
		if d.Of(c) != s.Of(c) {
			t.Errorf("%v: driver counted %d, server received %d", c, d.Of(c), s.Of(c))
		}
	}
	if d.Total() == 0 {
		t.Fatal("no requests at all")
	}

	// Each steady window: the report's counts are the driver's, and the
	// server saw the same up to one request in flight per coordinator at
	// each edge.
	if len(r.Steady) != 4 || len(starts) != 4 || len(ends) != 4 {
		t.Fatalf("%d steady results, %d/%d window edges", len(r.Steady), len(starts), len(ends))
	}
	for i, st := range r.Steady {
		coords := uint64(st.Workers)
		if st.Mode == modePerPlugin {
			coords *= uint64(st.Plugins)
		}
		if got := ends[i].driver.Sub(starts[i].driver); got != st.Requests {
			t.Errorf("%s: report %v, driver delta %v", setupName(st.Plugins, st.Mode), st.Requests, got)
		}
		server := ends[i].server.Sub(starts[i].server)
		for _, c := range driver.Classes() {
			a, b := st.Requests.Of(c), server.Of(c)
			if diff := max(a, b) - min(a, b); diff > 2*coords {
				t.Errorf("%s %v: benchmark %d, server %d", setupName(st.Plugins, st.Mode), c, a, b)
			}
		}
		if want := float64(st.Requests.Total()) * float64(time.Hour) / (float64(st.Window) * r.TimeScale); abs(st.PerHour.Total()-want) > 1e-6*want {
			t.Errorf("%s: %v requests/hour, want %v (scaled)", setupName(st.Plugins, st.Mode), st.PerHour.Total(), want)
		}
	}
	t.Logf("whole run: %v", d)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
