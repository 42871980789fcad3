package coord_test

import (
	"context"
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

// activeLeads counts the Lead calls whose context is not done yet.
type activeLeads struct{ n atomic.Int64 }

func (a *activeLeads) plugin() plugin.Plugin {
	return &plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
		a.n.Add(1)
		<-ctx.Done()
		a.n.Add(-1)
		return nil
	}}
}

// TestCloseBoundWhilePutsHang: Subscription.Close and Hub.Close return
// within HeartbeatInterval, the documented bound, on every path while the
// store hangs: a Global subscription that fell back to per-plugin mode,
// one that is returning to Global mode, and a plugin led by a stand-in
// (the namespace leader, another process, does not subscribe it). The
// plugin's leadership ends as Close begins, not once the loop gets to it.
func TestCloseBoundWhilePutsHang(t *testing.T) {
	cfg := coord.DefaultConfig()
	isPut := func(op, _ string) bool { return op == faultstore.OpPut }
	for _, path := range []string{"fallback", "return", "stand-in"} {
		for _, closer := range []string{"subscription", "hub"} {
			t.Run(path+"/"+closer, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					base := mem.New(mem.Options{})
					f := faultstore.New(base, 7)
					var broken, probed, slow atomic.Bool
					broken.Store(path != "stand-in")
					f.SetHooks(faultstore.Hooks{Before: func(ctx context.Context, c faultstore.Call) error {
						if c.Key != "plg_coordinator_global/default/state.json" {
							return nil
						}
						if broken.Load() {
							return driver.ErrUnreachable
						}
						if c.Op == faultstore.OpGet {
							probed.Store(true)
						}
						if slow.Load() && c.Op == faultstore.OpPut {
							// The namespace record's writes are slow, not
							// hung: the new namespace coordinator is busy.
							select {
							case <-ctx.Done():
							case <-time.After(cfg.HeartbeatInterval * 4 / 5):
							}
						}
						return nil
					}})
					leads := &activeLeads{}
					name := "queue"
					if path == "stand-in" {
						// The namespace leader subscribes queue only: this
						// process leads ttl as a stand-in.
						other := newHub(t, base, coord.Config{WorkerID: "a", RandSeed: 1})
						osub, err := other.Use(t.Context(), "queue", (&activeLeads{}).plugin(), coord.UseOptions{})
						if err != nil {
							t.Fatal(err)
						}
						waitLeader(t, time.Minute, "the namespace leader", osub)
						name = "ttl"
					}
					h := newHub(t, f, coord.Config{WorkerID: "b", RandSeed: 2})
					sub, err := h.Use(t.Context(), name, leads.plugin(), coord.UseOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if sub.Metrics().FallbackActive != (path != "stand-in") {
						t.Fatalf("FellBack = %v", sub.Metrics().FallbackActive)
					}
					waitLeader(t, time.Minute, "leading "+name, sub)
					switch path {
					case "fallback":
						f.Set(faultstore.Faults{HangRate: 1, Match: isPut})
						time.Sleep(cfg.HeartbeatInterval + cfg.HeartbeatJitter) // a renewal hangs
					case "stand-in":
						// Everything hangs: the namespace coordinator's
						// reads too, so its loop is waiting for one.
						f.Set(faultstore.Faults{HangRate: 1})
						time.Sleep(cfg.HeartbeatInterval + cfg.HeartbeatJitter)
					case "return":
						// The plugin lease's writes hang, the namespace
						// record's are slow.
						f.Set(faultstore.Faults{HangRate: 1, Match: func(op, key string) bool {
							return op == faultstore.OpPut && key != "plg_coordinator_global/default/state.json"
						}})
						slow.Store(true)
						broken.Store(false)
						// The namespace record reads again: the return
						// starts (it stops the fallback coordinator,
						// whose release hangs).
						waitFor(t, 2*cfg.LeaseTimeout, "the return to global mode starts", probed.Load)
						time.Sleep(cfg.HeartbeatInterval / 10)
					}
					synctest.Wait()
					start := time.Now()
					closed := make(chan error, 1)
					go func() {
						if closer == "hub" {
							closed <- h.Close(context.Background())
						} else {
							closed <- sub.Close(context.Background())
						}
					}()
					synctest.Wait()
					if n := leads.n.Load(); n != 0 {
						t.Errorf("%d leaderships still running as Close began", n)
					}
					err = <-closed
					t.Logf("Close took %v: %v", time.Since(start), err)
					if took := time.Since(start); took > cfg.HeartbeatInterval {
						t.Errorf("Close took %v (err %v), want at most HeartbeatInterval (%v)", took, err, cfg.HeartbeatInterval)
					}
					if isLeading(sub) {
						t.Error("still leading after Close")
					}
					// Nothing of the closed subscription runs on: a second
					// Use of the name does not find it subscribed.
					if closer == "subscription" {
						if _, err := h.Use(t.Context(), name, (&activeLeads{}).plugin(), coord.UseOptions{}); err != nil {
							t.Errorf("Use after Close: %v", err)
						}
					}
					f.Set(faultstore.Faults{})
					f.ReleaseHangs()
				})
			})
		}
	}
}
