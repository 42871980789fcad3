package coord_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestFollowerNoticeEndsLeadership: a history that only a follower sees
// (its reads show the leader's epoch held by another process too, while
// the leader's own read-backs show nothing wrong) reaches the leader
// through the unsafe-store notice: the leader steps down with
// ErrUnsafeStore within the bound, and runs the store check again before
// it leads again. In both modes, and for a plugin led by a stand-in.
func TestFollowerNoticeEndsLeadership(t *testing.T) {
	cfg := coord.DefaultConfig()
	// The follower reads the forged record at its next heartbeat; the
	// leader's Hub reads the notice at its first cycle a LeaseTimeout
	// after its last read, the read bounded by HeartbeatInterval.
	bound := (cfg.HeartbeatInterval + cfg.HeartbeatJitter) + (cfg.LeaseTimeout + cfg.HeartbeatInterval + cfg.HeartbeatJitter) + cfg.HeartbeatInterval
	for _, path := range []string{"global", "per-plugin", "stand-in"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := mem.New(mem.Options{})
				mode, name, key := coord.Global, "queue", "plg_coordinator_global/default/state.json"
				switch path {
				case "per-plugin":
					mode, key = coord.PerPlugin, "plg_coordinator_global/default/plugins/queue/state.json"
				case "stand-in":
					name, key = "ttl", "plg_coordinator_global/default/plugins/ttl/state.json"
				}
				// Each Hub's view counts its store checks (checks[0]: a's,
				// checks[1]: b's); each leadership notes its Hub's count
				// as it starts.
				var checks [2]atomic.Int64
				counting := func(v *faultstore.Store, i int) *faultstore.Store {
					v.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
						if c.Op == faultstore.OpPut && c.Cond.IsIfAbsent() && strings.Contains(c.Key, "_check/") {
							checks[i].Add(1)
						}
						return nil
					}})
					return v
				}
				type lead struct {
					hub    int
					checks int64
				}
				var mu sync.Mutex
				var causes []error
				var leads []lead
				rec := func(i int) plugin.Plugin {
					return &plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
						mu.Lock()
						leads = append(leads, lead{i, checks[i].Load()})
						mu.Unlock()
						<-ctx.Done()
						mu.Lock()
						causes = append(causes, context.Cause(ctx))
						mu.Unlock()
						return nil
					}}
				}
				fa := counting(faultstore.New(base, 1), 0)
				p := rec(0)
				if path == "stand-in" {
					// The namespace leader, another process, does not
					// subscribe ttl: the leader below leads it as a
					// stand-in.
					other := newHub(t, base, coord.Config{WorkerID: "n", RandSeed: 9})
					osub, err := other.Use(t.Context(), "queue", (&activeLeads{}).plugin(), coord.UseOptions{})
					if err != nil {
						t.Fatal(err)
					}
					waitLeader(t, time.Minute, "the namespace leader", osub)
				}
				a := newHub(t, fa, coord.Config{WorkerID: "a", RandSeed: 1})
				sa, err := a.Use(t.Context(), name, p, coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "a leads", sa)
				synctest.Wait()
				mu.Lock()
				n := len(leads)
				mu.Unlock()
				if n != 1 {
					t.Fatalf("%d leaderships, want a's", n)
				}
				// The follower's view forges, once asked, the lease record
				// it reads: the same epoch (1), held by x, as x wrote it on
				// a store of its own.
				forged := recordOf(t, key, name, mode, path == "stand-in")
				var forge atomic.Bool
				// (b's checks are counted by the view newHub puts over fb.)
				fb := faultstore.New(base, 2)
				fb.SetHooks(faultstore.Hooks{Got: func(k string, obj driver.Object) driver.Object {
					if forge.Load() && k == key {
						obj.Data = forged
					}
					return obj
				}})
				fb = counting(faultstore.New(fb, 3), 1)
				b := newHub(t, fb, coord.Config{WorkerID: "b", RandSeed: 2})
				if path == "stand-in" {
					if _, err := b.Use(t.Context(), "queue", (&activeLeads{}).plugin(), coord.UseOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := b.Use(t.Context(), name, rec(1), coord.UseOptions{Mode: mode}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * cfg.HeartbeatInterval) // b reads the honest record first
				synctest.Wait()
				if !isLeading(sa) {
					t.Fatal("a no longer leads before the forgery")
				}
				before := [2]int64{checks[0].Load(), checks[1].Load()}
				forge.Store(true)
				ended := func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(causes) > 0
				}
				took := waitFor(t, bound, "a steps down", ended)
				t.Logf("a stepped down %v after the follower's reads were forged", took)
				forge.Store(false)
				waitFor(t, 2*cfg.LeaseTimeout, "a leader again on the honest store", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(leads) > 1
				})
				mu.Lock()
				defer mu.Unlock()
				if !errors.Is(causes[0], coord.ErrUnsafeStore) {
					t.Errorf("leadership ended with %v, want ErrUnsafeStore", causes[0])
				}
				// Both Hubs saw the store break a rule (b in its reads, a
				// in the notice): whichever leads next checked it first.
				if next := leads[1]; next.checks <= before[next.hub] {
					t.Errorf("hub %d leads again without a store check (%d checks before, %d then)", next.hub, before[next.hub], next.checks)
				}
			})
		})
	}
}

// recordOf returns the record of key that worker x writes at epoch 1,
// leading plugin name alone in mode on a store of its own (as a
// stand-in: beside a namespace leader that subscribes queue only).
func recordOf(t *testing.T, key, name string, mode coord.Mode, standIn bool) []byte {
	t.Helper()
	store := mem.New(mem.Options{})
	if standIn {
		n := newHub(t, store, coord.Config{WorkerID: "n", RandSeed: 6})
		sn, err := n.Use(t.Context(), "queue", (&activeLeads{}).plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "n leads", sn)
	}
	x := newHub(t, store, coord.Config{WorkerID: "x", RandSeed: 5})
	sx, err := x.Use(t.Context(), name, (&activeLeads{}).plugin(), coord.UseOptions{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, time.Minute, "x leads", sx)
	obj, err := store.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	crash(x) // its record stays as it is
	return obj.Data
}
