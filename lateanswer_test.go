package coord_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestAcquisitionAnsweredAfterDeadlineDoesNotLead is sim seed 714: a
// per-plugin worker's takeover write is applied, then the process is
// paused for longer than the lease before it reads the answer. Another
// worker takes over (the record stayed unchanged for a lease) with the
// next epoch. When the paused worker wakes, its leadership, counted from
// the start of its write, is past the renew deadline: it must not lead
// (that would be a leadership with the older epoch: epochs going
// backwards).
func TestAcquisitionAnsweredAfterDeadlineDoesNotLead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "plg_coordinator_global/default/plugins/queue/state.json"
		base := mem.New(mem.Options{})
		view := faultstore.New(base, 1)
		// Once armed, the view pauses right after a write of key has been
		// applied, so that its answer is held until Resume (a process
		// paused in the middle of its acquisition).
		var armed atomic.Bool
		view.SetHooks(faultstore.Hooks{After: func(c faultstore.Call, err error) error {
			if err == nil && c.Op == faultstore.OpPut && c.Key == key && armed.CompareAndSwap(true, false) {
				view.Pause()
			}
			return err
		}})
		var (
			mu    sync.Mutex
			leads []string
		)
		lead := func(who string) plugin.Plugin {
			return &plugin.Func{OnLead: func(ctx context.Context, term plugin.Term) error {
				mu.Lock()
				leads = append(leads, who)
				mu.Unlock()
				<-ctx.Done()
				return nil
			}}
		}
		armed.Store(true)
		ha := newHub(t, view, coord.Config{WorkerID: "a", RandSeed: 1, DisableMembership: true})
		a, err := ha.Use(t.Context(), "queue", lead("a"), coord.UseOptions{Mode: coord.PerPlugin})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // a's cold-start write is applied; its answer is held
		hb := newHub(t, base, coord.Config{WorkerID: "b", RandSeed: 2, DisableMembership: true})
		b, err := hb.Use(t.Context(), "queue", lead("b"), coord.UseOptions{Mode: coord.PerPlugin})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "b leads", b)
		view.Resume()
		time.Sleep(30 * time.Second)
		if isLeading(a) || !isLeading(b) {
			t.Errorf("a leads %v, b leads %v; want b only", isLeading(a), isLeading(b))
		}
		mu.Lock()
		defer mu.Unlock()
		for _, who := range leads {
			if who == "a" {
				t.Errorf("a led after its acquisition was answered past its renew deadline; leaderships %v", leads)
			}
		}
		_ = ha.Close(context.Background())
		_ = hb.Close(context.Background())
	})
}
