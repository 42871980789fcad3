package coord_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestUnsubscribedLeaderHandsOver: in Global mode the namespace leader
// closes its subscription of a plugin that another process subscribes;
// that process leads the plugin within a heartbeat or two (it led nobody's
// plugin before: only the namespace leader did), never beside it, and the
// plugin goes back to the namespace leader when it subscribes it again.
func TestUnsubscribedLeaderHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := coord.DefaultConfig()
		store := mem.New(mem.Options{})
		rec := &recorder{}
		a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
		sa, err := a.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads", sa)
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
		sb, err := b.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !isLeading(sa) || isLeading(sb) {
			t.Fatalf("a leads %v, b leads %v; want a", isLeading(sa), isLeading(sb))
		}
		if err := sa.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		took := waitLeader(t, 2*time.Minute, "b leads after a unsubscribed", sb)
		if bound := 2 * (cfg.HeartbeatInterval + cfg.HeartbeatJitter); took > bound {
			t.Errorf("b took the plugin %v after a unsubscribed it, want at most %v", took, bound)
		}
		// a subscribes again: as the namespace leader it claims the
		// plugin back, once b's stand-in has let go.
		sa, err = a.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads again", sa)
		time.Sleep(time.Minute)
		synctest.Wait()
		if !isLeading(sa) || isLeading(sb) {
			t.Errorf("after a subscribed again: a leads %v, b leads %v; want a", isLeading(sa), isLeading(sb))
		}
		_ = a.Close(context.Background())
		_ = b.Close(context.Background())
		checkNoOverlap(t, rec.intervals())
	})
}

// TestHeterogeneousFleet: processes that subscribe different plugins, in
// Global mode: every plugin that a live process subscribes has one
// leader, also after the namespace leader crashes and while processes come
// and go, and never two.
func TestHeterogeneousFleet(t *testing.T) {
	cfg := coord.DefaultConfig()
	bound := cfg.LeaseTimeout + cfg.HeartbeatInterval + cfg.HeartbeatJitter
	sets := [][]string{{"queue", "ttl"}, {"queue"}, {"scheduler", "ttl"}, {"canary"}}
	for seed := range 4 {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				rec := &recorder{}
				hubs := make([]*coord.Hub, len(sets))
				subs := make([]map[string]*coord.Subscription, len(sets))
				start := func(i int) {
					hubs[i] = newHub(t, store, coord.Config{WorkerID: fmt.Sprintf("w%d-%d", i, seed), RandSeed: uint64(100*seed + i + 1)})
					subs[i] = map[string]*coord.Subscription{}
					for _, p := range sets[i] {
						s, err := hubs[i].Use(t.Context(), p, rec.plugin(), coord.UseOptions{})
						if err != nil {
							t.Fatal(err)
						}
						subs[i][p] = s
					}
				}
				// The processes start in a seed-dependent order: any of
				// them may win the namespace.
				for k := range sets {
					start((k + seed) % len(sets))
				}
				// settled: every plugin some live process subscribes has
				// exactly one leader.
				settled := func() bool {
					leaders := map[string]int{}
					subscribed := map[string]bool{}
					for i := range hubs {
						for p, s := range subs[i] {
							subscribed[p] = true
							if isLeading(s) {
								leaders[p]++
							}
						}
					}
					for p := range subscribed {
						if leaders[p] != 1 {
							return false
						}
					}
					return true
				}
				waitFor(t, bound, "every plugin led", settled)
				for round := range 3 {
					// Crash the namespace leader.
					leader := -1
					for i, h := range hubs {
						if subs[i] != nil && h.Coordinators()[0].Metrics().IsLeader {
							leader = i
						}
					}
					if leader < 0 {
						t.Fatalf("round %d: no namespace leader", round)
					}
					crash(hubs[leader])
					subs[leader] = nil
					waitFor(t, 2*bound, fmt.Sprintf("round %d: every plugin led after the namespace leader crashed", round), settled)
					start(leader) // it comes back, with a new worker id's record
					waitFor(t, 2*bound, fmt.Sprintf("round %d: every plugin led after the restart", round), settled)
				}
				for _, h := range hubs {
					_ = h.Close(context.Background())
				}
				checkNoOverlap(t, rec.intervals())
			})
		})
	}
}

