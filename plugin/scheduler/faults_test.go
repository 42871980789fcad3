package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin/scheduler"
)

// startLead runs s.Lead in the background; the returned stop cancels it
// and waits for it.
func startLead(s *scheduler.Scheduler, epoch uint64) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Lead(ctx, term(epoch)) }()
	return func() error { cancel(); return <-done }
}

// A leader whose reads of the job record come back damaged must not take
// the record for an empty one (found by internal/sim, seeds 2562 and
// 2998: a stale leader woke up, read the record through a damaged
// response, saw slot 0 and epoch 0, and claimed by IfMatch of the current
// version the slot its successor had just run).
func TestDamagedReadsNeverRerunASlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		view := faultstore.New(base, 1)
		var l ledger
		job := l.job("report", time.Minute, scheduler.Skip)
		first := slotNow()

		old := newScheduler(t, view, job)
		stopOld := startLead(old, 1)
		time.Sleep(30 * time.Second) // epoch 1 ran the first slot
		if err := stopOld(); err != nil {
			t.Fatal(err)
		}
		stopNew := startLead(newScheduler(t, base, job), 2)
		time.Sleep(40 * time.Second) // epoch 2 ran the second slot

		// The old leader wakes up believing it still leads, and every
		// read it makes comes back damaged.
		view.Set(faultstore.Faults{CorruptRate: 1})
		stopOld = startLead(old, 1)
		time.Sleep(5 * time.Minute)
		_ = stopOld()
		if err := stopNew(); err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 7 || got[0] != first || got[6] != first+6 {
			t.Fatalf("slots %v, want %d..%d once each", got, first, first+6)
		}
		if st := old.Stats(); st.Runs != 1 || st.Corrupt == 0 {
			t.Fatalf("old leader stats %+v: want 1 run and damaged records seen", st)
		}
	})
}

// A damaged record object (not just a damaged response) is replaced, and
// the job goes on after skipping the slots it cannot rule out.
func TestDamagedRecordIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		view := faultstore.New(base, 2)
		var l ledger
		job := l.job("report", time.Minute, scheduler.Skip)
		first := slotNow()
		s := newScheduler(t, view, job)
		stop := startLead(s, 1)
		time.Sleep(30 * time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := view.WriteGarbage(context.Background(), prefix+"jobs/report.json", 40); err != nil {
			t.Fatal(err)
		}
		stop = startLead(s, 2)
		time.Sleep(4 * time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		// Slot first ran; at 0:30 the record is garbage: slots first and
		// first+1 may have run as far as anyone can tell, so the next
		// run is first+2 (at 2:00), then first+3 and first+4.
		got := l.checkOnce(t)
		if len(got) != 4 || got[1] != first+2 || got[3] != first+4 {
			t.Fatalf("slots %v, want %d, then %d..%d", got, first, first+2, first+4)
		}
		if !l.runs[1].PreviousUnfinished {
			t.Fatalf("the run after a damaged record must be told the previous slot is unknown: %+v", l.runs[1])
		}
		status, err := s.Status(context.Background())
		if err != nil || status[0].Slot != first+4 || status[0].Epoch != 2 {
			t.Fatalf("status %+v, %v", status, err)
		}
	})
}

// Every write of the leader is applied but reported as a timeout: each
// claim is recognised by its nonce when the record is read again, so
// every slot still runs, exactly once.
func TestAmbiguousClaimsAreRecognised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		view := faultstore.New(base, 3)
		view.Set(faultstore.Faults{AmbiguousRate: 1})
		var l ledger
		s := newScheduler(t, view, l.job("report", time.Minute, scheduler.Skip))
		first := slotNow()
		stop := startLead(s, 1)
		time.Sleep(5*time.Minute + 30*time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := l.checkOnce(t)
		if len(got) != 6 || got[0] != first || got[5] != first+5 {
			t.Fatalf("slots %v, want %d..%d", got, first, first+5)
		}
		if st := s.Stats(); st.Recovered != 6 {
			t.Fatalf("stats %+v: want 6 recovered claims", st)
		}
	})
}

// Random faults on every leader (409s, ambiguous writes, damaged reads,
// errors, latency), a new epoch every 45s while the older leaders go on
// for a while believing they lead: no slot ever runs twice, and most
// slots run.
func TestRandomFaultsAtMostOncePerSlot(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := mem.New(mem.Options{})
				var l ledger
				job := l.job("tick", 10*time.Second, scheduler.CatchUp)
				job.MaxCatchUp = 2
				faults := faultstore.Faults{
					RequestDelay: faultstore.Delay{Max: 2 * time.Second}, ResponseDelay: faultstore.Delay{Max: time.Second},
					ErrorRate: 0.1, ConflictRate: 0.2, AmbiguousRate: 0.3, CorruptRate: 0.3,
				}
				var stops []func() error
				const terms = 16
				for epoch := uint64(1); epoch <= terms; epoch++ {
					view := faultstore.New(base, seed*100+epoch)
					view.Set(faults)
					s, err := scheduler.New(view, prefix, []scheduler.Job{job}, scheduler.Options{RetryBackoff: 500 * time.Millisecond})
					if err != nil {
						t.Fatal(err)
					}
					stops = append(stops, startLead(s, epoch))
					time.Sleep(45 * time.Second)
					if len(stops) > 2 { // leaders go stale, and stop two terms later
						_ = stops[len(stops)-3]()
					}
				}
				for _, stop := range stops[len(stops)-2:] {
					_ = stop()
				}
				got := l.checkOnce(t)
				if slots := terms * 45 / 10; len(got) < slots/2 {
					t.Fatalf("only %d of %d slots ran: %v", len(got), slots, got)
				}
			})
		})
	}
}
