//go:build unix

package coord_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// The heartbeat benchmarks measure what a heartbeat costs the process on
// the mem driver, on the real clock (the one production runs): the
// process's CPU time (getrusage: every goroutine, the garbage collector
// included) and its allocations over a real-time window, divided by the
// heartbeats and by the store requests made in it. ns/op and allocs/op
// are per heartbeat; µs/req is CPU per store request. See docs/bench.md,
// "CPU per heartbeat".

// benchHeartbeat is the interval of the measured heartbeats, and
// benchNamespaces how many coordinators beat at once (so that a window
// holds many heartbeats without a short interval).
const (
	benchHeartbeat  = 20 * time.Millisecond
	benchNamespaces = 50
)

// benchCPU is the process's CPU time so far, user and system.
func benchCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRequests is the store's count of requests of every class.
func benchRequests(s *mem.Store) uint64 {
	c := s.Requests()
	return c.Get + c.Put + c.Delete + c.List
}

// benchBeats sums the heartbeat cycles of a Hub's coordinators.
func benchBeats(h *coord.Hub) uint64 {
	var n uint64
	for _, c := range h.Coordinators() {
		n += c.Metrics().HeartbeatCount
	}
	return n
}

// benchIdle leads until its term ends, doing nothing.
var benchIdle = plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
	<-ctx.Done()
	return nil
}}

