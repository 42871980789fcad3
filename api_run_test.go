package coord_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestRun: the one-call API. Two processes run one job; exactly one runs
// it at a time; stopping the one that runs it (its ctx cancelled) returns
// nil after releasing, and the other takes the job over within a
// heartbeat.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := coord.DefaultConfig()
		store := mem.New(mem.Options{})
		var (
			mu      sync.Mutex
			running = map[string]bool{}
			started = make(chan string, 4)
			overlap bool
		)
		job := func(who string) func(context.Context, plugin.Term) error {
			return func(ctx context.Context, term plugin.Term) error {
				mu.Lock()
				for w, r := range running {
					overlap = overlap || (r && w != who)
				}
				running[who] = true
				mu.Unlock()
				started <- who
				<-ctx.Done()
				mu.Lock()
				running[who] = false
				mu.Unlock()
				return nil
			}
		}
		ctxs, cancels, done := map[string]context.Context{}, map[string]context.CancelFunc{}, map[string]chan error{}
		for i, who := range []string{"a", "b"} {
			ctx, cancel := context.WithCancel(context.Background())
			ch := make(chan error, 1)
			ctxs[who], cancels[who], done[who] = ctx, cancel, ch
			go func() {
				ch <- coord.Run(ctx, store, coord.Config{WorkerID: who, RandSeed: uint64(i + 1)}, "report", job(who))
			}()
		}
		first := <-started
		other := map[string]string{"a": "b", "b": "a"}[first]
		time.Sleep(time.Minute)
		synctest.Wait()
		stopped := time.Now()
		cancels[first]()
		if err := <-done[first]; err != nil {
			t.Errorf("Run of %s returned %v after its ctx was cancelled, want nil", first, err)
		}
		select {
		case who := <-started:
			if who != other {
				t.Errorf("%s started the job again", who)
			}
			if took := time.Since(stopped); took > cfg.HeartbeatInterval+cfg.HeartbeatJitter {
				t.Errorf("handover took %v, want at most %v", took, cfg.HeartbeatInterval+cfg.HeartbeatJitter)
			}
		case <-time.After(time.Minute):
			t.Fatal("the other process never took the job over")
		}
		cancels[other]()
		if err := <-done[other]; err != nil {
			t.Error(err)
		}
		if overlap {
			t.Error("two processes ran the job at once")
		}
		// What keeps Run from campaigning is its error.
		if err := coord.Run(context.Background(), store, coord.Config{}, "report", nil); err == nil {
			t.Error("Run with a nil job: no error")
		}
		if err := coord.Run(context.Background(), store, coord.Config{}, "a/b", job("c")); !errors.Is(err, coord.ErrInvalidName) {
			t.Errorf("Run with a bad name: %v", err)
		}
		lying := faultstore.New(store, 9)
		lying.Set(faultstore.Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1})
		if err := coord.Run(context.Background(), lying, coord.Config{}, "report", job("c")); !errors.Is(err, coord.ErrUnsafeStore) {
			t.Errorf("Run on a store that ignores conditions: %v", err)
		}
	})
}

// TestResignAndWait: WaitLeader and Changed instead of polling; Resign
// hands the plugin over now and campaigns again later, in both modes.
func TestResignAndWait(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := coord.DefaultConfig()
				store := mem.New(mem.Options{})
				rec := causeRecorder{causes: make(chan error, 4)}
				a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
				sa, err := a.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				term, err := sa.WaitLeader(t.Context())
				if err != nil || term.Leader != "a" {
					t.Fatalf("WaitLeader: %+v, %v", term, err)
				}
				b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
				sb, err := b.Use(t.Context(), "job", (&recorder{}).plugin(), coord.UseOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				short, cancel := context.WithTimeout(t.Context(), time.Minute)
				if _, err := sb.WaitLeader(short); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("b's WaitLeader while a leads: %v, want DeadlineExceeded", err)
				}
				cancel()
				if err := sb.Resign(t.Context()); !errors.Is(err, coord.ErrNotLeader) {
					t.Errorf("Resign of a follower: %v, want ErrNotLeader", err)
				}
				resigned := time.Now()
				if err := sa.Resign(t.Context()); err != nil {
					t.Fatal(err)
				}
				if isLeading(sa) {
					t.Error("still leading once Resign returned")
				}
				if cause := <-rec.causes; !errors.Is(cause, coord.ErrResigned) {
					t.Errorf("cause %v, want ErrResigned", cause)
				}
				if _, err := sb.WaitLeader(t.Context()); err != nil {
					t.Fatal(err)
				}
				if took := time.Since(resigned); took > cfg.HeartbeatInterval+cfg.HeartbeatJitter {
					t.Errorf("b took over %v after a resigned, want at most %v", took, cfg.HeartbeatInterval+cfg.HeartbeatJitter)
				}
				if m := sa.Metrics(); m.LeadReturns != 0 {
					t.Errorf("a Resign counted as a Lead return: %d", m.LeadReturns)
				}
				// a campaigns again: it leads once b stops.
				_ = b.Close(t.Context())
				if _, err := sa.WaitLeader(t.Context()); err != nil {
					t.Fatal(err)
				}
				_ = sa.Close(t.Context())
				if _, err := sa.WaitLeader(t.Context()); !errors.Is(err, coord.ErrClosed) {
					t.Errorf("WaitLeader after Close: %v, want ErrClosed", err)
				}
			})
		})
	}
}
