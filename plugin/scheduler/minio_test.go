package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/scheduler"
)

// TestMinIO runs the scheduler on a real MinIO server in real time:
// epoch 1 leads, epoch 2 takes over, epoch 1 comes back stale. No slot
// runs twice.
func TestMinIO(t *testing.T) {
	st := plugintest.MinIO(t)
	var l ledger
	job := l.job("tick", 2*time.Second, scheduler.Skip)
	if err := lead(t, newScheduler(t, st, job), term(1), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := lead(t, newScheduler(t, st, job), term(2), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := newScheduler(t, st, job).Lead(ctx, term(1)); !errors.Is(err, plugin.ErrStaleEpoch) {
		t.Fatalf("stale Lead = %v, want ErrStaleEpoch", err)
	}
	got := l.checkOnce(t)
	if len(got) < 4 {
		t.Fatalf("slots %v: want at least 4 in 10s of 2s slots", got)
	}
	for _, r := range l.runs {
		if r.Term.Epoch == 1 && r.Slot > got[len(got)-1] {
			t.Fatalf("stale epoch ran slot %d", r.Slot)
		}
	}
}
