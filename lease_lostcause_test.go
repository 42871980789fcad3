package coord

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// syncBuffer is a log sink safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestLostLeaseCauseSaysWhatHappened: a leader whose renewal loses its
// condition says why, in the cause its plugin sees, in the "stepped down"
// log line and in Metrics.Ends: another holder, named, or its own renewal
// applied late. The late renewal is one the store held (the leader gave it
// up at its deadline, unanswered, and confirmed a later one) and then
// applied over the later one, as a store that stopped honouring
// conditions may: the record is the leader's own, nobody else wrote.
// HeartbeatInterval (the request timeout) is 2 s so that the renewal
// given up leaves time for a later one before the renew deadline.
// Before, both said "lease taken over by another holder".
func TestLostLeaseCauseSaysWhatHappened(t *testing.T) {
	for _, mode := range []Mode{Global, PerPlugin} {
		for _, tc := range []struct {
			name, want string
			lose       func(t *testing.T, store *mem.Store, view *faultstore.Store, key, plugin string)
		}{
			{"another-holder", "lease lost: taken over by b (epoch 2)", func(t *testing.T, store *mem.Store, _ *faultstore.Store, key, pl string) {
				obj, err := store.Get(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				rec, err := decodeLease(obj.Data, "default", pl)
				if err != nil {
					t.Fatal(err)
				}
				rec.Leader, rec.Epoch, rec.Seq, rec.Incarnation = "b", rec.Epoch+1, 1, "x"
				if _, err := store.Put(context.Background(), key, encodeLease(rec), driver.IfMatch(obj.Version)); err != nil {
					t.Fatal(err)
				}
			}},
			{"own-renewal-late", "lease lost: our own renewal applied late", func(t *testing.T, store *mem.Store, view *faultstore.Store, key, _ string) {
				// armed: 1 the next renewal is held, 2 it is held.
				var armed atomic.Int32
				release := make(chan struct{})
				view.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
					if c.Op != faultstore.OpPut || c.Key != key || !armed.CompareAndSwap(1, 2) {
						return nil
					}
					<-release // never answered: the leader gives up on it
					// Applied late, over the later renewal, its condition
					// ignored.
					if _, err := store.Put(context.Background(), key, c.Data, driver.None); err != nil {
						t.Error(err)
					}
					return errors.New("the answer was lost")
				}})
				before, err := store.Get(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				armed.Store(1)
				deadline := time.Now().Add(time.Minute)
				for { // the held renewal given up, a later one confirmed
					if obj, err := store.Get(context.Background(), key); err == nil && armed.Load() == 2 && obj.Version != before.Version {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("no renewal confirmed after the held one")
					}
					time.Sleep(100 * time.Millisecond)
				}
				close(release) // applied now, over the later renewal
			}},
		} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					store := mem.New(mem.Options{})
					view := faultstore.New(store, 1)
					var logs syncBuffer
					h, err := NewHub(view, Config{WorkerID: "a", RandSeed: 1, HeartbeatInterval: 2 * time.Second, HeartbeatJitter: time.Second / 2,
						Logger: slog.New(slog.NewTextHandler(&logs, nil))})
					if err != nil {
						t.Fatal(err)
					}
					defer h.Close(context.Background())
					causes := make(chan error, 4)
					sub, err := h.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
						<-ctx.Done()
						causes <- context.Cause(ctx)
						return nil
					}}, UseOptions{Mode: mode})
					if err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
					synctest.Wait()
					if _, ok := sub.Term(); !ok {
						t.Fatal("not leading")
					}
					key, pl := namespaceLeaseKey(defaultRoot, "default"), ""
					if mode == PerPlugin {
						key, pl = pluginLeaseKey(defaultRoot, "default", "job"), "job"
					}
					tc.lose(t, store, view, key, pl)
					select {
					case cause := <-causes:
						if !errors.Is(cause, ErrLeaseLost) || !strings.Contains(cause.Error(), tc.want) {
							t.Errorf("cause %q, want ErrLeaseLost saying %q", cause, tc.want)
						}
						if tc.name == "own-renewal-late" && strings.Contains(cause.Error(), "taken over") {
							t.Errorf("cause %q says taken over: nobody else wrote", cause)
						}
					case <-time.After(time.Minute):
						t.Fatal("the leadership did not end")
					}
					synctest.Wait()
					if !strings.Contains(logs.String(), "stepped down") || !strings.Contains(logs.String(), tc.want) {
						t.Errorf("no \"stepped down\" line saying %q in:\n%s", tc.want, logs.String())
					}
					if ends := sub.Metrics().Ends; ends.LeaseLost != 1 || ends.UnsafeStore != 0 {
						t.Errorf("Metrics.Ends %+v, want one LeaseLost", ends)
					}
					view.SetHooks(faultstore.Hooks{})
				})
			})
		}
	}
}
