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

// TestSlowWatcherGetsTheLatestLeader: a Watch reader that does not keep up
// never keeps a stale leader: the oldest events make room, and the last
// one it reads is the current leader.
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
		w := watcher.Observe(1)
		defer w.Stop()
		events := w.C
		other := watcher.Observe(64) // a watcher that keeps up drops nothing
		// Crash the leader three times; nobody reads events meanwhile.
		for range 3 {
			time.Sleep(time.Minute)
			synctest.Wait()
			for _, h := range hubs[:3] {
				if c := h.Coordinators(); len(c) > 0 && c[0].IsLeader() {
					crash(h)
				}
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		var last plugin.Change
		for n := 0; ; n++ {
			select {
			case ev := <-events:
				last = ev
				continue
			default:
			}
			if n != 1 {
				t.Errorf("%d events buffered, want 1", n)
			}
			break
		}
		leader, err := watcher.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if last.To != leader.ID || last.Epoch != leader.Epoch {
			t.Errorf("the slow watcher's last event says %s (epoch %d); the leader is %s (epoch %d)", last.To, last.Epoch, leader.ID, leader.Epoch)
		}
		if watcher.Metrics().DroppedEvents == 0 || w.Dropped() == 0 {
			t.Errorf("dropped events: %d in Metrics, %d for the slow watcher; want some", watcher.Metrics().DroppedEvents, w.Dropped())
		}
		if other.Dropped() != 0 || len(other.C) == 0 {
			t.Errorf("the watcher with room dropped %d, holds %d", other.Dropped(), len(other.C))
		}
	})
}
