package coord_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// causeRecorder is a plugin whose Lead reports context.Cause of its
// context when the leadership ends.
type causeRecorder struct{ causes chan error }

func (r causeRecorder) plugin() plugin.Plugin {
	return plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
		<-ctx.Done()
		r.causes <- context.Cause(ctx)
		return nil
	}}
}

// TestLeadershipEndCauses: the context a plugin leads with tells why the
// leadership ended, in both modes, and Metrics.Ends counts it.
func TestLeadershipEndCauses(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, tc := range []struct {
			name string
			want error
			end  func(t *testing.T, store *mem.Store, view *faultstore.Store, h *coord.Hub, sub *coord.Subscription)
		}{
			{"close", coord.ErrResigned, func(t *testing.T, _ *mem.Store, _ *faultstore.Store, _ *coord.Hub, sub *coord.Subscription) {
				_ = sub.Close(context.Background())
			}},
			{"hub-close-cancelled-ctx", coord.ErrResigned, func(t *testing.T, _ *mem.Store, _ *faultstore.Store, h *coord.Hub, _ *coord.Subscription) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = h.Close(ctx)
			}},
			{"store-unreachable", coord.ErrRenewDeadline, func(t *testing.T, _ *mem.Store, view *faultstore.Store, _ *coord.Hub, _ *coord.Subscription) {
				view.Partition(0)
			}},
			{"taken-over", coord.ErrLeaseLost, func(t *testing.T, _ *mem.Store, view *faultstore.Store, _ *coord.Hub, _ *coord.Subscription) {
				view.Set(faultstore.Faults{ConflictRate: 1}) // every conditional write loses
			}},
			{"operator", coord.ErrOperatorRelease, func(t *testing.T, store *mem.Store, _ *faultstore.Store, _ *coord.Hub, _ *coord.Subscription) {
				plugin := ""
				if mode == coord.PerPlugin {
					plugin = "job"
				}
				// A renewal between its read and its write makes it
				// ErrChanged: the operator tries again.
				for {
					err := coord.ForceRelease(context.Background(), store, "", "default", plugin, "")
					if err == nil {
						break
					}
					if !errors.Is(err, coord.ErrChanged) {
						t.Fatal(err)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}},
		} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					store := mem.New(mem.Options{})
					view := faultstore.New(store, 1)
					h, err := coord.NewHub(view, coord.Config{WorkerID: "a", RandSeed: 1})
					if err != nil {
						t.Fatal(err)
					}
					defer h.Close(context.Background())
					rec := causeRecorder{causes: make(chan error, 1)}
					sub, err := h.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{Mode: mode})
					if err != nil {
						t.Fatal(err)
					}
					waitLeader(t, time.Minute, "leads", sub)
					c := sub
					tc.end(t, store, view, h, sub)
					select {
					case cause := <-rec.causes:
						if !errors.Is(cause, tc.want) {
							t.Errorf("cause %v, want %v", cause, tc.want)
						}
					case <-time.After(time.Minute):
						t.Fatal("the leadership did not end")
					}
					counted := func() uint64 {
						ends := c.Metrics().Ends
						return map[error]uint64{coord.ErrResigned: ends.Resigned, coord.ErrRenewDeadline: ends.RenewDeadline,
							coord.ErrLeaseLost: ends.LeaseLost, coord.ErrOperatorRelease: ends.OperatorRelease}[tc.want]
					}
					if tc.name != "close" || mode == coord.PerPlugin { // a Global plugin's Close ends no namespace leadership
						waitFor(t, time.Minute, "the end counted in Metrics.Ends", func() bool { return counted() == 1 })
					}
					view.Heal()
					view.Set(faultstore.Faults{})
				})
			})
		}
	}
}
