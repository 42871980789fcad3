package coord_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// TestHungRequestsNeverFreezeTheLoop: requests that are accepted and never
// answered, by a driver that honours its context or ignores it. Hung
// worker-record LISTs (the leader's cleanup) must not touch the election
// at all; when everything hangs, leaders step down, Close returns within
// its bound, and once the hang ends every plugin has a leader again.
func TestHungRequestsNeverFreezeTheLoop(t *testing.T) {
	cfg := coord.DefaultConfig()
	bound := cfg.LeaseTimeout + cfg.HeartbeatInterval + cfg.HeartbeatJitter
	for _, ignoresCtx := range []bool{false, true} {
		for _, what := range []string{"worker-lists", "everything"} {
			t.Run(fmt.Sprintf("%s/ignores-ctx=%v", what, ignoresCtx), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					base := mem.New(mem.Options{})
					rec := &recorder{}
					var views []*faultstore.Store
					var hubs []*coord.Hub
					var subs []*coord.Subscription
					for i := range 3 {
						v := faultstore.New(base, uint64(i+1))
						h := newHub(t, v, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: uint64(i + 1), WorkerTimeout: 10 * time.Second})
						for _, p := range []string{"queue", "ttl"} {
							s, err := h.Use(t.Context(), p, rec.plugin(), coord.UseOptions{})
							if err != nil {
								t.Fatal(err)
							}
							subs = append(subs, s)
						}
						views, hubs = append(views, v), append(hubs, h)
					}
					led := func() bool {
						return len(leaderOf(subs[0], subs[2], subs[4])) == 1 && len(leaderOf(subs[1], subs[3], subs[5])) == 1
					}
					waitFor(t, bound, "leaders", led)
					first := leaderOf(subs...)
					hang := faultstore.Faults{HangRate: 1, HangIgnoresContext: ignoresCtx}
					if what == "worker-lists" {
						hang.Match = func(op, key string) bool { return op == faultstore.OpList && strings.Contains(key, "/workers/") }
					}
					for _, v := range views {
						v.Set(hang)
					}
					if what == "worker-lists" {
						// The leader lists the workers after each election
						// and every 5 WorkerTimeouts: crash it, so that the
						// next leader's first LIST hangs too.
						crash(hubs[first[0]/2])
						subs[first[0]/2*2], subs[first[0]/2*2+1] = nil, nil
						waitFor(t, bound, "a new leader while worker LISTs hang", func() bool {
							return len(leaderOf(subs...)) == 2
						})
						time.Sleep(10 * time.Minute) // many cleanups, all hung
						synctest.Wait()
						if l := leaderOf(subs...); len(l) != 2 {
							t.Fatalf("leaders %v while worker LISTs hang, want one per plugin", l)
						}
					} else {
						time.Sleep(2 * bound)
						synctest.Wait()
						if l := leaderOf(subs...); len(l) != 0 {
							t.Errorf("leaders %v while every request hangs, want none", l)
						}
						// Close during the hang returns within its bound.
						start := time.Now()
						_ = hubs[2].Close(context.Background())
						if took := time.Since(start); took > cfg.HeartbeatInterval+time.Second {
							t.Errorf("Close took %v while the store hangs, want at most %v", took, cfg.HeartbeatInterval+time.Second)
						}
						subs[4], subs[5] = nil, nil
						for _, v := range views {
							v.Set(faultstore.Faults{})
							v.ReleaseHangs()
						}
						waitFor(t, bound, "leaders after the hang", func() bool { return len(leaderOf(subs...)) == 2 })
					}
					for _, v := range views {
						v.Set(faultstore.Faults{})
						v.ReleaseHangs()
					}
					for _, h := range hubs {
						_ = h.Close(context.Background())
					}
					checkNoOverlap(t, rec.intervals())
				})
			})
		}
	}
}

