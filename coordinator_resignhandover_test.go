package coord_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestResignHandsOverWhatever: a leader resigns a plugin whose Lead takes
// up to almost HeartbeatInterval to return; another live process that
// subscribes it leads it within that time + HeartbeatInterval +
// HeartbeatJitter (its next read of the records, its takeover), in both
// modes and at every phase of the two processes' heartbeats, never before
// the Lead returned. The back-off is counted from the release, so a slow
// Lead cannot use it up and let the resigning process take the plugin
// back first (before: on 3 of these 64 Global and 40 of 64 PerPlugin runs).
func TestResignHandsOverWhatever(t *testing.T) {
	cfg := coord.DefaultConfig()
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, stop := range []time.Duration{0, 2 * time.Second, 4 * time.Second, 4900 * time.Millisecond} {
			for seed := range uint64(16) {
				t.Run(fmt.Sprintf("%s/stop=%v/seed=%d", mode, stop, seed), func(t *testing.T) {
					resignHandsOver(t, mode, stop, seed, cfg)
				})
			}
		}
	}
}

func resignHandsOver(t *testing.T, mode coord.Mode, stop time.Duration, seed uint64, cfg coord.Config) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var mu sync.Mutex
		var aReturned, bStarted time.Time
		a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 2*seed + 1})
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2*seed + 2})
		sa, err := a.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
			<-ctx.Done()
			time.Sleep(stop)
			mu.Lock()
			aReturned = time.Now()
			mu.Unlock()
			return nil
		}}, coord.UseOptions{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads job", sa)
		sb, err := b.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
			mu.Lock()
			if bStarted.IsZero() {
				bStarted = time.Now()
			}
			mu.Unlock()
			<-ctx.Done()
			return nil
		}}, coord.UseOptions{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		// Resign at a phase of the heartbeats the seed picks.
		time.Sleep(10*time.Second + time.Duration(seed)*330*time.Millisecond)
		go func() { _ = sa.Resign(context.Background()) }()
		bound := stop + cfg.HeartbeatInterval + cfg.HeartbeatJitter
		took := waitLeader(t, time.Minute, "b leads job", sb)
		if took > bound {
			t.Errorf("b led job %v after a resigned it, want at most %v", took, bound)
		}
		synctest.Wait()
		mu.Lock()
		if aReturned.IsZero() || bStarted.Before(aReturned) {
			t.Errorf("b started leading job at %v, before a's Lead returned (%v)", bStarted.Format("15:04:05.000"), aReturned.Format("15:04:05.000"))
		}
		mu.Unlock()
		if isLeading(sa) {
			t.Error("a leads job beside b")
		}
		_ = b.Close(context.Background())
		_ = a.Close(context.Background())
	})
}

// TestResignAloneLeadsAgain: a process that resigns a plugin nobody else
// subscribes leads it again once its back-off (2*HeartbeatInterval,
// counted from the release) is over, within a tenth of a heartbeat (its
// requests), in both modes: a Global leader lists the plugin again when
// the back-off ends, not at its next renewal.
func TestResignAloneLeadsAgain(t *testing.T) {
	cfg := coord.DefaultConfig()
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, stop := range []time.Duration{0, 4 * time.Second} {
			for seed := range uint64(4) {
				t.Run(fmt.Sprintf("%s/stop=%v/seed=%d", mode, stop, seed), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						a := newHub(t, mem.New(mem.Options{}), coord.Config{WorkerID: "a", RandSeed: seed + 1})
						sa, err := a.Use(t.Context(), "job", plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
							<-ctx.Done()
							time.Sleep(stop)
							return nil
						}}, coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						waitLeader(t, time.Minute, "a leads job", sa)
						time.Sleep(10*time.Second + time.Duration(seed)*1300*time.Millisecond)
						if err := sa.Resign(t.Context()); err != nil { // returns once Lead has
							t.Fatal(err)
						}
						took := waitLeader(t, time.Minute, "a leads job again", sa)
						backoff := 2 * cfg.HeartbeatInterval
						if took < backoff || took > backoff+cfg.HeartbeatInterval/10 {
							t.Errorf("a led job again %v after its release, want within %v of the back-off %v", took, cfg.HeartbeatInterval/10, backoff)
						}
						_ = a.Close(context.Background())
					})
				})
			}
		}
	}
}
