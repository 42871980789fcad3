package coord_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// stores runs f on each driver the engine is tested on.
func stores(t *testing.T, f func(t *testing.T, open func(t *testing.T) driver.Store)) {
	t.Run("mem", func(t *testing.T) {
		f(t, func(t *testing.T) driver.Store { return mem.New(mem.Options{}) })
	})
	t.Run("bolt", func(t *testing.T) {
		dir := t.TempDir()
		n := 0
		f(t, func(t *testing.T) driver.Store {
			n++
			s, err := bolt.Open(filepath.Join(dir, fmt.Sprintf("coord-%d.db", n)), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// crash stops a Hub made by newHub as kill -9 would: its store view is cut
// off first, so that nothing it writes on the way out arrives.
func crash(h *coord.Hub) {
	if v, ok := crashViews.Load(h); ok {
		v.(*faultstore.Store).Partition(0)
	}
	_ = h.Close(context.Background())
}

func TestHandover(t *testing.T) {
	cfg := coord.DefaultConfig()
	crashBound := cfg.LeaseTimeout + cfg.HeartbeatInterval + cfg.HeartbeatJitter
	stopBound := cfg.HeartbeatInterval + cfg.HeartbeatJitter
	stores(t, func(t *testing.T, open func(t *testing.T) driver.Store) {
		for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
			// "cancelled": Close with a context that is already cancelled,
			// as a service's signal.NotifyContext is when it stops: still
			// a graceful stop.
			for _, stop := range []string{"crash", "close", "cancelled"} {
				graceful := stop != "crash"
				for phase := range 4 {
					name := fmt.Sprintf("%s/%s/phase=%d", mode, stop, phase)
					t.Run(name, func(t *testing.T) {
						synctest.Test(t, func(t *testing.T) {
							store := open(t)
							rec := &recorder{}
							var hubs []*coord.Hub
							var subs []*coord.Subscription
							for i := range 3 {
								h := newHub(t, store, coord.Config{RandSeed: uint64(10*phase + i + 1), WorkerID: fmt.Sprintf("w%d", i)})
								s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{Mode: mode})
								if err != nil {
									t.Fatal(err)
								}
								hubs, subs = append(hubs, h), append(subs, s)
							}
							waitFor(t, time.Minute, "first leader", func() bool { return len(leaderOf(subs...)) == 1 })
							// Let the cluster run, then stop the leader at a
							// phase-dependent moment within its heartbeat.
							time.Sleep(time.Minute + time.Duration(phase)*1300*time.Millisecond)
							synctest.Wait()
							l := leaderOf(subs...)
							if len(l) != 1 {
								t.Fatalf("leaders %v, want one", l)
							}
							old := l[0]
							if graceful {
								ctx, cancel := context.WithCancel(context.Background())
								if stop == "cancelled" {
									cancel()
								}
								if err := hubs[old].Close(ctx); err != nil {
									t.Fatal(err)
								}
								cancel()
								if ws := workerKeys(t, store); len(ws) != 2 {
									t.Errorf("worker records after a graceful stop: %v, want the two live ones", ws)
								}
							} else {
								crash(hubs[old])
							}
							subs[old] = nil
							bound := crashBound
							if graceful {
								bound = stopBound
							}
							took := waitFor(t, 2*bound, "new leader", func() bool { return len(leaderOf(subs...)) == 1 })
							t.Logf("handover after %v (bound %v)", took, bound)
							if took > bound {
								t.Errorf("handover took %v, want at most %v", took, bound)
							}
							for i, h := range hubs {
								if i != old {
									h.Close(context.Background())
								}
							}
							checkNoOverlap(t, rec.intervals())
						})
					})
				}
			}
		}
	})
}

// A leader cut off from the store stops leading before any follower can
// take over, and the followers do take over.
func TestPartitionedLeaderStepsDownFirst(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := mem.New(mem.Options{})
				rec := &recorder{}
				var fs []*faultstore.Store
				var hubs []*coord.Hub
				var subs []*coord.Subscription
				for i := range 3 {
					f := faultstore.New(base, 0)
					h := newHub(t, f, coord.Config{RandSeed: uint64(i + 1), WorkerID: fmt.Sprintf("w%d", i)})
					s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{Mode: mode})
					if err != nil {
						t.Fatal(err)
					}
					fs, hubs, subs = append(fs, f), append(hubs, h), append(subs, s)
				}
				waitFor(t, time.Minute, "first leader", func() bool { return len(leaderOf(subs...)) == 1 })
				time.Sleep(30 * time.Second)
				old := leaderOf(subs...)[0]
				cutOff(fs[old], true)
				cut := time.Now()
				waitFor(t, time.Minute, "old leader steps down", func() bool { return !isLeading(subs[old]) })
				stepped := time.Since(cut)
				took := waitFor(t, time.Minute, "new leader", func() bool {
					l := leaderOf(subs...)
					return len(l) == 1 && l[0] != old
				})
				t.Logf("old leader stepped down %v after the cut; a new leader %v later", stepped, took)
				if m := hubs[old].Coordinators()[0].Metrics(); m.BreakerTrips == 0 || m.Errors == 0 {
					t.Errorf("partitioned coordinator: breaker trips %d, errors %d; want both counted", m.BreakerTrips, m.Errors)
				}
				cutOff(fs[old], false) // heal: it must not come back as a second leader
				time.Sleep(2 * time.Minute)
				if l := leaderOf(subs...); len(l) != 1 {
					t.Errorf("after healing: leaders %v", l)
				}
				for _, h := range hubs {
					h.Close(context.Background())
				}
				ls := rec.intervals()
				checkNoOverlap(t, ls)
				if len(ls) < 2 {
					t.Fatalf("%d leaderships recorded, want the old and the new", len(ls))
				}
			})
		})
	}
}

// Two hosts whose clocks are an hour apart elect exactly one leader, and
// hand over correctly.
func TestClockOffsetDoesNotMatter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		rec := &recorder{}
		offsets := []time.Duration{time.Hour, -time.Hour, 0}
		var hubs []*coord.Hub
		var subs []*coord.Subscription
		for i, off := range offsets {
			h := newHub(t, store, coord.Config{RandSeed: uint64(i + 7), Clock: offsetClock{off}, WorkerID: fmt.Sprintf("w%d", i)})
			s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hubs, subs = append(hubs, h), append(subs, s)
		}
		for round := range 2 {
			for range 120 {
				time.Sleep(time.Second)
				if l := leaderOf(subs...); len(l) > 1 {
					t.Fatalf("two leaders: %v", l)
				}
			}
			l := leaderOf(subs...)
			if len(l) != 1 {
				t.Fatalf("round %d: leaders %v, want one", round, l)
			}
			crash(hubs[l[0]])
			subs[l[0]] = nil
		}
		for _, h := range hubs {
			h.Close(context.Background())
		}
		checkNoOverlap(t, rec.intervals())
	})
}

// workerKeys lists the worker records in store.
func workerKeys(t *testing.T, store driver.Store) []string {
	t.Helper()
	res, err := store.List(context.Background(), coord.DefaultConfig().Root)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range res.Entries {
		if strings.Contains(e.Key, "/workers/") {
			keys = append(keys, e.Key)
		}
	}
	return keys
}