// TestUnsafeStoreRefused: on a store that ignores conditions (always, or
// only IfMatch, or only IfAbsent) Use fails with ErrUnsafeStore naming the
// broken rule, and nothing leads: no lease record is ever written.
func TestUnsafeStoreRefused(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ifAbsent, match float64
		rule            coord.Rule
	}{
		{"both", 1, 1, coord.RuleIfAbsentExisting},
		{"ifmatch", 0, 1, coord.RuleIfMatchStale},
		{"ifabsent", 1, 0, coord.RuleIfAbsentExisting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := mem.New(mem.Options{})
				for i := range 3 {
					v := faultstore.New(base, uint64(i+1))
					v.Set(faultstore.Faults{IgnoreIfAbsentRate: tc.ifAbsent, IgnoreIfMatchRate: tc.match})
					h := newHub(t, v, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: uint64(i + 1)})
					for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
						sub, err := h.Use(t.Context(), "queue-"+string(mode), (&recorder{}).plugin(), coord.UseOptions{Mode: mode})
						var rule coord.Rule
						if !errors.Is(err, coord.ErrUnsafeStore) || !errors.Is(err, tc.rule) || !errors.As(err, &rule) || rule != tc.rule || sub != nil {
							t.Fatalf("Use on a store ignoring conditions: %v, %v; want ErrUnsafeStore naming %q", sub, err, tc.rule)
						}
					}
				}
				time.Sleep(time.Minute)
				res, err := base.List(context.Background(), "")
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Entries {
					t.Errorf("left in the store: %s", e.Key)
				}
			})
		})
	}
}

// TestStoreThatLiesSometimes: a store that ignores a failing condition
// one time in five. The store check may pass by luck; then takeovers can
// both succeed. Whatever happens is surfaced: a Use is refused, or any two
// leaderships that overlapped were seen (Metrics.UnsafeStore) and ended
// within two heartbeats.
func TestStoreThatLiesSometimes(t *testing.T) {
	cfg := coord.DefaultConfig()
	refused, seen, overlaps := 0, 0, 0
	for seed := range 40 {
		synctest.Test(t, func(t *testing.T) {
			base := mem.New(mem.Options{})
			rec := &recorder{}
			var (
				mu    sync.Mutex
				hubs  []*coord.Hub
				subs  []*coord.Subscription
				wg    sync.WaitGroup
				views []*faultstore.Store
			)
			for i := range 3 {
				v := faultstore.New(base, uint64(100*seed+i+1))
				v.Set(faultstore.Faults{IgnoreIfAbsentRate: 0.2, IgnoreIfMatchRate: 0.2, RequestDelay: faultstore.Delay{Min: 100 * time.Millisecond, Max: 100 * time.Millisecond}})
				h := newHub(t, v, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: uint64(100*seed + i + 1)})
				hubs, views = append(hubs, h), append(views, v)
			}
			// All three start at one instant: a cold-start race, and
			// then crashes of the leader: takeover races.
			for _, h := range hubs {
				wg.Go(func() {
					sub, err := h.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, coord.ErrUnsafeStore):
						refused++
					case err != nil:
						t.Error(err)
					default:
						subs = append(subs, sub)
					}
				})
			}
			wg.Wait()
			for range 3 {
				time.Sleep(time.Minute)
				synctest.Wait()
				for i, s := range subs {
					if s != nil && isLeading(s) {
						views[slices.Index(hubs, hubOf(s, hubs))].Partition(0) // a crash: nothing arrives
						subs[i] = nil
						break
					}
				}
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			unsafe := uint64(0)
			for _, h := range hubs {
				for _, c := range h.Coordinators() {
					unsafe += c.Metrics().UnsafeStore
				}
			}
			if unsafe > 0 {
				seen++
			}
			for _, h := range hubs {
				_ = h.Close(context.Background())
			}
			ls := rec.intervals()
			for i := range ls {
				for j := i + 1; j < len(ls); j++ {
					a, b := ls[i], ls[j]
					if a.worker == b.worker || !a.start.Before(b.end) || !b.start.Before(a.end) {
						continue
					}
					overlaps++
					if unsafe == 0 {
						t.Errorf("seed %d: %s and %s led at once (epochs %d, %d) and nobody saw the store break a rule", seed, a.worker, b.worker, a.epoch, b.epoch)
					}
					end, start := a.end, a.start
					if b.end.Before(end) {
						end = b.end
					}
					if b.start.After(start) {
						start = b.start
					}
					// Each renewal of either ends it unless the store lies
					// again (one time in five): two heartbeats at most here.
					if d := end.Sub(start); d > 2*(cfg.HeartbeatInterval+cfg.HeartbeatJitter) {
						t.Errorf("seed %d: an overlap of %v, longer than two heartbeats", seed, d)
					}
				}
			}
		})
	}
	t.Logf("40 seeds × 3 hubs: %d Use calls refused by the store check, %d runs saw a broken rule while running, %d overlapping leaderships (each seen and ended within two heartbeats)", refused, seen, overlaps)
}

// hubOf returns the Hub of hubs that runs s.
func hubOf(s *coord.Subscription, hubs []*coord.Hub) *coord.Hub {
	for _, h := range hubs {
		if slices.Contains(h.Subscriptions(), s) {
			return h
		}
	}
	return nil
}
