package coord_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestLeadReturnResigns: a Lead that returns while its leadership holds
// resigns the plugin. The lease is released at once, so another process
// takes over within a heartbeat (not a whole lease), the return is
// counted, and the resigning process leads again after its back-off.
func TestLeadReturnResigns(t *testing.T) {
	for _, mode := range []coord.Mode{coord.PerPlugin, coord.Global} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := coord.DefaultConfig()
				store := mem.New(mem.Options{})
				var aLeads atomic.Int32
				quit := errors.New("job failed")
				a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
				sa, err := a.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
					if aLeads.Add(1) == 1 {
						return quit // the first leadership ends at once, with an error
					}
					<-ctx.Done()
					return nil
				}}, coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				waitFor(t, time.Minute, "a leads", func() bool { return aLeads.Load() == 1 })
				b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
				sb, err := b.Use(t.Context(), "job", (&recorder{}).plugin(), coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				took := waitLeader(t, time.Minute, "b leads", sb)
				if bound := cfg.HeartbeatInterval + cfg.HeartbeatJitter; took > bound {
					t.Errorf("b took over %v after a's Lead returned, want at most %v", took, bound)
				}
				if isLeading(sa) {
					t.Error("a still leads after its Lead returned")
				}
				m := sa.Metrics()
				if m.LeadReturns != 1 || m.LeadErrors != 1 {
					t.Errorf("LeadReturns %d, LeadErrors %d; want 1 and 1", m.LeadReturns, m.LeadErrors)
				}
				// b stops; a is a candidate again and leads.
				if err := b.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				waitLeader(t, time.Minute, "a leads again", sa)
				synctest.Wait() // its Lead has started
				if n := aLeads.Load(); n != 2 {
					t.Errorf("a led %d times, want 2", n)
				}
			})
		})
	}
}

// TestFuncByValue: a plugin.Func passed by value leads like a pointer, and
// a Func whose OnLead is unset never resigns (it has no Lead to return).
func TestFuncByValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		h := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
		led := make(chan plugin.Term, 1)
		if _, err := h.Use(t.Context(), "byvalue", plugin.Func{OnLead: func(ctx context.Context, term plugin.Term) error {
			led <- term
			<-ctx.Done()
			return nil
		}}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		ticks := make(chan struct{}, 100)
		tick, err := h.Use(t.Context(), "tickonly", plugin.Func{Every: time.Second, OnTick: func(context.Context, plugin.Term) error {
			ticks <- struct{}{}
			return nil
		}}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-led:
		case <-time.After(time.Minute):
			t.Fatal("a plugin.Func given by value never led")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !isLeading(tick) || len(ticks) < 30 {
			t.Errorf("tick-only Func: leader %v, %d ticks in a minute", isLeading(tick), len(ticks))
		}
		if m := tick.Metrics(); m.LeadReturns != 0 {
			t.Errorf("LeadReturns %d for plugins without OnLead", m.LeadReturns)
		}
		_ = h.Close(t.Context())
	})
}
