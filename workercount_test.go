package coord_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// countsEqual reports whether every hub's WorkerCount is want.
func countsEqual(hubs []*coord.Hub, want int) bool {
	for _, h := range hubs {
		if h == nil {
			continue
		}
		cs := h.Coordinators()
		if len(cs) != 1 || cs[0].Metrics().WorkerCount != want {
			return false
		}
	}
	return true
}

func counts(hubs []*coord.Hub) []int {
	var out []int
	for _, h := range hubs {
		if h == nil {
			continue
		}
		for _, c := range h.Coordinators() {
			out = append(out, c.Metrics().WorkerCount)
		}
	}
	return out
}

// TestWorkerCountOnEveryProcess: WorkerCount (coord_workers, status.json)
// equals the active workers on the leader and on every follower within
// WorkerTimeout + HeartbeatInterval of a worker joining, leaving and
// crashing, and stays equal in between. It costs no request: the leader
// counts with one renewal's read-back in three, a LIST instead of the GET
// (218 LISTs and 436 GETs for 654 renewals an hour at the defaults; its
// own LIST every 13.5 s, 267 an hour, came on top of 654 GETs before).
func TestWorkerCountOnEveryProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := coord.DefaultConfig()
		bound := cfg.WorkerTimeout + cfg.HeartbeatInterval
		store := mem.New(mem.Options{})
		var hubs []*coord.Hub
		var subs []*coord.Subscription
		start := func(i int) {
			h := newHub(t, store, coord.Config{RandSeed: uint64(i + 1), WorkerID: fmt.Sprint("w", i)})
			s, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hubs, subs = append(hubs, h), append(subs, s)
		}
		for i := range 3 {
			start(i)
		}
		// settle: the active workers became want at changed (now if
		// zero); every WorkerCount says so within bound.
		settle := func(what string, want int, changed time.Time) {
			t.Helper()
			if changed.IsZero() {
				changed = time.Now()
			}
			waitFor(t, 3*bound, what, func() bool { return countsEqual(hubs, want) })
			if took := time.Since(changed); took > bound {
				t.Errorf("%s: WorkerCount %d everywhere %v after the change, want within %v", what, want, took, bound)
			}
			for range 60 { // and it stays so
				time.Sleep(time.Second)
				synctest.Wait()
				if !countsEqual(hubs, want) {
					t.Fatalf("%s: WorkerCounts %v, want %d on every process", what, counts(hubs), want)
				}
			}
		}
		settle("three started", 3, time.Time{})
		start(3)
		settle("a fourth joined", 4, time.Time{})
		lead := leaderOf(subs...)[0]
		follower := (lead + 1) % 4
		if err := hubs[follower].Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		hubs[follower] = nil
		settle("a follower closed", 3, time.Time{})
		other := (lead + 2) % 4
		// A crashed worker is active until its record is WorkerTimeout
		// old: that is when the count must change.
		res, err := store.List(t.Context(), "plg_coordinator_global/default/workers/w"+fmt.Sprint(other)+".json")
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("listing the record of w%d: %v %+v", other, err, res.Entries)
		}
		crash(hubs[other])
		hubs[other] = nil
		inactive := res.Entries[0].Modified.Add(cfg.WorkerTimeout)
		for time.Now().Before(inactive.Add(-cfg.HeartbeatInterval)) {
			time.Sleep(time.Second)
			synctest.Wait()
			if !countsEqual(hubs, 3) {
				t.Fatalf("WorkerCounts %v while the crashed worker's record is still active", counts(hubs))
			}
		}
		settle("a follower crashed", 2, inactive)

		lister := hubs[lead].Coordinators()[0]
		before := lister.Metrics().Requests
		var totals []uint64
		for _, h := range hubs {
			if h != nil {
				totals = append(totals, h.Coordinators()[0].Metrics().Requests.Total())
			}
		}
		time.Sleep(time.Hour)
		after := lister.Metrics().Requests
		lists, reads, renewals := after.List-before.List, after.Get-before.Get+after.List-before.List, after.Put-before.Put
		i, leaderTotal := 0, uint64(0)
		for j, h := range hubs {
			if h != nil {
				totals[i] = h.Coordinators()[0].Metrics().Requests.Total() - totals[i]
				if j == lead {
					leaderTotal = totals[i]
				}
				i++
			}
		}
		t.Logf("the leader in an hour: %d renewals, %d reads of which %d LISTs; requests in an hour per process: %v, the leader's %d (WorkerCounts %v)",
			renewals, reads, lists, totals, leaderTotal, counts(hubs))
		if lists < renewals/3-5 || lists > renewals/3+5 {
			t.Errorf("the leader listed %d times in an hour, want one renewal's read-back in three: %d", lists, renewals/3)
		}
		// Besides its read-backs, a leader reads the unsafe-store notice
		// once per LeaseTimeout (Hub.checkNotice).
		notices := uint64(time.Hour/coord.DefaultConfig().LeaseTimeout) + 2
		if reads > renewals+notices {
			t.Errorf("the leader read %d times (GET and LIST) for %d renewals, want one read-back per renewal and at most %d notice reads: counting must add no request", reads, renewals, notices)
		}
		for _, h := range hubs {
			if h != nil {
				_ = h.Close(context.Background())
			}
		}
	})
}

// TestDuplicateWorkerIDWarns: three processes started with one WorkerID
// (the service example's mistake) are told, at Warn, and count it in
// Metrics.DuplicateWorkerIDs, within a beat; a process restarted with its
// own id after its record went stale is not.
func TestDuplicateWorkerIDWarns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var logs []*syncWriter
		var hubs []*coord.Hub
		for i := range 3 {
			buf := &syncWriter{w: &bytes.Buffer{}}
			logs = append(logs, buf)
			h := newHub(t, store, coord.Config{RandSeed: uint64(i + 1), WorkerID: "reporter-1",
				Logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if _, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
				t.Fatal(err)
			}
			hubs = append(hubs, h)
			time.Sleep(time.Second)
		}
		time.Sleep(coord.DefaultConfig().WorkerTimeout)
		synctest.Wait()
		warned := 0
		for i, h := range hubs {
			d := h.Coordinators()[0].Metrics().DuplicateWorkerIDs
			w := strings.Contains(logs[i].String(), "duplicate worker id")
			t.Logf("process %d: DuplicateWorkerIDs %d, warned %v", i, d, w)
			if d > 0 != w {
				t.Errorf("process %d: DuplicateWorkerIDs %d but warned %v", i, d, w)
			}
			if w {
				warned++
			}
		}
		if warned < 2 {
			t.Errorf("%d of 3 processes sharing one WorkerID warned, want at least 2 (a leader writes no record)", warned)
		}
		for _, h := range hubs {
			_ = h.Close(context.Background())
		}

		// A restart after the record went stale: nothing said.
		buf := &syncWriter{w: &bytes.Buffer{}}
		first := newHub(t, store, coord.Config{RandSeed: 9, WorkerID: "solo"})
		if _, err := first.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		crash(first)
		time.Sleep(2 * coord.DefaultConfig().WorkerTimeout)
		again := newHub(t, store, coord.Config{RandSeed: 10, WorkerID: "solo",
			Logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if _, err := again.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if d := again.Coordinators()[0].Metrics().DuplicateWorkerIDs; d != 0 || buf.String() != "" {
			t.Errorf("a restart after the record went stale: DuplicateWorkerIDs %d, logs %q", d, buf.String())
		}
		_ = again.Close(context.Background())
	})
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
