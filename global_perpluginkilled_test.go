package coord_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestMixedFleetKilledPerPluginLeader: the chaos harness's mixed fleet
// on the virtual clock (internal/chaos's timings: heartbeat 200ms, jitter
// 50ms, lease 900ms; four processes, alternately Global and PerPlugin, a
// killed one restarting in the other mode; request latency of up to
// 15ms each way on half of them, drawn per round). Round after round the
// leader of a plugin is crashed (no release; a PerPlugin one whenever one
// leads) or cut off from the store, and every plugin it led has another
// leader within LeaseTimeout + 2 heartbeats (interval + jitter) + the
// latency of the claim's requests. Docs/testing.md: issue 24's 22 s.
func TestMixedFleetKilledPerPluginLeader(t *testing.T) {
	seeds, rounds := 12, 20
	if testing.Short() {
		seeds = 3
	}
	cfg := coord.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatJitter: 50 * time.Millisecond,
		LeaseTimeout: 900 * time.Millisecond, RenewDeadline: 600 * time.Millisecond}
	const latency = 15 * time.Millisecond
	bound := cfg.LeaseTimeout + 2*(cfg.HeartbeatInterval+cfg.HeartbeatJitter) + 4*2*latency
	var worst time.Duration
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				worst = max(worst, mixedKills(t, seed, rounds, cfg, latency, bound))
			})
		})
	}
	t.Logf("longest time to a new leader: %v (bound %v)", worst, bound)
}

func mixedKills(t *testing.T, seed uint64, rounds int, cfg coord.Config, latency, bound time.Duration) (worst time.Duration) {
	rng := rand.New(rand.NewPCG(seed, 24))
	store := mem.New(mem.Options{})
	plugins := []string{"alpha", "beta"}
	modes := []coord.Mode{coord.Global, coord.PerPlugin}
	type proc struct {
		hub  *coord.Hub
		view *faultstore.Store
		mode coord.Mode
		subs []*coord.Subscription
	}
	procs := make([]*proc, 4)
	gens := make([]int, len(procs))
	start := func(i int) {
		c := cfg
		c.WorkerID = fmt.Sprintf("w%d-%d", i, gens[i])
		c.RandSeed = seed*1000 + uint64(i*50+gens[i])
		h := newHub(t, store, c)
		v, _ := crashViews.Load(h)
		p := &proc{hub: h, view: v.(*faultstore.Store), mode: modes[(i+gens[i])%len(modes)]}
		for _, name := range plugins {
			s, err := h.Use(t.Context(), name, plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: p.mode})
			if err != nil {
				t.Fatal(err)
			}
			p.subs = append(p.subs, s)
		}
		procs[i] = p
	}
	for i := range procs {
		start(i)
	}
	leaders := func(j, except int) []int {
		var l []int
		for i, p := range procs {
			if p != nil && i != except && isLeading(p.subs[j]) {
				l = append(l, i)
			}
		}
		return l
	}
	for round := range rounds {
		waitFor(t, time.Minute, fmt.Sprintf("round %d: one leader per plugin", round), func() bool {
			return len(leaders(0, -1)) == 1 && len(leaders(1, -1)) == 1
		})
		for _, p := range procs {
			f := faultstore.Faults{}
			if rng.IntN(2) == 0 {
				d := faultstore.Delay{Max: time.Duration(rng.Int64N(int64(latency) + 1))}
				f.RequestDelay, f.ResponseDelay = d, d
			}
			p.view.Set(f)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(3 * cfg.HeartbeatInterval)))) // a random phase of the renewals
		synctest.Wait()
		v := leaders(rng.IntN(len(plugins)), -1)[0]
		for j := range plugins { // a PerPlugin leader, whenever one leads
			if l := leaders(j, -1); len(l) == 1 && procs[l[0]].mode == coord.PerPlugin {
				v = l[0]
			}
		}
		victim := procs[v]
		var led []int
		for j := range plugins {
			if isLeading(victim.subs[j]) {
				led = append(led, j)
			}
		}
		cut := rng.IntN(3) == 0
		if cut {
			cutOff(victim.view, true)
		} else {
			crash(victim.hub)
		}
		at := time.Now()
		for _, j := range led {
			waitFor(t, time.Minute, fmt.Sprintf("round %d: %s led by another process", round, plugins[j]), func() bool {
				return len(leaders(j, v)) > 0
			})
			took := time.Since(at)
			worst = max(worst, took)
			if took > bound {
				t.Errorf("round %d: %s (%s, cut off %v) was killed leading %s: another process led it after %v, want at most %v",
					round, victim.hub.Config().WorkerID, victim.mode, cut, plugins[j], took, bound)
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		if cut {
			cutOff(victim.view, false)
		} else {
			gens[v]++
			start(v) // in the other mode, as the chaos harness restarts it
		}
	}
	for _, p := range procs {
		_ = p.hub.Close(context.Background())
	}
	return worst
}
