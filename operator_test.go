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

// TestOperatorViews: Leadership, Leading, StoreCheck and Health follow a
// leadership from its start, through a partition that makes it end at
// the renew deadline, to another process taking over; none of them sends
// a request.
func TestOperatorViews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		cfg := coord.Config{WorkerID: "a", RandSeed: 1}
		a := newHub(t, store, cfg)
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
		if st := a.StoreCheck(); st.State != coord.StoreCheckPending {
			t.Errorf("before Use: store check %q", st.State)
		}
		sa, err := a.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads", sa)
		sb, err := b.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Use(t.Context(), "mailer", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin, Namespace: "n2"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if st := a.StoreCheck(); st.State != coord.StoreCheckPassed || st.Err != nil {
			t.Errorf("store check %+v, want passed", st)
		}
		c := a.Coordinators()[0]
		before := c.Metrics().Requests.Total()
		got := a.Leadership()
		if len(got) != 2 || got[0].Namespace != "default" || got[0].Plugin != "job" || !got[0].Leading || got[0].Epoch == 0 ||
			got[1].Namespace != "n2" || got[1].Plugin != "mailer" || got[1].Mode != coord.PerPlugin || !got[1].Leading {
			t.Fatalf("a's leadership %+v", got)
		}
		if l, s := a.Leading("", "job"); !l || !s {
			t.Errorf("Leading(job) = %v, %v", l, s)
		}
		if l, s := a.Leading("default", "nope"); l || s {
			t.Errorf("Leading(nope) = %v, %v", l, s)
		}
		if l, s := b.Leading("", "job"); l || !s {
			t.Errorf("b: Leading(job) = %v, %v", l, s)
		}
		h := c.Health()
		now := time.Now()
		if !h.Leading || h.Breaker != "closed" || h.ConsecutiveFailures != 0 || now.Sub(h.LastHeartbeat) > 6*time.Second ||
			h.LeadsUntil.Sub(h.RenewedAt) != a.Config().RenewDeadline || h.LeadsUntil.Before(now) {
			t.Errorf("leader health %+v at %v", h, now)
		}
		if after := c.Metrics().Requests.Total(); after != before {
			t.Errorf("the views sent %d requests", after-before)
		}

		// Partition a: its renewals fail, it leads until its renew
		// deadline, then b takes over.
		view, _ := crashViews.Load(a)
		view.(*faultstore.Store).Partition(time.Second)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if h := c.Health(); h.ConsecutiveFailures == 0 {
			t.Errorf("partitioned: health %+v, want failures", h)
		}
		leadsUntil := h.LeadsUntil
		waitFor(t, time.Minute, "a stops leading", func() bool { l, _ := a.Leading("", "job"); return !l })
		if time.Now().After(leadsUntil.Add(time.Second)) {
			t.Errorf("a led until %v, past its renew deadline %v", time.Now(), leadsUntil)
		}
		if h := c.Health(); h.Leading || !h.LeadsUntil.IsZero() {
			t.Errorf("after the deadline: %+v", h)
		}
		waitLeader(t, time.Minute, "b takes over", sb)
		if l, _ := b.Leading("", "job"); !l {
			t.Error("b leads but Leading says no")
		}
	})
}

func TestHeartbeatSamples(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, mem.New(mem.Options{}), coord.Config{DisableMembership: true})
		c, err := h.GlobalCoordinator(t.Context(), "default")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		s, total, missed := c.HeartbeatSamples(0)
		if total == 0 || uint64(len(s)) != total || missed != 0 || total != c.Metrics().HeartbeatCount {
			t.Fatalf("%d samples, total %d, missed %d; %d heartbeats", len(s), total, missed, c.Metrics().HeartbeatCount)
		}
		if s2, t2, _ := c.HeartbeatSamples(total); len(s2) != 0 || t2 != total {
			t.Errorf("nothing new: %d samples, total %d", len(s2), t2)
		}
		time.Sleep(30 * time.Minute) // > 256 heartbeats
		synctest.Wait()
		s3, t3, m3 := c.HeartbeatSamples(total)
		if len(s3) != 256 || m3 != t3-total-256 || m3 == 0 {
			t.Errorf("after %d more: %d samples, missed %d", t3-total, len(s3), m3)
		}
		_ = h.Close(context.Background())
	})
}

func TestStoreCheckUnsafe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		view := faultstore.New(mem.New(mem.Options{}), 1)
		view.Set(faultstore.Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1})
		h, err := coord.NewHub(view, coord.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); !errors.Is(err, coord.ErrUnsafeStore) {
			t.Fatalf("Use: %v", err)
		}
		if st := h.StoreCheck(); st.State != coord.StoreCheckUnsafe || !errors.Is(st.Err, coord.ErrUnsafeStore) {
			t.Errorf("store check %+v", st)
		}
		skip, err := coord.NewHub(view, coord.Config{SkipStoreCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := skip.StoreCheck(); st.State != coord.StoreCheckSkipped {
			t.Errorf("skipped: %+v", st)
		}
	})
}
