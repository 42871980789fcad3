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
		if st, err := a.StoreCheck(); st != coord.StoreCheckPending || err != nil {
			t.Errorf("before Use: store check %q, %v", st, err)
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
		if st, err := a.StoreCheck(); st != coord.StoreCheckPassed || err != nil {
			t.Errorf("store check %q, %v, want passed", st, err)
		}
		c := a.Coordinators()[0]
		before := c.Metrics().Requests.Total()
		got := a.Subscriptions()
		term := func(s *coord.Subscription) uint64 { t, _ := s.Term(); return t.Epoch }
		if len(got) != 2 || got[0].Namespace() != "default" || got[0].Name() != "job" || !isLeading(got[0]) || term(got[0]) == 0 ||
			got[1].Namespace() != "n2" || got[1].Name() != "mailer" || got[1].Metrics().Mode != coord.PerPlugin || !isLeading(got[1]) {
			t.Fatalf("a's subscriptions %v", got)
		}
		if l, s := leadingIn(a, "default", "job"); !l || !s {
			t.Errorf("leadingIn(job) = %v, %v", l, s)
		}
		if l, s := leadingIn(a, "default", "nope"); l || s {
			t.Errorf("leadingIn(nope) = %v, %v", l, s)
		}
		if l, s := leadingIn(b, "default", "job"); l || !s {
			t.Errorf("b: leadingIn(job) = %v, %v", l, s)
		}
		h := c.Metrics()
		now := time.Now()
		if !h.IsLeader || h.Breaker != "closed" || h.ConsecutiveFailures != 0 || now.Sub(h.LastHeartbeatTime) > 6*time.Second ||
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
		if h := c.Metrics(); h.ConsecutiveFailures == 0 {
			t.Errorf("partitioned: health %+v, want failures", h)
		}
		leadsUntil := h.LeadsUntil
		waitFor(t, time.Minute, "a stops leading", func() bool { l, _ := leadingIn(a, "default", "job"); return !l })
		if time.Now().After(leadsUntil.Add(time.Second)) {
			t.Errorf("a led until %v, past its renew deadline %v", time.Now(), leadsUntil)
		}
		if h := c.Metrics(); h.IsLeader || !h.LeadsUntil.IsZero() {
			t.Errorf("after the deadline: %+v", h)
		}
		waitLeader(t, time.Minute, "b takes over", sb)
		if l, _ := leadingIn(b, "default", "job"); !l {
			t.Error("b leads but leadingIn says no")
		}
	})
}

// leadingIn reports whether h's process leads the plugin name of
// namespace now, and whether h subscribes it at all: what Hub.Leading
// did, written with Subscriptions.
func leadingIn(h *coord.Hub, namespace, name string) (leading, subscribed bool) {
	for _, s := range h.Subscriptions() {
		if s.Namespace() == namespace && s.Name() == name {
			return isLeading(s), true
		}
	}
	return false, false
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
		if st, err := h.StoreCheck(); st != coord.StoreCheckUnsafe || !errors.Is(err, coord.ErrUnsafeStore) {
			t.Errorf("store check %q, %v", st, err)
		}
		skip, err := coord.NewHub(view, coord.Config{SkipStoreCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := skip.StoreCheck(); st != coord.StoreCheckSkipped || err != nil {
			t.Errorf("skipped: %q, %v", st, err)
		}
	})
}
