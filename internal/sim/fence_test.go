package sim_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestFencingPausedLeaderStaleWriteRejected: process A leads and appends
// to a fenced log every second. Between the epoch check and the write of
// one append, A is paused (its requests are held) for much longer than the
// lease; its renewals stall, its leadership context is cancelled at the
// renew deadline, and B takes over with a higher epoch and appends. When A
// wakes up, its held write goes out with the version it judged under its
// old epoch: it must be rejected, and the log must hold no line of A after
// B's first.
func TestFencingPausedLeaderStaleWriteRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		viewA, viewB := faultstore.New(base, 1), faultstore.New(base, 2)
		const key = "app/log.json"
		logA := &fencedLog{store: viewA, key: key}
		logB := &fencedLog{store: viewB, key: key}

		var (
			mu        sync.Mutex
			termA     plugin.Term
			endA      time.Time
			startB    time.Time
			termB     plugin.Term
			staleErr  error
			pausedAt  time.Time
			heldWrite = make(chan struct{})
			staleDone = make(chan struct{})
		)
		n := 0
		logA.beforeWrite = func(line string) {
			mu.Lock()
			n++
			third := n == 3
			mu.Unlock()
			if third {
				pausedAt = time.Now()
				viewA.Pause() // the write below is held before it reaches the store
				close(heldWrite)
			}
		}
		writer := func(log *fencedLog, name string, onLead func(context.Context, plugin.Term), onEnd func(plugin.Term, error)) plugin.Plugin {
			return &plugin.Func{OnLead: func(ctx context.Context, term plugin.Term) error {
				onLead(ctx, term)
				for i := 0; ; i++ {
					select {
					case <-ctx.Done():
						onEnd(term, nil)
						return nil
					case <-time.After(time.Second):
					}
					// Checked: still leading. A pause can strike from here on.
					if err := log.Append(context.Background(), term, fmt.Sprintf("%s %d epoch %d", name, i, term.Epoch)); err != nil {
						onEnd(term, err)
						return err
					}
				}
			}}
		}
		hubA, err := coord.NewHub(viewA, coord.Config{WorkerID: "a", RandSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		subAEnd := make(chan struct{})
		pa := writer(logA, "A", func(ctx context.Context, term plugin.Term) {
			mu.Lock()
			termA = term
			mu.Unlock()
			context.AfterFunc(ctx, func() {
				mu.Lock()
				endA = time.Now()
				mu.Unlock()
				close(subAEnd)
			})
		}, func(_ plugin.Term, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				staleErr = err
				close(staleDone)
			}
		})
		if _, err := hubA.Use(t.Context(), "log", pa, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		<-heldWrite

		hubB, err := coord.NewHub(viewB, coord.Config{WorkerID: "b", RandSeed: 2})
		if err != nil {
			t.Fatal(err)
		}
		bWrote := make(chan struct{})
		var once sync.Once
		logB.beforeWrite = func(string) { once.Do(func() { close(bWrote) }) }
		pb := writer(logB, "B", func(_ context.Context, term plugin.Term) {
			mu.Lock()
			termB, startB = term, time.Now()
			mu.Unlock()
		}, func(plugin.Term, error) {})
		if _, err := hubB.Use(t.Context(), "log", pb, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-bWrote:
		case <-time.After(2 * time.Minute):
			t.Fatal("B never wrote")
		}
		time.Sleep(3 * time.Second) // B appends a few lines
		<-subAEnd
		pauseLen := time.Since(pausedAt)
		viewA.Resume() // A wakes up: its held write goes out
		select {
		case <-staleDone:
		case <-time.After(time.Minute):
			t.Fatal("A's held write neither failed nor returned")
		}

		mu.Lock()
		defer mu.Unlock()
		if pauseLen <= coord.DefaultConfig().LeaseTimeout {
			t.Errorf("A paused %v, want longer than the lease %v", pauseLen, coord.DefaultConfig().LeaseTimeout)
		}
		if termB.Epoch <= termA.Epoch {
			t.Errorf("B's epoch %d is not above A's %d", termB.Epoch, termA.Epoch)
		}
		if !endA.Before(startB) {
			t.Errorf("A led until %v, B from %v: overlap", endA, startB)
		}
		if !errors.Is(staleErr, plugin.ErrStaleEpoch) {
			t.Errorf("A's stale write: %v, want ErrStaleEpoch", staleErr)
		}
		lines, err := logB.Lines(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		firstB := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "B ") })
		if firstB < 0 {
			t.Fatalf("no line of B in %q", lines)
		}
		for _, l := range lines[firstB:] {
			if strings.HasPrefix(l, "A ") {
				t.Errorf("stale line %q of A after B's first line; log %q", l, lines)
			}
		}
		if firstB != 2 {
			t.Errorf("A wrote %d lines before the pause, want 2; log %q", firstB, lines)
		}
		t.Logf("A epoch %d paused %v; B epoch %d; A's held write: %v; log %q", termA.Epoch, pauseLen, termB.Epoch, staleErr, lines)
		_ = hubB.Close(context.Background())
		viewA.Close()
		_ = hubA.Close(context.Background())
	})
}
