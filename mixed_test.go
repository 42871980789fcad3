package coord_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// A rollout in both directions: processes in global and per-plugin mode
// run side by side for the same plugins, crash, stop, start, and lose the
// store for a while. No plugin ever has two leaders, epochs strictly
// increase, and once things settle every plugin has a leader.
func TestMixedModeRolloutNeverTwoLeaders(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	if n, err := strconv.Atoi(os.Getenv("COORD_MIXED_SEEDS")); err == nil && n > 0 {
		seeds = n // more, for a soak run
	}
	plugins := []string{"queue", "ttl", "scheduler"}
	stores(t, func(t *testing.T, open func(t *testing.T) driver.Store) {
		n := seeds
		if strings.HasSuffix(t.Name(), "/bolt") {
			n = 2 // a file store: slower, same engine
		}
		for seed := range n {
			mixedRollout(t, seed, plugins, open)
		}
	})
}

func mixedRollout(t *testing.T, seed int, plugins []string, open func(t *testing.T) driver.Store) {
	{
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(seed), 99))
				base := open(t)
				rec := &recorder{}
				type proc struct {
					hub   *coord.Hub
					f     *faultstore.Store
					subs  []*coord.Subscription
					until time.Time // partitioned until (close errors are expected then)
				}
				healthy := func(p *proc) bool { return time.Now().After(p.until) }
				var live []*proc
				n := 0
				start := func() {
					n++
					f := faultstore.New(base, 0)
					h := newHub(t, f, coord.Config{RandSeed: uint64(seed*1000 + n), WorkerID: fmt.Sprintf("p%d", n)})
					p := &proc{hub: h, f: f}
					for _, name := range plugins {
						mode := coord.Global
						if rng.IntN(2) == 0 {
							mode = coord.PerPlugin
						}
						s, err := h.Use(t.Context(), name, rec.plugin(), coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						p.subs = append(p.subs, s)
					}
					live = append(live, p)
				}
				for range 3 {
					start()
				}
				for step := range 40 {
					time.Sleep(time.Duration(2+rng.IntN(30)) * time.Second)
					switch a := rng.IntN(10); {
					case a < 3 && len(live) > 1: // crash
						i := rng.IntN(len(live))
						crash(live[i].hub)
						live = append(live[:i], live[i+1:]...)
					case a < 5 && len(live) > 1: // graceful stop
						i := rng.IntN(len(live))
						if err := live[i].hub.Close(context.Background()); err != nil && healthy(live[i]) {
							t.Errorf("step %d: close: %v", step, err)
						}
						live = append(live[:i], live[i+1:]...)
					case a < 7 && len(live) < 5:
						start()
					case a < 8: // a partition for a while
						p := live[rng.IntN(len(live))]
						cutOff(p.f, true)
						d := time.Duration(5+rng.IntN(40)) * time.Second
						p.until = time.Now().Add(d + time.Second)
						time.AfterFunc(d, func() { cutOff(p.f, false) })
					case a < 9: // one plugin leaves a process (and may come back)
						p := live[rng.IntN(len(live))]
						j := rng.IntN(len(plugins))
						if err := p.subs[j].Close(context.Background()); err != nil && healthy(p) {
							t.Errorf("step %d: unsubscribe: %v", step, err)
						}
						mode := coord.Global
						if rng.IntN(2) == 0 {
							mode = coord.PerPlugin
						}
						s, err := p.hub.Use(t.Context(), plugins[j], rec.plugin(), coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						p.subs[j] = s
					}
				}
				// Heal and settle: every plugin gets exactly one leader.
				for _, p := range live {
					cutOff(p.f, false)
				}
				time.Sleep(2 * time.Minute)
				for j, name := range plugins {
					leaders := 0
					for _, p := range live {
						if isLeading(p.subs[j]) {
							leaders++
						}
					}
					if leaders != 1 {
						t.Errorf("plugin %s: %d leaders after settling, want 1", name, leaders)
					}
				}
				for _, p := range live {
					p.hub.Close(context.Background())
				}
				ls := rec.intervals()
				checkNoOverlap(t, ls)
				if len(ls) < len(plugins) {
					t.Errorf("only %d leaderships recorded", len(ls))
				}
			})
		})
	}
}

// Blue-green in both directions: the old deployment keeps leading until
// it stops; the new one takes over within a heartbeat of a graceful stop;
// once everyone is global, plugins cost nothing per heartbeat.
func TestRolloutAndRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lease, other driver.Counter
		store := countByKey(mem.New(mem.Options{}), &lease, &other)
		rec := &recorder{}
		cfg := coord.DefaultConfig()
		deploy := func(mode coord.Mode, first int) ([]*coord.Hub, []*coord.Subscription) {
			var hubs []*coord.Hub
			var subs []*coord.Subscription
			for i := first; i < first+2; i++ {
				h := newHub(t, store, coord.Config{RandSeed: uint64(i + 1), WorkerID: fmt.Sprintf("w%d", i)})
				s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				hubs, subs = append(hubs, h), append(subs, s)
			}
			return hubs, subs
		}
		stop := func(hubs []*coord.Hub) {
			for _, h := range hubs {
				if err := h.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		green, greenSubs := deploy(coord.PerPlugin, 0)
		waitFor(t, time.Minute, "per-plugin leader", func() bool { return len(leaderOf(greenSubs...)) == 1 })
		blue, blueSubs := deploy(coord.Global, 2)
		time.Sleep(2 * time.Minute)
		if l := leaderOf(blueSubs...); len(l) != 0 || len(leaderOf(greenSubs...)) != 1 {
			t.Fatalf("while both run: global leaders %v, per-plugin leaders %v; the holder must keep the plugin", l, leaderOf(greenSubs...))
		}
		stop(green)
		took := waitFor(t, time.Minute, "global takeover", func() bool { return len(leaderOf(blueSubs...)) == 1 })
		if bound := cfg.HeartbeatInterval + cfg.HeartbeatJitter; took > bound {
			t.Errorf("rollout handover took %v, want at most %v", took, bound)
		}
		// All global now: one lease read per heartbeat (a GET, or the
		// leader's LIST that counts the workers) and a PUT per renewal,
		// plugins add nothing.
		time.Sleep(time.Minute)
		beats := func() (n uint64) {
			for _, h := range blue {
				n += h.Coordinators()[0].Metrics().HeartbeatCount
			}
			return n
		}
		l0, o0, b0 := lease.Requests(), other.Requests(), beats()
		time.Sleep(10 * time.Minute)
		if got, lists, n := lease.Requests().Sub(l0), other.Requests().List-o0.List, beats()-b0; got.Get+lists != n || got.Total() != got.Get+got.Put || got.Put > n/2 {
			t.Errorf("all global: lease requests %v and %d LISTs for %d heartbeats", got, lists, n)
		}
		// Rollback: per-plugin workers come back and wait; the global
		// deployment stops; they take over.
		green, greenSubs = deploy(coord.PerPlugin, 4)
		time.Sleep(2 * time.Minute)
		if l := leaderOf(greenSubs...); len(l) != 0 || len(leaderOf(blueSubs...)) != 1 {
			t.Fatalf("rollback, both running: per-plugin leaders %v, global leaders %v", l, leaderOf(blueSubs...))
		}
		stop(blue)
		took = waitFor(t, time.Minute, "per-plugin takeover", func() bool { return len(leaderOf(greenSubs...)) == 1 })
		if bound := cfg.HeartbeatInterval + cfg.HeartbeatJitter; took > bound {
			t.Errorf("rollback handover took %v, want at most %v", took, bound)
		}
		stop(green)
		checkNoOverlap(t, rec.intervals())
	})
}
