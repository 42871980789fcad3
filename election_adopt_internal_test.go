package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestNoAdoptionAcrossABrokenRule: a takeover whose answer was lost is
// our own write in doubt, which a later read adopts (docs/safety.md,
// 4.4). When the Hub sees the store break a rule while that write is in
// flight, the write is not adopted: nothing leads before the store check
// has passed again.
func TestNoAdoptionAcrossABrokenRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := faultstore.New(mem.New(mem.Options{}), 1)
		var h *Hub
		var checks atomic.Int64
		var once sync.Once
		v.SetHooks(faultstore.Hooks{
			Before: func(_ context.Context, c faultstore.Call) error {
				if c.Op == faultstore.OpPut && c.Cond.IsIfAbsent() && strings.Contains(c.Key, "_check/") {
					checks.Add(1)
				}
				return nil
			},
			After: func(c faultstore.Call, err error) error {
				if err != nil || c.Op != faultstore.OpPut || !strings.HasSuffix(c.Key, "/plugins/job/state.json") {
					return err
				}
				ambiguous := false
				once.Do(func() {
					// The takeover is applied; before its answer arrives
					// (it never does) the Hub sees a broken rule.
					h.storeBroke("test", unsafeStore(RuleOneHolderPerEpoch, c.Key))
					ambiguous = true
				})
				if ambiguous {
					return errors.New("injected: answer lost")
				}
				return nil
			},
		})
		var err error
		h, err = NewHub(v, Config{WorkerID: "a", RandSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		var mu sync.Mutex
		var checksAtLead []int64
		sub, err := h.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
			mu.Lock()
			checksAtLead = append(checksAtLead, checks.Load())
			mu.Unlock()
			<-ctx.Done()
			return nil
		}}, UseOptions{Mode: PerPlugin})
		if err != nil {
			t.Fatal(err)
		}
		before := checks.Load() // the check of Use
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if _, err := sub.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(checksAtLead) == 0 || checksAtLead[0] <= before {
			t.Errorf("led with %v store-check PUTs, want more than the %d of Use's check (a check after the broken rule)", checksAtLead, before)
		}
	})
}