// benchHub opens a Hub on store and subscribes the plugins in each of
// namespaces (Global mode).
func benchHub(tb testing.TB, store *mem.Store, cfg coord.Config, namespaces int, plugins ...string) *coord.Hub {
	tb.Helper()
	h, err := coord.NewHub(store, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := h.Close(ctx); err != nil && namespaces <= benchNamespaces {
			tb.Error(err)
		} else if err != nil { // a fleet on few cores overruns its close deadlines: not what is measured
			tb.Logf("closing the Hub: %d errors", strings.Count(err.Error(), "\n")+1)
		}
	})
	for i := range namespaces {
		for _, p := range plugins {
			if _, err := h.Use(context.Background(), p, benchIdle, coord.UseOptions{Namespace: "ns" + strconv.Itoa(i)}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return h
}

// benchWait polls cond every d until it holds, failing after limit.
func benchWait(tb testing.TB, d, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(d) {
		if time.Now().After(end) {
			tb.Fatalf("still not %s after %v", what, limit)
		}
	}
}

// benchLeading counts the Hub's coordinators that lead their namespace.
func benchLeading(h *coord.Hub) int {
	n := 0
	for _, c := range h.Coordinators() {
		if c.Metrics().IsLeader {
			n++
		}
	}
	return n
}

// benchMeasure runs b's window: it waits for about b.N heartbeats of h
// (whose coordinators beat every benchHeartbeat) and reports the
// process's CPU and allocations per heartbeat and CPU per request.
func benchMeasure(b *testing.B, h *coord.Hub, store *mem.Store) {
	b.ReportAllocs()
	coords := len(h.Coordinators())
	window := max(time.Duration(b.N)*benchHeartbeat/time.Duration(coords), 2*benchHeartbeat)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	beats0, req0 := benchBeats(h), benchRequests(store)
	b.ResetTimer()
	cpu0 := benchCPU(b)
	time.Sleep(window)
	cpu := benchCPU(b) - cpu0
	b.StopTimer()
	beats, reqs := benchBeats(h)-beats0, benchRequests(store)-req0
	runtime.ReadMemStats(&m1)
	if beats == 0 || reqs == 0 {
		b.Fatalf("no heartbeat in %v (%d heartbeats, %d requests)", window, beats, reqs)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(beats), "ns/op")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(beats), "allocs/op")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(beats), "B/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(reqs), "µs/req")
	b.ReportMetric(float64(reqs)/float64(beats), "req/op")
}

// BenchmarkHeartbeatLeader: one heartbeat of a Global namespace leader
// with one plugin.
func BenchmarkHeartbeatLeader(b *testing.B) {
	store := mem.New(mem.Options{})
	cfg := coord.Config{HeartbeatInterval: benchHeartbeat, LeaseTimeout: time.Minute, WorkerTimeout: time.Minute}
	h := benchHub(b, store, cfg, benchNamespaces, "p")
	benchWait(b, benchHeartbeat, time.Minute, "leading", func() bool { return benchLeading(h) == benchNamespaces })
	benchMeasure(b, h, store)
}

// BenchmarkHeartbeatFollower: one heartbeat of a Global namespace
// follower with one plugin. The leaders are another Hub that renews every
// ten minutes (its CPU is not in the window) and the followers wait an
// hour before they take a lease over, so they follow throughout.
func BenchmarkHeartbeatFollower(b *testing.B) {
	store := mem.New(mem.Options{})
	lead := coord.Config{HeartbeatInterval: 10 * time.Minute, LeaseTimeout: time.Hour, WorkerTimeout: time.Hour}
	l := benchHub(b, store, lead, benchNamespaces, "p")
	benchWait(b, benchHeartbeat, time.Minute, "leading", func() bool { return benchLeading(l) == benchNamespaces })
	follow := coord.Config{HeartbeatInterval: benchHeartbeat, LeaseTimeout: time.Hour, WorkerTimeout: time.Hour}
	f := benchHub(b, store, follow, benchNamespaces, "p")
	benchWait(b, benchHeartbeat, time.Minute, "beating", func() bool { return benchBeats(f) >= 2*benchNamespaces })
	benchMeasure(b, f, store)
	if n := benchLeading(f); n != 0 {
		b.Fatalf("%d followers took a lease over", n)
	}
}

// BenchmarkHeartbeatFleet is the fleet of issue 23: 3 Hubs × N namespaces
// × 3 plugins on one mem store, default timings. Once every plugin has a
// leader it measures the process over a window of COORD_FLEET_WINDOW
// (default 20s) per op and reports the cores used, the store requests per
// second, the CPU per request, and the heap per namespace coordinator
// (its growth from before the Hubs opened, after a collection). N is
// COORD_FLEET_NAMESPACES (default 1000; the figure is at 10000).
// Run it alone: go test -run '^$' -bench HeartbeatFleet -benchtime 1x .
func BenchmarkHeartbeatFleet(b *testing.B) {
	n := benchEnv(b, "COORD_FLEET_NAMESPACES", 1000)
	window := time.Duration(benchEnv(b, "COORD_FLEET_WINDOW", 20)) * time.Second
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	store := mem.New(mem.Options{})
	var hubs []*coord.Hub
	for range 3 {
		hubs = append(hubs, benchHub(b, store, coord.Config{}, n, "a", "b", "c"))
	}
	benchWait(b, time.Second, time.Minute+time.Duration(n)*10*time.Millisecond, "led", func() bool {
		total := 0
		for _, h := range hubs {
			total += benchLeading(h)
		}
		return total == n
	})
	time.Sleep(2 * coord.DefaultConfig().HeartbeatInterval) // past the first beats
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	b.ResetTimer()
	var cpu time.Duration
	var reqs uint64
	for range b.N {
		cpu0, req0 := benchCPU(b), benchRequests(store)
		time.Sleep(window)
		cpu += benchCPU(b) - cpu0
		reqs += benchRequests(store) - req0
	}
	b.StopTimer()
	secs := window.Seconds() * float64(b.N)
	b.ReportMetric(0, "ns/op") // the window's length: not a result
	b.ReportMetric(cpu.Seconds()/secs, "cores")
	b.ReportMetric(float64(reqs)/secs, "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(reqs), "µs/req")
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/1024/float64(3*n), "KiB/coordinator")
}

func benchEnv(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		tb.Fatal(fmt.Errorf("%s=%q: want a positive integer", name, s))
	}
	return v
}
