package coord_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// workerPuts counts each hub's PUTs of its worker record, and lets a test
// fail some of them.
type workerPuts struct {
	mu    sync.Mutex
	n     map[string]int
	fail  func(id string, n int) bool // hang this write until its deadline
	hangs int
}

func (w *workerPuts) watch(t *testing.T, h *coord.Hub, id string) {
	t.Helper()
	v, ok := crashViews.Load(h)
	if !ok {
		t.Fatal("hub not made by newHub")
	}
	v.(*faultstore.Store).SetHooks(faultstore.Hooks{Before: func(ctx context.Context, c faultstore.Call) error {
		if c.Op != faultstore.OpPut || !strings.HasSuffix(c.Key, "/workers/"+id+".json") {
			return nil
		}
		w.mu.Lock()
		w.n[id]++
		hang := w.fail != nil && w.fail(id, w.n[id])
		if hang {
			w.hangs++
		}
		w.mu.Unlock()
		if hang {
			<-ctx.Done() // accepted, never answered: fails at its deadline
			return ctx.Err()
		}
		return nil
	}})
}

func (w *workerPuts) get(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[id]
}

// startThree starts three hubs on one store, each using one plugin, and
// returns them with the id of the namespace leader once one leads.
func startThree(t *testing.T, w *workerPuts) ([]*coord.Hub, []*coord.Subscription, int) {
	t.Helper()
	store := mem.New(mem.Options{})
	var hubs []*coord.Hub
	var subs []*coord.Subscription
	for i := range 3 {
		id := fmt.Sprintf("w%d", i)
		h := newHub(t, store, coord.Config{RandSeed: uint64(i + 1), WorkerID: id})
		w.watch(t, h, id)
		s, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hubs, subs = append(hubs, h), append(subs, s)
	}
	lead := -1
	waitFor(t, time.Minute, "a leader", func() bool {
		for i, s := range subs {
			if isLeading(s) {
				lead = i
			}
		}
		return lead >= 0
	})
	return hubs, subs, lead
}

// activeEverywhere fails unless every hub's ActiveWorkers lists all three.
func activeEverywhere(t *testing.T, hubs []*coord.Hub, at string) bool {
	t.Helper()
	for i, h := range hubs {
		ws, err := h.Coordinators()[0].ActiveWorkers(t.Context())
		if err != nil {
			t.Errorf("%s: w%d: ActiveWorkers: %v", at, i, err)
			return false
		}
		if len(ws) != 3 {
			t.Errorf("%s: w%d sees %d active workers %+v, want all 3 (the leader included)", at, i, len(ws), ws)
			return false
		}
	}
	return true
}

// TestLeaderWritesNoWorkerRecord: at default settings the leader writes its
// worker record once, then never while it leads (its lease renewals prove
// it alive), followers write theirs every 13 s (beatEvery: the lowest rate
// that tolerates one failed write), and ActiveWorkers on every process
// still lists all three at every moment.
func TestLeaderWritesNoWorkerRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &workerPuts{n: map[string]int{}}
		hubs, subs, lead := startThree(t, w)
		time.Sleep(time.Minute)
		before := []int{w.get("w0"), w.get("w1"), w.get("w2")}
		for i := range 3600 {
			time.Sleep(time.Second)
			synctest.Wait()
			if !isLeading(subs[lead]) {
				t.Fatalf("w%d stopped leading after %d s", lead, i)
			}
			if i%10 == 0 && !activeEverywhere(t, hubs, fmt.Sprintf("after %d s", i)) {
				break
			}
		}
		for i := range 3 {
			n := w.get(fmt.Sprint("w", i)) - before[i]
			switch {
			case i == lead && n != 0:
				t.Errorf("the leader w%d wrote its worker record %d times in an hour, want 0", i, n)
			case i != lead && (n < 270 || n > 282):
				t.Errorf("follower w%d wrote its worker record %d times in an hour, want 3600 s / 13 s ≈ 277", i, n)
			}
			t.Logf("w%d (leader %v): %d worker-record PUTs in an hour", i, i == lead, n)
		}
		for _, h := range hubs {
			_ = h.Close(context.Background())
		}
	})
}

// TestMembershipToleratesOneFailedWrite: every other worker-record write
// of every follower is accepted and never answered (it fails at its
// deadline); the retry lands in time, so no process ever sees a follower
// inactive.
func TestMembershipToleratesOneFailedWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &workerPuts{n: map[string]int{}}
		lead := -1
		var mu sync.Mutex
		w.fail = func(id string, n int) bool {
			mu.Lock()
			defer mu.Unlock()
			return lead >= 0 && id != fmt.Sprint("w", lead) && n%2 == 0
		}
		hubs, _, l := startThree(t, w)
		mu.Lock()
		lead = l
		mu.Unlock()
		for i := range 30 * 60 * 4 {
			time.Sleep(250 * time.Millisecond)
			synctest.Wait()
			if !activeEverywhere(t, hubs, fmt.Sprintf("after %v", time.Duration(i)*250*time.Millisecond)) {
				break
			}
		}
		w.mu.Lock()
		hangs := w.hangs
		w.mu.Unlock()
		if hangs < 150 {
			t.Errorf("only %d worker-record writes hung in 30 minutes, want at least 150", hangs)
		}
		t.Logf("%d worker-record writes hung; every follower stayed active", hangs)
		for _, h := range hubs {
			_ = h.Close(context.Background())
		}
	})
}
