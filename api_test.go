package coord_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// A per-plugin worker that finds the plugin lease deleted (by hand) while
// a global leader leads the plugin does not take it: the namespace record
// lists the plugin.
func TestDeletedDelegatedLeaseIsStillHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		rec := &recorder{}
		g := newHub(t, store, coord.Config{RandSeed: 1, WorkerID: "global"})
		gs, err := g.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "global leader", gs)
		time.Sleep(20 * time.Second)
		if err := store.Delete(t.Context(), "plg_coordinator_global/default/plugins/queue/state.json", driver.None); err != nil {
			t.Fatal(err)
		}
		p := newHub(t, store, coord.Config{RandSeed: 2, WorkerID: "perplugin"})
		ps, err := p.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{Mode: coord.PerPlugin})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if isLeading(ps) || !isLeading(gs) {
			t.Fatalf("per-plugin leader=%v global leader=%v: the global leader must keep the plugin", isLeading(ps), isLeading(gs))
		}
		// The global process leaves: the per-plugin one takes over.
		if err := g.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "per-plugin takeover", ps)
		p.Close(context.Background())
		checkNoOverlap(t, rec.intervals())
	})
}

// Observers hear every change with the plugin's epoch, Watch sees the
// namespace's, Periodic ticks only while leading, and a slow observer never
// blocks the loop.
func TestNotifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var mu sync.Mutex
		changes := map[string][]plugin.Change{}
		var ticks atomic.Int32
		mk := func(who string) plugin.Plugin {
			return &plugin.Func{
				OnChange: func(c plugin.Change) {
					mu.Lock()
					changes[who] = append(changes[who], c)
					mu.Unlock()
				},
				Every:  2 * time.Second,
				OnTick: func(ctx context.Context, term plugin.Term) error { ticks.Add(1); return nil },
			}
		}
		a := newHub(t, store, coord.Config{RandSeed: 1, WorkerID: "a"})
		sa, err := a.Use(t.Context(), "queue", mk("a"), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := a.GlobalCoordinator(t.Context(), "default")
		events := ca.Observe(t.Context())
		waitLeader(t, time.Minute, "a leads", sa)
		b := newHub(t, store, coord.Config{RandSeed: 2, WorkerID: "b"})
		sb, err := b.Use(t.Context(), "queue", mk("b"), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A slow observer: blocks for a long time on every call.
		blocked := make(chan struct{})
		if _, err := b.Use(t.Context(), "slow", &plugin.Func{OnChange: func(plugin.Change) { <-blocked }}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		termA, _ := sa.Term()
		if n := ticks.Load(); n < 8 || n > 12 {
			t.Errorf("%d ticks in 20s at a 2s interval", n)
		}
		if err := a.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "b leads", sb)
		termB, _ := sb.Term()
		if termB.Epoch <= termA.Epoch {
			t.Errorf("plugin epochs %d then %d: want an increase", termA.Epoch, termB.Epoch)
		}
		time.Sleep(10 * time.Second)
		mu.Lock()
		gotB := changes["b"]
		mu.Unlock()
		// b saw a lead the plugin, then itself.
		var sawA, sawSelf bool
		for _, c := range gotB {
			if c.To == "a" && c.Epoch == termA.Epoch && !c.Self {
				sawA = true
			}
			if c.To == "b" && c.Self && c.Epoch == termB.Epoch {
				sawSelf = true
			}
		}
		if !sawA || !sawSelf {
			t.Errorf("b's observer saw %+v; want a (epoch %d) then itself (epoch %d)", gotB, termA.Epoch, termB.Epoch)
		}
		// a's watch was closed when a stopped, after its last event: a
		// stepping down (its own election may have been seen before the
		// watch began).
		var ns []plugin.Change
		for ch := range events {
			ns = append(ns, ch)
		}
		if len(ns) == 0 || ns[len(ns)-1].From != "a" || ns[len(ns)-1].To != "" || ns[len(ns)-1].Epoch != 1 {
			t.Errorf("a's watch: %+v, want a last change from a (epoch 1) to none", ns)
		}
		for _, ch := range ns {
			if ch.To == "a" && (!ch.Self || ch.Epoch != 1) {
				t.Errorf("a's watch: %+v", ch)
			}
		}
		close(blocked)
		b.Close(context.Background())
	})
}

func TestNamespaceIsolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		h := newHub(t, store, coord.Config{RandSeed: 1})
		sa, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Namespace: "tenant-a"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Namespace: "tenant-b"})
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := h.GlobalCoordinator(t.Context(), "tenant-a")
		cb, _ := h.GlobalCoordinator(t.Context(), "tenant-b")
		if ca == cb || len(h.Coordinators()) != 2 {
			t.Fatal("two namespaces share a coordinator")
		}
		if m := ca.Metrics(); m.Namespace != "tenant-a" || len(m.Plugins) != 1 || m.Plugins[0] != "queue" || sa.Metrics().Namespace != "tenant-a" {
			t.Fatalf("GlobalCoordinator returned another coordinator than Use: %+v", m)
		}
		time.Sleep(10 * time.Second)
		wa, err := ca.ActiveWorkers(t.Context())
		if err != nil || len(wa) != 1 || !strings.HasPrefix(wa[0].ID, "gcs-tenant-a-") {
			t.Fatalf("tenant-a workers %+v, %v", wa, err)
		}
		wb, _ := cb.ActiveWorkers(t.Context())
		if len(wb) != 1 || wb[0].ID == wa[0].ID {
			t.Fatalf("tenant-b workers %+v", wb)
		}
		res, _ := store.List(t.Context(), "plg_coordinator_global/tenant-a/")
		for _, e := range res.Entries {
			if strings.Contains(e.Key, "tenant-b") {
				t.Errorf("tenant-a prefix holds %s", e.Key)
			}
		}
		if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Namespace: "tenant-a"}); !errors.Is(err, coord.ErrAlreadySubscribed) {
			t.Errorf("second use of a name: %v", err)
		}
		h.Close(context.Background())
	})
}

func TestMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var hubs []*coord.Hub
		for i := range 3 {
			h := newHub(t, store, coord.Config{RandSeed: uint64(i + 1), WorkerID: fmt.Sprintf("w%d", i)})
			if _, err := h.GlobalCoordinator(t.Context(), "default"); err != nil {
				t.Fatal(err)
			}
			hubs = append(hubs, h)
		}
		time.Sleep(30 * time.Second)
		c, _ := hubs[0].GlobalCoordinator(t.Context(), "default")
		ws, err := c.ActiveWorkers(t.Context())
		if err != nil || len(ws) != 3 {
			t.Fatalf("ActiveWorkers = %+v, %v; want 3", ws, err)
		}
		// A crashed worker drops out after WorkerTimeout and its record is
		// cleaned up by the leader; a stopped one removes its own record.
		crash(hubs[1])
		if err := hubs[2].Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Second)
		ws, _ = c.ActiveWorkers(t.Context())
		if len(ws) != 1 || ws[0].ID != "w0" {
			t.Fatalf("after a crash and a stop: %+v", ws)
		}
		if _, err := store.Get(t.Context(), "plg_coordinator_global/default/workers/w2.json"); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("stopped worker's record: %v, want deleted", err)
		}
		time.Sleep(3 * time.Minute)
		if _, err := store.Get(t.Context(), "plg_coordinator_global/default/workers/w1.json"); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("crashed worker's record: %v, want cleaned up by the leader", err)
		}
		// The one worker left leads: its renewals are its only PUTs (a
		// leader writes no worker record while it leads).
		before := store.Requests()
		time.Sleep(time.Hour)
		puts := store.Requests().Sub(before).Put
		if leaderPuts := c.Metrics().HeartbeatCount; puts < 600 || puts > 720 {
			t.Errorf("%d PUTs in an hour (%d heartbeats), want one renewal per heartbeat and no worker record", puts, leaderPuts)
		}
		hubs[0].Close(context.Background())
	})
}

func TestDiagnosticsLogLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		h := newHub(t, mem.New(mem.Options{}), coord.Config{Diagnostics: true, Logger: logger, WorkerID: "gcs-default-1234567890-abc123"})
		for _, name := range []string{"queue", "ttl"} {
			if _, err := h.Use(t.Context(), name, plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(6 * time.Second)
		h.Close(context.Background())
		out := logs.String()
		for _, want := range []string{
			"[coordinator:global] [default] Service started",
			"[coordinator:global] [default] Leader changed: none → gcs-default-1234567890-abc123 (epoch: 1)",
			"[coordinator:global] [default] Plugin subscribed: queue",
			"[coordinator:global] [default] Plugin subscribed: ttl",
			"[coordinator:global] [default] Heartbeat cycle executed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing log line %q in:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "Service started"); n != 1 {
			t.Errorf("%d services started for two plugins, want one", n)
		}
	})
}

func TestStatusAndForceRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		rec := &recorder{}
		a := newHub(t, store, coord.Config{RandSeed: 1, WorkerID: "a"})
		if _, err := a.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		b := newHub(t, store, coord.Config{RandSeed: 2, WorkerID: "b"})
		if _, err := b.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		st, err := coord.ReadStatus(t.Context(), store, "", "default", 0)
		if err != nil {
			t.Fatal(err)
		}
		leader := st.Leader.ID
		if (leader != "a" && leader != "b") || st.Leader.Epoch != 1 || st.Leader.Plugins["queue"] == 0 || len(st.Workers) != 2 {
			t.Fatalf("status %+v", st)
		}
		if len(st.Plugins) != 1 || !st.Plugins[0].Leader.Delegated || st.Plugins[0].Leader.ID != leader {
			t.Fatalf("plugins %+v", st.Plugins)
		}
		if err := coord.ForceRelease(t.Context(), store, "", "default", "queue", ""); !errors.Is(err, coord.ErrDelegated) {
			t.Errorf("releasing a delegated plugin lease: %v, want ErrDelegated", err)
		}
		if err := coord.ForceRelease(t.Context(), store, "", "default", "", "stale-version"); !errors.Is(err, coord.ErrChanged) {
			t.Errorf("release with a stale version: %v, want ErrChanged", err)
		}
		cur, _ := coord.ReadStatus(t.Context(), store, "", "default", 0)
		if err := coord.ForceRelease(t.Context(), store, "", "default", "", cur.Leader.Version); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		st, _ = coord.ReadStatus(t.Context(), store, "", "default", 0)
		if st.Leader.Epoch < 2 || st.Leader.Released {
			t.Errorf("after a forced release: %+v, want a re-election", st.Leader)
		}
		ca, _ := a.GlobalCoordinator(t.Context(), "default")
		cst, err := ca.Status(t.Context())
		if err != nil || cst.Metrics == nil || len(cst.Plugins) != 1 {
			t.Errorf("Coordinator.Status = %+v, %v", cst, err)
		}
		a.Close(context.Background())
		b.Close(context.Background())
		checkNoOverlap(t, rec.intervals())
	})
}
