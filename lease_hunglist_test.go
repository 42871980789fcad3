package coord_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestLeaderLeadsOnThroughHungLists: the leader counts the workers with
// one read-back in three, a LIST; LISTs that hang (a store slow to list)
// cost the count, not the leadership: the read-back's GET and the renewal
// still fit before the renew deadline. At the defaults, in both modes,
// for ten virtual minutes.
func TestLeaderLeadsOnThroughHungLists(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				view := faultstore.New(store, 1)
				h, err := coord.NewHub(view, coord.Config{WorkerID: "a", RandSeed: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close(context.Background())
				follower := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
				sub, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "a leads", sub)
				if _, err := follower.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				view.Set(faultstore.Faults{HangRate: 1, Match: func(op, _ string) bool { return op == faultstore.OpList }})
				epoch := sub.Metrics().Epoch
				for range 600 {
					time.Sleep(time.Second)
					synctest.Wait()
					if m := sub.Metrics(); !m.IsLeader || m.Epoch != epoch {
						t.Fatalf("the leader stopped leading with its LISTs hung: %+v", m.Ends)
					}
				}
				// A hung counting LIST puts the next count off by
				// max(4 countEvery, LeaseTimeout) = 54 s at the defaults.
				if hung := view.Injected()[faultstore.Hang]; hung < 9 || hung > 13 {
					t.Errorf("%d LISTs hung in ten minutes, want one every 54 s (about 11)", hung)
				}
				view.Set(faultstore.Faults{})
				_ = follower.Close(context.Background())
			})
		})
	}
}
