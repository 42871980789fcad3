package coord_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestClaimInDoubtIsAdopted: a namespace leader's claim of a plugin lease
// is applied but its answer is lost (reported as a failure, or arriving
// after the request timed out). The leader must adopt its own claim when
// it reads it, not write a fresh one with epoch+1 (which can be lost the
// same way, and so on: the plugin would stay leaderless while its epoch
// climbs, as internal/chaos shows with noisy latency).
func TestClaimInDoubtIsAdopted(t *testing.T) {
	const pluginKey = "plg_coordinator_global/default/plugins/beta/state.json"
	onClaims := func(op, key string) bool { return op == faultstore.OpPut && key == pluginKey }
	for name, faults := range map[string]faultstore.Faults{
		"ambiguous writes": {Match: onClaims, AmbiguousRate: 1},
		// 6s: beyond the request timeout (HeartbeatInterval, 5s).
		"late answers": {Match: onClaims, ResponseDelay: faultstore.Delay{Min: 6 * time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := mem.New(mem.Options{})
				view := faultstore.New(base, 1)
				view.Set(faults)
				var puts atomic.Int64 // claim writes sent
				view.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
					if c.Op == faultstore.OpPut && c.Key == pluginKey {
						puts.Add(1)
					}
					return nil
				}})
				h := newHub(t, view, coord.Config{RandSeed: 5, DisableMembership: true})
				sub, err := h.Use(t.Context(), "beta", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, 30*time.Second, "beta led", sub)
				term, _ := sub.Term()
				time.Sleep(2 * time.Minute)
				now, ok := sub.Term()
				if !ok || now.Epoch != term.Epoch || term.Epoch > 2 {
					t.Errorf("beta led at epoch %d, then (leading %v) at epoch %d after 2 minutes; want one early epoch kept", term.Epoch, ok, now.Epoch)
				}
				if n := view.Injected().Total(); n == 0 {
					t.Fatal("no fault injected")
				}
				obj, err := base.Get(context.Background(), pluginKey)
				if err != nil || !strings.Contains(string(obj.Data), `"delegated":true`) {
					t.Fatalf("plugin lease %s, %v: want a delegated claim", obj.Data, err)
				}
				if puts := puts.Load(); puts > 3 {
					t.Errorf("%d claim writes, want at most 3 (claims must not repeat once applied)", puts)
				}
				_ = h.Close(context.Background())
			})
		})
	}
}
