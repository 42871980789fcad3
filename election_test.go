package coord_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// leadership is one interval during which a process led a plugin, taken
// from the Lead context it was given.
type leadership struct {
	plugin, worker string
	epoch          uint64
	start, end     time.Time
}

// recorder collects leadership intervals of every process.
type recorder struct {
	mu  sync.Mutex
	got []leadership
}

// plugin returns a plugin that records its leaderships.
func (r *recorder) plugin() plugin.Plugin {
	return &plugin.Func{OnLead: func(ctx context.Context, t plugin.Term) error {
		start := time.Now()
		if ctx.Err() != nil {
			return nil
		}
		<-ctx.Done()
		r.mu.Lock()
		r.got = append(r.got, leadership{plugin: t.Plugin, worker: t.Leader, epoch: t.Epoch, start: start, end: time.Now()})
		r.mu.Unlock()
		return nil
	}}
}

func (r *recorder) intervals() []leadership {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// checkNoOverlap fails when two leaderships of one plugin overlap, or when
// epochs do not strictly increase from one leadership to the next.
func checkNoOverlap(t *testing.T, ls []leadership) {
	t.Helper()
	by := map[string][]leadership{}
	for _, l := range ls {
		by[l.plugin] = append(by[l.plugin], l)
	}
	for p, xs := range by {
		sort.Slice(xs, func(i, j int) bool { return xs[i].start.Before(xs[j].start) })
		for i := 1; i < len(xs); i++ {
			a, b := xs[i-1], xs[i]
			if b.start.Before(a.end) {
				t.Errorf("plugin %s: two leaders: %s (epoch %d) %v–%v and %s (epoch %d) from %v",
					p, a.worker, a.epoch, a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"), b.worker, b.epoch, b.start.Format("15:04:05.000"))
			}
			if b.epoch <= a.epoch {
				t.Errorf("plugin %s: epoch did not increase: %s epoch %d then %s epoch %d", p, a.worker, a.epoch, b.worker, b.epoch)
			}
		}
	}
}

// crashViews holds, for each Hub made by newHub, the store view that crash
// cuts off.
var crashViews sync.Map // *coord.Hub → *faultstore.Store

func newHub(t *testing.T, s driver.Store, cfg coord.Config) *coord.Hub {
	t.Helper()
	view := faultstore.New(s, 0)
	h, err := coord.NewHub(view, cfg)
	if err != nil {
		t.Fatal(err)
	}
	crashViews.Store(h, view)
	t.Cleanup(func() { crash(h) }) // no-op after Close; stops everything on t.Fatal
	return h
}

// waitFor advances virtual time until cond holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
	}
	return time.Since(start)
}

func leaderOf(subs ...*coord.Subscription) []int {
	var idx []int
	for i, s := range subs {
		if s != nil && isLeading(s) {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestColdStartLeaderInTwoRoundTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		h := newHub(t, store, coord.Config{RandSeed: 1, DisableMembership: true})
		defer h.Close(context.Background())
		c, err := h.GlobalCoordinator(t.Context(), "default")
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !c.Metrics().IsLeader || c.Metrics().Epoch != 1 {
			t.Fatalf("IsLeader=%v epoch=%d, want leader at epoch 1 without waiting", c.Metrics().IsLeader, c.Metrics().Epoch)
		}
		if got := c.Metrics().Requests; got.Get != 1 || got.Put != 1 || got.Total() != 2 {
			t.Fatalf("cold start took %v, want one GET and one PUT", got)
		}
	})
}

