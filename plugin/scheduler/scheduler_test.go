package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/scheduler"
)

const prefix = "app/scheduler/"

func term(epoch uint64) plugin.Term { return plugintest.Term("scheduler", epoch) }

// ledger records every run of every slot.
type ledger struct {
	mu   sync.Mutex
	runs []scheduler.Run
	at   []time.Time
}

func (l *ledger) job(name string, every time.Duration, missed scheduler.MissedPolicy) scheduler.Job {
	return scheduler.Job{Name: name, Interval: every, Missed: missed, Run: func(ctx context.Context, r scheduler.Run) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.runs = append(l.runs, r)
		l.at = append(l.at, time.Now())
		return nil
	}}
}

func (l *ledger) slots() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, r := range l.runs {
		out = append(out, r.Slot)
	}
	return out
}

// checkOnce fails if any slot ran twice, and returns the slots in order.
func (l *ledger) checkOnce(t *testing.T) []int64 {
	t.Helper()
	seen := map[int64]bool{}
	s := l.slots()
	for _, n := range s {
		if seen[n] {
			t.Fatalf("slot %d ran twice: %v", n, s)
		}
		seen[n] = true
	}
	return s
}

func newScheduler(t *testing.T, st driver.Store, jobs ...scheduler.Job) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(st, prefix, jobs, scheduler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lead runs s.Lead for d of virtual time, then cancels it and waits.
func lead(t *testing.T, s *scheduler.Scheduler, tm plugin.Term, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Lead(ctx, tm) }()
	time.Sleep(d)
	cancel()
	return <-done
}

var minute int64 = int64(time.Minute)

func slotNow() int64 { return time.Now().UnixNano() / minute }

func TestRunsEachSlotOnTime(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		var l ledger
		s := newScheduler(t, st, l.job("report", time.Minute, scheduler.Skip))
		first := slotNow()
		if err := lead(t, s, term(1), 5*time.Minute+30*time.Second); err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 6 || got[0] != first || got[5] != first+5 {
			t.Fatalf("slots %v, want %d..%d", got, first, first+5)
		}
		for i, r := range l.runs {
			if !l.at[i].Equal(r.Scheduled.Add(time.Millisecond)) && i > 0 {
				t.Errorf("slot %d ran at %v, scheduled %v", r.Slot, l.at[i], r.Scheduled)
			}
			if r.PreviousUnfinished {
				t.Errorf("slot %d: PreviousUnfinished", r.Slot)
			}
		}
		status, err := s.Status(context.Background())
		if err != nil || len(status) != 1 || status[0].Slot != first+5 || status[0].Finished != first+5 || status[0].Epoch != 1 {
			t.Fatalf("status %+v, %v", status, err)
		}
		reqs, _ := driver.RequestsOf(st)
		t.Logf("6 slots: %v", reqs)
	})
}

func TestFailoverNeverRunsASlotTwice(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		var l ledger
		job := l.job("report", time.Minute, scheduler.Skip)
		first := slotNow()
		if err := lead(t, newScheduler(t, st, job), term(1), 150*time.Second); err != nil {
			t.Fatal(err)
		}
		// The new leader starts within the same slot the old one ran.
		if err := lead(t, newScheduler(t, st, job), term(2), 150*time.Second); err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 5 || got[0] != first || got[4] != first+4 {
			t.Fatalf("slots %v, want %d..%d once each", got, first, first+4)
		}
	})
}

// An old leader that keeps running after a new one took over (it was
// paused past its lease and wakes up still believing it leads) never runs
// a slot the new leader ran, and stops once it sees the newer epoch.
func TestStaleLeaderStops(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, base driver.Store) {
		var l ledger
		job := l.job("report", time.Minute, scheduler.Skip)
		st := faultstore.New(base, 0)
		old := newScheduler(t, st, job)
		if err := lead(t, old, term(1), 30*time.Second); err != nil { // ran the first slot
			t.Fatal(err)
		}
		// Epoch 1 leads again and is paused right before claiming the
		// next slot.
		paused, resume := make(chan struct{}), make(chan struct{})
		var once atomic.Bool
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if c.Op == faultstore.OpPut && once.CompareAndSwap(false, true) {
				close(paused)
				<-resume
			}
			return nil
		}})
		ctx1, cancel1 := context.WithCancel(context.Background())
		defer cancel1()
		oldDone := make(chan error, 1)
		go func() { oldDone <- old.Lead(ctx1, term(1)) }()
		<-paused
		// Epoch 2 takes over and runs that slot (and the next ones).
		ctx2, cancel2 := context.WithCancel(context.Background())
		newDone := make(chan error, 1)
		go func() { newDone <- newScheduler(t, base, job).Lead(ctx2, term(2)) }()
		time.Sleep(10 * time.Second)
		close(resume)
		if err := <-oldDone; !errors.Is(err, plugin.ErrStaleEpoch) {
			t.Fatalf("stale Lead = %v, want ErrStaleEpoch", err)
		}
		time.Sleep(3 * time.Minute)
		cancel2()
		if err := <-newDone; err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 5 {
			t.Fatalf("slots %v, want 5", got)
		}
		if s := old.Stats(); s.Stale != 1 || s.Lost != 1 || s.Runs != 1 {
			t.Fatalf("old leader stats %+v", s)
		}
		for _, r := range l.runs[1:] {
			if r.Term.Epoch != 2 {
				t.Fatalf("slot %d ran at epoch %d after epoch 2 took over", r.Slot, r.Term.Epoch)
			}
		}
	})
}

