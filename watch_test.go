package coord_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestSlowWatcherGetsTheLatestLeader: an Observe reader that does not keep
// up never keeps a stale leader: the last event it reads is the current
// leader.
func TestSlowWatcherGetsTheLatestLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var hubs []*coord.Hub
		for i := range 4 {
			h := newHub(t, store, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: uint64(i + 1)})
			if _, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
				t.Fatal(err)
			}
			hubs = append(hubs, h)
			time.Sleep(time.Second)
		}
		watcher := hubs[3].Coordinators()[0]
		events := watcher.Observe(t.Context())
		// Crash the leader three times; nobody reads events meanwhile.
		for range 3 {
			time.Sleep(time.Minute)
			synctest.Wait()
			for _, h := range hubs[:3] {
				if c := h.Coordinators(); len(c) > 0 && c[0].Metrics().IsLeader {
					crash(h)
				}
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		var last plugin.Change
		n := 0
	drain:
		for {
			select {
			case ev := <-events:
				last, n = ev, n+1
			default:
				break drain
			}
		}
		if n < 3 {
			t.Errorf("%d events buffered, want one per change of leader", n)
		}
		leader, err := watcher.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if last.To != leader.ID || last.Epoch != leader.Epoch {
			t.Errorf("the slow watcher's last event says %s (epoch %d); the leader is %s (epoch %d)", last.To, last.Epoch, leader.ID, leader.Epoch)
		}
	})
}

// TestObserveDropsTheOldest: Observe starts with the current leader; a
// reader that falls a whole buffer behind loses the oldest events, never
// the latest, and the loop never waits for it; the channel closes when
// the reader's ctx ends, and when the coordinator stops.
func TestObserveDropsTheOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		h := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
		sub, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads", sub)
		// b follows: each value a proclaims is a change it reads.
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
		if _, err := b.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		c := b.Coordinators()[0]
		select { // the first event is the current leader, not only what comes next
		case first := <-c.Observe(t.Context()):
			if first.To != "a" || first.Self {
				t.Errorf("Observe's first event %+v, want the current leader a", first)
			}
		default:
			t.Error("Observe delivers nothing until the next change: want the current leader first")
		}
		ctx, cancel := context.WithCancel(t.Context())
		slow := c.Observe(ctx)
		kept := c.Observe(t.Context())
		const values = 100
		for i := range values {
			if err := h.Proclaim(fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(7 * time.Second) // a renewal writes it, a read of b's sees it: one event each
			synctest.Wait()
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if n := len(slow); n == 0 || n == values {
			t.Fatalf("%d events buffered of %d changes: want a full buffer", n, values)
		}
		var last plugin.Change
		for len(slow) > 0 {
			last = <-slow
		}
		if last.Value != fmt.Sprint("v", values-1) || last.To != "a" || last.Self {
			t.Errorf("the last event %+v, want a's latest value v%d", last, values-1)
		}
		if m := c.Metrics(); m.DroppedEvents == 0 || m.HeartbeatCount < values {
			t.Errorf("dropped %d events in %d heartbeats, want some dropped and every heartbeat run", m.DroppedEvents, m.HeartbeatCount)
		}
		cancel()
		synctest.Wait()
		if _, ok := <-slow; ok {
			t.Error("Observe's channel still open after its ctx ended")
		}
		_ = b.Close(context.Background())
		for range kept { // drain what is left: it closes with the coordinator
		}
	})
}
