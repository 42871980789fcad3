package coord

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestImpossibleHistoryEndsLeadership: a record of the current epoch with
// another holder (what a store that ignored a condition leaves behind)
// makes the leader step down with ErrUnsafeStore as the cause, counted in
// Metrics.UnsafeStore, and it leads again only after the store check has
// passed again.
func TestImpossibleHistoryEndsLeadership(t *testing.T) {
	for _, mode := range []Mode{Global, PerPlugin} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				h, err := NewHub(store, Config{WorkerID: "a", RandSeed: 1})
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
				if !isLeading(sub) {
					t.Fatal("not leading")
				}
				key := namespaceLeaseKey(defaultRoot, "default")
				pl := ""
				if mode == PerPlugin {
					key, pl = pluginLeaseKey(defaultRoot, "default", "job"), "job"
				}
				obj, err := store.Get(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				rec, err := decodeLease(obj.Data, "default", pl)
				if err != nil {
					t.Fatal(err)
				}
				rec.Leader, rec.Seq, rec.Incarnation = "intruder", rec.Seq+1, "x"
				if _, err := store.Put(context.Background(), key, encodeLease(rec), driver.None); err != nil {
					t.Fatal(err)
				}
				select {
				case cause := <-causes:
					var rule Rule
					if !errors.Is(cause, ErrUnsafeStore) || !errors.As(cause, &rule) || rule != RuleOneHolderPerEpoch {
						t.Errorf("cause %v, want ErrUnsafeStore: %s", cause, RuleOneHolderPerEpoch)
					}
				case <-time.After(time.Minute):
					t.Fatal("still leading beside another holder of its epoch")
				}
				m := sub.Metrics()
				if m.UnsafeStore != 1 {
					t.Errorf("Metrics.UnsafeStore %d, want 1", m.UnsafeStore)
				}
				if _, ok := h.storeGen(); ok {
					t.Error("the store check still counts as passed after the store broke a rule")
				}
			})
		})
	}
}

// TestRunEndAfterTheDeadlineSaysSo: a run stopped (resigned, unsubscribed,
// a stand-in stopped) after its term's renew deadline passed, as a
// process resuming from a pause does, ends with ErrRenewDeadline, not
// ErrResigned: its leadership ended by the deadline, and a plugin must
// not treat it as a graceful hand-over.
func TestRunEndAfterTheDeadlineSaysSo(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		deadline time.Time
		want     error
	}{
		{"within the term", now.Add(time.Second), ErrResigned},
		{"after its deadline", now.Add(-time.Second), ErrRenewDeadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			tctx, tcancel := context.WithCancelCause(context.Background())
			defer tcancel(nil)
			r := &pluginRun{cancel: cancel, parent: &term{ctx: tctx, cancel: tcancel, deadline: tc.deadline}}
			r.end(now, ErrResigned)
			if got := context.Cause(ctx); !errors.Is(got, tc.want) {
				t.Errorf("cause %v, want %v", got, tc.want)
			}
		})
	}
}