func TestMissedSlots(t *testing.T) {
	for _, tc := range []struct {
		name              string
		policy            scheduler.MissedPolicy
		wantRuns, skipped uint64
	}{
		{"skip", scheduler.Skip, 1, 9},
		{"catch-up", scheduler.CatchUp, 6, 4}, // MaxCatchUp 5: slots 5..9 and 10
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
				var l ledger
				job := l.job("report", time.Minute, tc.policy)
				job.MaxCatchUp = 5
				first := slotNow()
				if err := lead(t, newScheduler(t, st, job), term(1), 30*time.Second); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Minute) // no leader for ten slots
				s := newScheduler(t, st, job)
				if err := lead(t, s, term(2), 10*time.Second); err != nil {
					t.Fatal(err)
				}
				got := l.checkOnce(t)
				if st := s.Stats(); st.Runs != tc.wantRuns || st.Skipped != tc.skipped {
					t.Fatalf("stats %+v, slots %v", st, got)
				}
				if got[len(got)-1] != first+10 {
					t.Fatalf("slots %v: last should be the current slot %d", got, first+10)
				}
				if tc.policy == scheduler.CatchUp && got[1] != first+5 {
					t.Fatalf("slots %v: catch-up should start at %d", got, first+5)
				}
			})
		})
	}
}

// A run whose completion is never recorded (the process died mid-run) is
// not run again; the next slot's run is told.
func TestCrashedRunIsNotRepeated(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, base driver.Store) {
		var l ledger
		job := l.job("report", time.Minute, scheduler.Skip)
		st := faultstore.New(base, 0)
		var puts atomic.Int32
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if c.Op == faultstore.OpPut && puts.Add(1) == 2 {
				return errors.New("process died before recording completion")
			}
			return nil
		}})
		s := newScheduler(t, st, job)
		if err := lead(t, s, term(1), 90*time.Second); err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 2 || got[1] != got[0]+1 {
			t.Fatalf("slots %v", got)
		}
		if !l.runs[1].PreviousUnfinished || s.Stats().Unfinished != 1 {
			t.Fatalf("second run %+v, stats %+v", l.runs[1], s.Stats())
		}
	})
}

// Slots follow the server's clock, not the leader's.
func TestServerClockDecides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ahead := 45 * time.Second
		st := mem.New(mem.Options{Now: func() time.Time { return time.Now().Add(ahead) }})
		var l ledger
		start := time.Now()
		if err := lead(t, newScheduler(t, st, l.job("report", time.Minute, scheduler.Skip)), term(1), 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		l.checkOnce(t)
		var offsets []string
		for _, at := range l.at {
			offsets = append(offsets, at.Sub(start).Truncate(time.Second).String())
		}
		// Server time 0:45 at local 0: slot 0 at once, then the server's
		// 1:00 and 2:00 at local 0:15 and 1:15.
		if got := strings.Join(offsets, " "); got != "0s 15s 1m15s" {
			t.Fatalf("runs at local %s, want 0s 15s 1m15s", got)
		}
	})
}

func TestRequestsPerHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mem.New(mem.Options{})
		var l ledger
		s := newScheduler(t, st, l.job("report", time.Minute, scheduler.Skip))
		if err := lead(t, s, term(1), time.Hour-time.Second); err != nil {
			t.Fatal(err)
		}
		got, _ := driver.RequestsOf(st)
		t.Logf("scheduler, one job every minute, default settings: %v per hour (%d runs)", got, len(l.slots()))
		if len(l.slots()) != 60 || got.List != 60 || got.Put != 120 || got.Get != 0 {
			t.Fatalf("requests per hour = %v, runs %d", got, len(l.slots()))
		}
	})
}

func TestInvalidJobs(t *testing.T) {
	st := mem.New(mem.Options{})
	run := func(context.Context, scheduler.Run) error { return nil }
	for _, jobs := range [][]scheduler.Job{
		{{Name: "", Interval: time.Second, Run: run}},
		{{Name: "a/b", Interval: time.Second, Run: run}},
		{{Name: "a", Interval: 0, Run: run}},
		{{Name: "a", Interval: time.Second}},
		{{Name: "a", Interval: time.Second, Run: run}, {Name: "a", Interval: time.Second, Run: run}},
	} {
		if _, err := scheduler.New(st, prefix, jobs, scheduler.Options{}); !errors.Is(err, scheduler.ErrInvalidJob) {
			t.Errorf("New(%+v) = %v, want ErrInvalidJob", jobs, err)
		}
	}
}

// A run's completion is written after its leadership ended, with a
// deadline of its own: when that write is accepted and never answered
// (the driver ignores its context), Lead still returns within
// CompletionTimeout of the end of its leadership, not when the store
// lets go.
func TestCompletionWriteIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := faultstore.New(mem.New(mem.Options{}), 0)
		release := make(chan struct{})
		defer close(release)
		stopped := make(chan struct{})
		job := scheduler.Job{Name: "report", Interval: time.Minute, Run: func(ctx context.Context, _ scheduler.Run) error {
			<-ctx.Done() // the leadership ends during the run
			close(stopped)
			return nil
		}}
		var armed atomic.Bool
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if c.Op == faultstore.OpPut && armed.Load() {
				<-release // hangs, whatever its context says
			}
			return nil
		}})
		s, err := scheduler.New(st, prefix, []scheduler.Job{job}, scheduler.Options{CompletionTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Lead(ctx, term(1)) }()
		time.Sleep(90 * time.Second) // the slot's claim lands, its run starts
		armed.Store(true)
		cancel()
		<-stopped
		start := time.Now()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("Lead did not return a minute after its leadership ended: the completion write is not bounded")
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Lead returned %v after its leadership ended, want at most the CompletionTimeout (3s)", took)
		}
	})
}