// TestStandInHandsBackWithoutAGap: a process leads a plugin as a stand-in
// (the namespace leader does not subscribe it); when the namespace leader
// subscribes it, the stand-in lets go once it reads the leader's record
// and the leader takes the plugin within a quarter heartbeat of that, not
// at its next renewal: the plugin is without a leader for at most
// HeartbeatInterval/4 (plus a request), not up to a heartbeat.
func TestStandInHandsBackWithoutAGap(t *testing.T) {
	cfg := coord.DefaultConfig()
	bound := cfg.HeartbeatInterval/4 + cfg.HeartbeatInterval/10
	var worst time.Duration
	for trial := range 8 {
		t.Run(fmt.Sprint("trial=", trial), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				rec := &recorder{}
				a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: uint64(2*trial + 1)})
				b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: uint64(2*trial + 2)})
				other, err := a.Use(t.Context(), "other", rec.plugin(), coord.UseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "a leads the namespace", other)
				sb, err := b.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "b stands in for job", sb)
				// Subscribe at a different phase of the heartbeats each trial.
				time.Sleep(time.Duration(trial) * cfg.HeartbeatInterval / 7)
				sa, err := a.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "a takes job back", sa)
				time.Sleep(time.Second)
				_ = a.Close(context.Background())
				_ = b.Close(context.Background())
				ls := rec.intervals()
				checkNoOverlap(t, ls)
				var bEnd, aStart time.Time
				for _, l := range ls {
					switch {
					case l.plugin == "job" && l.worker == "b":
						bEnd = l.end
					case l.plugin == "job" && l.worker == "a" && aStart.IsZero():
						aStart = l.start
					}
				}
				if bEnd.IsZero() || aStart.IsZero() {
					t.Fatalf("want job led by b, then a; got %+v", ls)
				}
				gap := aStart.Sub(bEnd)
				worst = max(worst, gap)
				if gap > bound {
					t.Errorf("job had no leader for %v between the stand-in and the namespace leader, want at most %v", gap, bound)
				}
			})
		})
	}
	t.Logf("longest gap without a leader: %v (bound %v)", worst, bound)
}

// TestUnsubscribedPluginListedUntilItReturns: a namespace leader resigns
// a plugin whose Lead takes 4 s (less than HeartbeatInterval) to return
// after its context ends; another process, which subscribes the plugin
// too, starts leading it only after that Lead has returned (the leader
// lists the plugin in Claims until then), as every release waits for the
// plugin, never beside the running Lead.
func TestUnsubscribedPluginListedUntilItReturns(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { unsubscribedListedUntilReturn(t, seed) })
	}
}

func unsubscribedListedUntilReturn(t *testing.T, seed uint64) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var mu sync.Mutex
		var aReturned, bStarted time.Time
		a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 2*seed + 1})
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2*seed + 2})
		if _, err := a.Use(t.Context(), "other", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		sa, err := a.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
			<-ctx.Done()
			time.Sleep(4 * time.Second) // slow to stop, within HeartbeatInterval
			mu.Lock()
			aReturned = time.Now()
			mu.Unlock()
			return nil
		}}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads job", sa)
		sb, err := b.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
			mu.Lock()
			if bStarted.IsZero() {
				bStarted = time.Now()
			}
			mu.Unlock()
			<-ctx.Done()
			return nil
		}}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second + time.Duration(seed)*700*time.Millisecond)
		go func() { _ = sa.Resign(context.Background()) }()
		waitLeader(t, time.Minute, "b leads job", sb)
		synctest.Wait()
		mu.Lock()
		if aReturned.IsZero() || bStarted.Before(aReturned) {
			t.Errorf("b started leading job at %v, before a's Lead returned (%v)", bStarted.Format("15:04:05.000"), aReturned.Format("15:04:05.000"))
		}
		mu.Unlock()
		_ = a.Close(context.Background())
		_ = b.Close(context.Background())
	})
}
