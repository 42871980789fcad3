package coord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/vclock"
	"github.com/s3coord/coord/plugin"
)

// The engine runs on an injected virtual clock (as the simulation and the
// benchmark drive it) outside testing/synctest: every wait, request
// timeout included, goes through Config.Clock.
func TestInjectedVirtualClock(t *testing.T) {
	vc := vclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	store := mem.New(mem.Options{Now: vc.Now})
	var subs []*coord.Subscription
	var hubs []*coord.Hub
	for i := range 3 {
		h, err := coord.NewHub(store, coord.Config{Clock: vc, RandSeed: uint64(i + 1), WorkerID: fmt.Sprintf("w%d", i), DisableMembership: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.Use(context.Background(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hubs, subs = append(hubs, h), append(subs, s)
	}
	vc.RunFor(time.Minute, nil)
	before := store.Requests()
	vc.RunFor(time.Hour, nil)
	got := store.Requests().Sub(before)
	if l := leaderOf(subs...); len(l) != 1 {
		t.Fatalf("leaders %v", l)
	}
	// 3 elections' worth of heartbeats: ~650 PUT (leader) + ~2020 GET
	// (every heartbeat, the leader's too: it reads its lease back), and
	// ~220 GETs of the unsafe-store notice (the leader's Hub, once per
	// LeaseTimeout).
	if got.Put < 600 || got.Put > 720 || got.Get < 2150 || got.Get > 2350 {
		t.Errorf("one virtual hour: %v", got)
	}
	t.Logf("one virtual hour, 3 workers, global mode, no membership: %v", got)
	for _, h := range hubs {
		if !vc.Run(time.Minute, func() { h.Close(context.Background()) }) {
			t.Error("Close did not return")
		}
	}
}
