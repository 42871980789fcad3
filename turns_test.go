package coord_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestStoreThatTurns: a store that honours conditional writes while the
// Hubs start (so the store check passes), then ignores IfMatch and
// IfAbsent. The leader of each plugin is then partitioned or closed, and
// the others all win the takeover. Every overlap must end within
// 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s, in both modes: each
// leader reads its lease back before it renews and steps down when
// someone else wrote it.
func TestStoreThatTurns(t *testing.T) {
	cfg := coord.DefaultConfig()
	bound := 2*(cfg.HeartbeatInterval+cfg.HeartbeatJitter) + time.Second
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, how := range []string{"partition", "close"} {
			t.Run(fmt.Sprintf("%s/%s", mode, how), func(t *testing.T) {
				overlaps, worst := 0, time.Duration(0)
				for seed := range 6 {
					n, w := storeThatTurns(t, mode, how, uint64(seed), bound)
					overlaps, worst = overlaps+n, max(worst, w)
				}
				t.Logf("6 seeds: %d overlapping leaderships, the longest %v (bound %v)", overlaps, worst, bound)
			})
		}
	}
}

func storeThatTurns(t *testing.T, mode coord.Mode, how string, seed uint64, bound time.Duration) (overlaps int, worst time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		rec := &recorder{}
		plugins := []string{"queue", "ttl"}
		var (
			views []*faultstore.Store
			hubs  []*coord.Hub
			subs  [][]*coord.Subscription // [plugin][hub]
		)
		subs = make([][]*coord.Subscription, len(plugins))
		for i := range 4 {
			v := faultstore.New(base, 10*seed+uint64(i)+1)
			h := newHub(t, v, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: 10*seed + uint64(i) + 1})
			for j, p := range plugins {
				s, err := h.Use(t.Context(), p, rec.plugin(), coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				subs[j] = append(subs[j], s)
			}
			views, hubs = append(views, v), append(hubs, h)
		}
		cfg := hubs[0].Config()
		waitFor(t, cfg.LeaseTimeout+2*cfg.HeartbeatInterval, "leaders", func() bool {
			return len(leaderOf(subs[0]...)) == 1 && len(leaderOf(subs[1]...)) == 1
		})
		time.Sleep(cfg.HeartbeatInterval)
		for _, v := range views {
			v.Set(faultstore.Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1})
		}
		gone := map[int]bool{}
		for j := range plugins {
			for _, i := range leaderOf(subs[j]...) {
				if gone[i] {
					continue
				}
				gone[i] = true
				if how == "partition" {
					views[i].Partition(0)
				} else if err := hubs[i].Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		end := time.Now()
		for _, h := range hubs {
			_ = h.Close(context.Background())
		}
		ls := rec.intervals()
		for i := range ls {
			for j := i + 1; j < len(ls); j++ {
				a, b := ls[i], ls[j]
				if a.plugin != b.plugin || a.worker == b.worker || !a.start.Before(b.end) || !b.start.Before(a.end) {
					continue
				}
				overlaps++
				from, to := later(a.start, b.start), earlier(earlier(a.end, b.end), end)
				d := to.Sub(from)
				worst = max(worst, d)
				if d > bound || !to.Before(end) {
					t.Errorf("seed %d: plugin %s led by %s (epoch %d) and %s (epoch %d) at once for %v (bound %v; still open at the end: %v)",
						seed, a.plugin, a.worker, a.epoch, b.worker, b.epoch, d, bound, !to.Before(end))
				}
			}
		}
	})
	return overlaps, worst
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// TestStoreRecheckedAfterPeriod: a passed store check lasts
// StoreRecheckPeriod. A store that turned is refused by the first attempt
// to lead after it (here a Use), and what the Hub leads steps down.
func TestStoreRecheckedAfterPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := faultstore.New(mem.New(mem.Options{}), 1)
		h := newHub(t, v, coord.Config{WorkerID: "w0", RandSeed: 1})
		a, err := h.Use(t.Context(), "a", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "leader", a)
		v.Set(faultstore.Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1})
		if _, err := h.Use(t.Context(), "b", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin}); err != nil {
			t.Fatalf("Use within the period: %v, want the pass to hold", err)
		}
		time.Sleep(time.Hour)
		_, err = h.Use(t.Context(), "c", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin})
		if !errors.Is(err, coord.ErrUnsafeStore) {
			t.Fatalf("Use after the period on a store that turned: %v, want ErrUnsafeStore", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if isLeading(a) {
			t.Error("still leading after the re-check failed")
		}
	})
}