func TestGlobalCostDoesNotGrowWithPlugins(t *testing.T) {
	type result struct {
		lease, other driver.Counts
		beats        uint64
	}
	run := func(plugins int, mode coord.Mode) (r result) {
		synctest.Test(t, func(t *testing.T) {
			var lease, other driver.Counter
			store := countByKey(mem.New(mem.Options{}), &lease, &other)
			var hubs []*coord.Hub
			for w := range 3 {
				h := newHub(t, store, coord.Config{RandSeed: uint64(w + 1), WorkerID: fmt.Sprintf("w%d", w)})
				hubs = append(hubs, h)
				for p := range plugins {
					if _, err := h.Use(t.Context(), fmt.Sprintf("p%d", p), plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode}); err != nil {
						t.Fatal(err)
					}
				}
			}
			beats := func() (n uint64) {
				for _, h := range hubs {
					cs := h.Coordinators()
					if mode == coord.Global && len(cs) != 1 {
						t.Fatalf("%d coordinators for one namespace, want 1", len(cs))
					}
					for _, c := range cs {
						n += c.Metrics().HeartbeatCount
					}
				}
				return n
			}
			time.Sleep(time.Minute) // elections and plugin claims are over
			l0, o0, b0 := lease.Requests(), other.Requests(), beats()
			time.Sleep(time.Hour)
			r = result{lease.Requests().Sub(l0), other.Requests().Sub(o0), beats() - b0}
			for _, h := range hubs {
				if err := h.Close(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
		return r
	}
	one, ten := run(1, coord.Global), run(10, coord.Global)
	pp1, pp10 := run(1, coord.PerPlugin), run(10, coord.PerPlugin)
	t.Logf("3 workers, per-plugin mode, one hour: 1 plugin: lease %v, membership %v, %d heartbeats", pp1.lease, pp1.other, pp1.beats)
	t.Logf("3 workers, per-plugin mode, one hour: 10 plugins: lease %v, membership %v, %d heartbeats", pp10.lease, pp10.other, pp10.beats)
	if r := float64(pp10.lease.Total()+pp10.other.Total()) / float64(ten.lease.Total()+ten.other.Total()); r < 9 || r > 11 {
		t.Errorf("per-plugin/global request ratio with 10 plugins: %.2f, want about 10", r)
	}
	if pp10.lease.Total() > pp10.beats+pp10.lease.Put+30 { // cold-start reads of the namespace record aside
		t.Errorf("per-plugin: %d lease requests for %d heartbeats", pp10.lease.Total(), pp10.beats)
	}
	t.Logf("3 workers, global mode, one hour: 1 plugin: lease %v, membership %v, %d heartbeats", one.lease, one.other, one.beats)
	t.Logf("3 workers, global mode, one hour: 10 plugins: lease %v, membership %v, %d heartbeats", ten.lease, ten.other, ten.beats)
	for _, r := range []result{one, ten} {
		// A heartbeat is one read, a GET; a leader's also a PUT (its
		// renewal, after it read its lease back: with a LIST of the
		// lease's directory, counted with membership, one time in three,
		// which counts the workers too).
		if r.lease.Get+r.other.List != r.beats || r.lease.Total() != r.lease.Get+r.lease.Put || r.lease.Put > r.beats/2 {
			t.Errorf("lease requests %v and %d LISTs for %d heartbeats: want one GET or LIST per heartbeat and a PUT per renewal", r.lease, r.other.List, r.beats)
		}
	}
	if d := int64(one.beats) - int64(ten.beats); d < -3 || d > 3 {
		t.Errorf("heartbeats: %d with 1 plugin, %d with 10", one.beats, ten.beats)
	}
	if d := int64(one.other.Total()) - int64(ten.other.Total()); d < -3 || d > 3 {
		t.Errorf("membership requests: %v with 1 plugin, %v with 10", one.other, ten.other)
	}
}

// waitLeader waits, without polling, until l (a Subscription or a
// Coordinator) leads; it fails after limit and returns how long it waited.
func waitLeader(t *testing.T, limit time.Duration, what string, l any) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var err error
	switch l := l.(type) {
	case *coord.Subscription:
		_, err = l.WaitLeader(ctx)
	case *coord.Coordinator:
		_, err = waitCoordinatorLeader(ctx, l)
	default:
		t.Fatalf("waitLeader of a %T", l)
	}
	if err != nil {
		t.Fatalf("%s: not within %v: %v", what, limit, err)
	}
	return time.Since(start)
}
