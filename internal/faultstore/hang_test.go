package faultstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

// call runs op on key through s: an unconditional write for Put and
// Delete.
func call(ctx context.Context, s *Store, op, key string) error {
	switch op {
	case OpGet:
		_, err := s.Get(ctx, key)
		return err
	case OpPut:
		_, err := s.Put(ctx, key, []byte("x"), driver.None)
		return err
	case OpDelete:
		return s.Delete(ctx, key, driver.None)
	default:
		_, err := s.List(ctx, key)
		return err
	}
}

// start runs op on key in a goroutine; the channel receives its error.
func start(ctx context.Context, s *Store, op, key string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- call(ctx, s, op, key) }()
	return done
}

// stillRunning fails the test if the call has returned; it must run in a
// synctest bubble.
func stillRunning(t *testing.T, done <-chan error, what string) {
	t.Helper()
	synctest.Wait()
	select {
	case err := <-done:
		t.Fatalf("%s: hung call returned: %v", what, err)
	default:
	}
}

// checkContextError checks that err is ctx's error wrapped once for op.
func checkContextError(t *testing.T, err error, op string, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	var oe *driver.OpError
	if !errors.As(err, &oe) || oe.Op != op || errors.As(oe.Err, new(*driver.OpError)) {
		t.Fatalf("error %v is not wrapped once in an OpError for %q", err, op)
	}
}

func checkTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v does not look like a timeout", err)
	}
}

var allOps = []string{OpGet, OpPut, OpDelete, OpList}

func TestHangHonouringContextEndsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		s.Set(Faults{HangRate: 1})
		for _, op := range allOps {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			begun := time.Now()
			err := call(ctx, s, op, "k")
			cancel()
			checkContextError(t, err, op, context.DeadlineExceeded)
			if d := time.Since(begun); d != 3*time.Second {
				t.Fatalf("%s returned after %v, want the 3s deadline", op, d)
			}
		}
		// A cancelled context ends the hang too.
		ctx, cancel := context.WithCancel(context.Background())
		done := start(ctx, s, OpGet, "k")
		time.Sleep(time.Hour)
		stillRunning(t, done, "before cancel")
		cancel()
		checkContextError(t, <-done, OpGet, context.Canceled)
		if got := s.Injected()[Hang]; got != 5 || s.Hanging() != 0 {
			t.Fatalf("Injected hang = %d, Hanging = %d; want 5, 0", got, s.Hanging())
		}
	})
}

func TestHangIgnoringContextEndsOnRelease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release func(*Store)
		closed  bool
	}{
		{"ReleaseHangs", (*Store).ReleaseHangs, false},
		{"Heal", (*Store).Heal, false},
		{"Close", func(s *Store) { _ = s.Close() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, _ := newStore(1)
				s.Set(Faults{HangRate: 1, HangIgnoresContext: true})
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				begun := time.Now()
				var calls []<-chan error
				for _, op := range allOps {
					calls = append(calls, start(ctx, s, op, "k"))
				}
				time.Sleep(time.Hour) // far past the deadline
				for i, done := range calls {
					stillRunning(t, done, allOps[i])
				}
				if s.Hanging() != len(allOps) {
					t.Fatalf("Hanging = %d, want %d", s.Hanging(), len(allOps))
				}
				tc.release(s)
				for i, done := range calls {
					err := <-done
					if tc.closed {
						if !errors.Is(err, driver.ErrClosed) {
							t.Fatalf("%s after Close: %v, want ErrClosed", allOps[i], err)
						}
						continue
					}
					checkInjected(t, err, allOps[i], Hang)
					checkTimeout(t, err)
					if errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("a call ignoring its context reported it: %v", err)
					}
				}
				if d := time.Since(begun); d != time.Hour {
					t.Fatalf("released after %v, want 1h", d)
				}
				if s.Hanging() != 0 {
					t.Fatalf("Hanging = %d after the release", s.Hanging())
				}
				if tc.closed {
					return
				}
				// Later calls hang again while the rate holds.
				done := start(context.Background(), s, OpGet, "k")
				time.Sleep(time.Hour)
				stillRunning(t, done, "after the release")
				s.ReleaseHangs()
				checkInjected(t, <-done, OpGet, Hang)
				if got := s.Injected()[Hang]; got != uint64(len(allOps)+1) {
					t.Fatalf("Injected hang = %d", got)
				}
			})
		})
	}
}

func TestHangForBoundsHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		bounded := func(ignore bool, deadline time.Duration) (time.Duration, error) {
			s.Set(Faults{HangRate: 1, HangIgnoresContext: ignore, HangFor: Delay{Min: 5 * time.Second}})
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			begun := time.Now()
			err := call(ctx, s, OpPut, "k")
			return time.Since(begun), err
		}
		// Ignoring a 1s deadline: the transport gives up at 5s.
		d, err := bounded(true, time.Second)
		checkInjected(t, err, OpPut, Hang)
		checkTimeout(t, err)
		if d != 5*time.Second {
			t.Fatalf("ignoring context: returned after %v, want 5s", d)
		}
		// Honouring a later deadline: the bound comes first.
		d, err = bounded(false, 10*time.Second)
		checkInjected(t, err, OpPut, Hang)
		if d != 5*time.Second {
			t.Fatalf("honouring a 10s deadline: returned after %v, want 5s", d)
		}
		// Honouring an earlier deadline: the deadline comes first.
		d, err = bounded(false, 2*time.Second)
		checkContextError(t, err, OpPut, context.DeadlineExceeded)
		if d != 2*time.Second {
			t.Fatalf("honouring a 2s deadline: returned after %v, want 2s", d)
		}
		// A range is drawn per call.
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true, HangFor: Delay{Min: time.Second, Max: 10 * time.Second}})
		seen := map[time.Duration]bool{}
		for range 30 {
			begun := time.Now()
			checkInjected(t, call(context.Background(), s, OpGet, "k"), OpGet, Hang)
			d := time.Since(begun)
			if d < time.Second || d > 10*time.Second {
				t.Fatalf("hang of %v outside [1s, 10s]", d)
			}
			seen[d] = true
		}
		if len(seen) < 20 {
			t.Fatalf("only %d distinct hang durations in 30 calls", len(seen))
		}
	})
}

// A hung call reaches the store or not: a write is applied about half
// the time, a read is billed about half the time.
func TestHungCallsSometimesReachTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(5)
		s.Set(Faults{HangRate: 1, HangFor: Delay{Min: time.Second}})
		ctx := context.Background()
		const n = 400
		within := func(what string, got int) {
			t.Helper()
			if got < n*35/100 || got > n*65/100 {
				t.Errorf("%s: %d of %d hung calls reached the store", what, got, n)
			}
		}
		for i := range n {
			key := fmt.Sprintf("k/%d", i)
			if _, err := s.Put(ctx, key, []byte("x"), driver.IfAbsent()); !errors.Is(err, ErrInjected) {
				t.Fatalf("hung Put: %v", err)
			}
		}
		res, _ := inner.List(ctx, "k/")
		applied := len(res.Entries)
		within("Put", applied)
		for i := range n {
			key := fmt.Sprintf("k/%d", i)
			_, _ = inner.Put(ctx, key, []byte("y"), driver.None)
			if err := s.Delete(ctx, key, driver.None); !errors.Is(err, ErrInjected) {
				t.Fatalf("hung Delete: %v", err)
			}
		}
		res, _ = inner.List(ctx, "k/")
		within("Delete", n-len(res.Entries))
		before := inner.Requests().Get
		for i := range n {
			if _, err := s.Get(ctx, fmt.Sprintf("k/%d", i)); !errors.Is(err, ErrInjected) {
				t.Fatalf("hung Get: %v", err)
			}
		}
		within("Get", int(inner.Requests().Get-before))
	})
}

// A write reaches the store or not as drawn, even when the caller's
// context ends first.
func TestHungWriteAppliedAfterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(5)
		s.Set(Faults{HangRate: 1})
		applied := 0
		for i := range 100 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			key := fmt.Sprintf("k/%d", i)
			_, err := s.Put(ctx, key, []byte("x"), driver.None)
			cancel()
			checkContextError(t, err, OpPut, context.DeadlineExceeded)
			if _, err := inner.Get(context.Background(), key); err == nil {
				applied++
			}
		}
		if applied < 30 || applied > 70 {
			t.Fatalf("%d of 100 hung writes applied", applied)
		}
		// A context that has already ended sends nothing, unless it is
		// ignored.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := inner.Requests().Put
		for i := range 100 {
			_, err := s.Put(ctx, fmt.Sprintf("late/%d", i), []byte("x"), driver.None)
			checkContextError(t, err, OpPut, context.Canceled)
		}
		if got := inner.Requests().Put - before; got != 0 {
			t.Fatalf("%d writes sent with an ended context", got)
		}
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true, HangFor: Delay{Min: time.Second}})
		for i := range 100 {
			_, err := s.Put(ctx, fmt.Sprintf("late/%d", i), []byte("x"), driver.None)
			checkInjected(t, err, OpPut, Hang)
		}
		if got := inner.Requests().Put - before; got < 30 || got > 70 {
			t.Fatalf("%d of 100 writes sent ignoring an ended context", got)
		}
	})
}

func TestHangNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		s.Set(Faults{Match: func(op, key string) bool { return false }}) // HangNext ignores Match
		quick := func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}
		s.HangNext(2)
		for i := range 2 {
			ctx, cancel := quick()
			checkContextError(t, call(ctx, s, allOps[i], "k"), allOps[i], context.DeadlineExceeded)
			cancel()
		}
		if _, err := s.Get(context.Background(), "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("third call: %v, want the store's answer", err)
		}
		s.HangNext(3)
		s.HangNext(0)
		if _, err := s.Get(context.Background(), "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("HangNext(0) did not cancel: %v", err)
		}
		// A pending burst comes first; a partitioned call does not use
		// up a hang.
		s.FailNext(1)
		s.HangNext(1)
		s.Partition(0)
		checkInjected(t, call(context.Background(), s, OpGet, "k"), OpGet, Partition)
		s.Heal()
		checkInjected(t, call(context.Background(), s, OpGet, "k"), OpGet, Error)
		ctx, cancel := quick()
		checkContextError(t, call(ctx, s, OpGet, "k"), OpGet, context.DeadlineExceeded)
		cancel()
		// HangNext follows HangIgnoresContext and HangFor.
		s.Set(Faults{HangIgnoresContext: true, HangFor: Delay{Min: time.Minute}})
		s.HangNext(1)
		ctx, cancel = quick()
		begun := time.Now()
		checkInjected(t, call(ctx, s, OpPut, "k"), OpPut, Hang)
		cancel()
		if d := time.Since(begun); d != time.Minute {
			t.Fatalf("returned after %v, want HangFor's 1m", d)
		}
		if got := s.Injected()[Hang]; got != 4 {
			t.Fatalf("Injected hang = %d, want 4", got)
		}
	})
}

func TestHangWaitsUseTheGivenClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		clk := &manualClock{}
		s.SetClock(clk)
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true, HangFor: Delay{Min: time.Minute}})
		done := start(context.Background(), s, OpPut, "k")
		time.Sleep(time.Hour) // the time package's clock must not end the hang
		stillRunning(t, done, "before the clock fired")
		if n := clk.fireAll(); n != 1 || clk.asked[0] != time.Minute {
			t.Fatalf("clock saw %d waits %v, want one of 1m", n, clk.asked)
		}
		checkInjected(t, <-done, OpPut, Hang)
	})
}

// recordingSequencer lets every caller go on at once and records the
// labels.
type recordingSequencer struct {
	mu     sync.Mutex
	labels []string
}

func (q *recordingSequencer) Turn(label string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.labels = append(q.labels, label)
}

func (q *recordingSequencer) taken() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.labels)
}

// A released hung call takes a turn before it returns, as a call held by
// Pause does; one ended by its context or its bound woke on its own.
func TestHangReleaseTakesATurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		q := &recordingSequencer{}
		s.SetSequencer(q)
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true})
		done := start(context.Background(), s, OpPut, "a")
		stillRunning(t, done, "before release")
		if got := q.taken(); !slices.Equal(got, []string{"put a"}) {
			t.Fatalf("turns before release: %q", got)
		}
		s.ReleaseHangs()
		<-done
		if got := q.taken(); !slices.Equal(got, []string{"put a", "put a"}) {
			t.Fatalf("turns after release: %q", got)
		}

		s.Set(Faults{HangRate: 1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = call(ctx, s, OpGet, "b")
		cancel()
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true, HangFor: Delay{Min: time.Second}})
		_ = call(context.Background(), s, OpGet, "c")
		if got := q.taken(); !slices.Equal(got, []string{"put a", "put a", "get b", "get c"}) {
			t.Fatalf("turns: %q, want none on a deadline or a bound", got)
		}

		s.Set(Faults{HangRate: 1, HangIgnoresContext: true})
		done = start(context.Background(), s, OpList, "d/")
		stillRunning(t, done, "before Close")
		_ = s.Close()
		<-done
		if got := q.taken(); !slices.Equal(got[4:], []string{"list d/", "list d/"}) {
			t.Fatalf("turns around Close: %q", got[4:])
		}
	})
}

// A hang that ends while the process is paused returns on Resume.
func TestHangEndingDuringPauseWaitsForResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		s.Set(Faults{HangRate: 1, HangIgnoresContext: true})
		done := start(context.Background(), s, OpGet, "k")
		stillRunning(t, done, "before release")
		s.Pause()
		s.ReleaseHangs()
		time.Sleep(time.Minute)
		stillRunning(t, done, "released while paused")
		s.Resume()
		checkInjected(t, <-done, OpGet, Hang)
	})
}

// hangOutcomes runs a workload of writes and reads with deadlines and
// records each call's result and whether its key exists afterwards.
func hangOutcomes(s *Store, inner *mem.Store) []string {
	var out []string
	for i := range 300 {
		key := fmt.Sprintf("k/%d", i%7)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		op := allOps[i%len(allOps)]
		err := call(ctx, s, op, key)
		cancel()
		var f *Fault
		class := "ok"
		switch {
		case errors.As(err, &f):
			class = f.Kind.String()
		case errors.Is(err, context.DeadlineExceeded):
			class = "deadline"
		case err != nil:
			class = "other"
		}
		_, gerr := inner.Get(context.Background(), key)
		out = append(out, fmt.Sprintf("%s %s %v", op, class, gerr == nil))
	}
	return out
}

func TestHangsReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		run := func(seed uint64) ([]string, Counts) {
			inner := mem.New(mem.Options{})
			s := New(inner, seed)
			s.Set(Faults{HangRate: 0.3, ErrorRate: 0.1, HangFor: Delay{Max: 2 * time.Second}})
			return hangOutcomes(s, inner), s.Injected()
		}
		a, ca := run(42)
		b, cb := run(42)
		c, _ := run(43)
		if !slices.Equal(a, b) || ca != cb {
			t.Fatal("same seed and calls gave different outcomes")
		}
		if slices.Equal(a, c) {
			t.Fatal("different seeds gave identical outcomes over 300 calls")
		}
		if ca[Hang] < 60 || ca[Hang] > 120 {
			t.Fatalf("Injected = %v: want about 90 hangs at rate 0.3", ca)
		}
	})
}

// Turning hangs on does not change the dice of the other faults: a call
// that does not hang has the fate it had without hangs.
func TestHangsKeepOtherDice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newStore(7)
		b, _ := newStore(7)
		a.Set(Faults{ErrorRate: 0.3})
		b.Set(Faults{ErrorRate: 0.3, HangRate: 0.3, HangFor: Delay{Min: time.Second}})
		compared := 0
		for i := range 300 {
			_, ea := a.Get(context.Background(), "k")
			_, eb := b.Get(context.Background(), "k")
			var f *Fault
			if errors.As(eb, &f) && f.Kind == Hang {
				continue
			}
			compared++
			if errors.Is(ea, ErrInjected) != errors.Is(eb, ErrInjected) {
				t.Fatalf("call %d: hangs changed the error decision (%v vs %v)", i, ea, eb)
			}
		}
		if compared < 150 || b.Injected()[Hang] < 50 {
			t.Fatalf("compared %d calls, %v", compared, b.Injected())
		}
	})
}

func TestHangsRespectMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		s.Set(Faults{HangRate: 1, HangFor: Delay{Min: time.Second}, Match: func(op, key string) bool { return op == OpList }})
		if err := call(context.Background(), s, OpPut, "k"); err != nil {
			t.Fatalf("unmatched Put: %v", err)
		}
		checkInjected(t, call(context.Background(), s, OpList, "k/"), OpList, Hang)
	})
}

// Calls hang, end and are released concurrently on several views: for
// the race detector, and to check that Close leaves no call blocked.
func TestConcurrentHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := mem.New(mem.Options{})
		views := []*Store{New(inner, 1), New(inner, 2), New(inner, 3)}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for vi, s := range views {
			for w := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						_ = call(ctx, s, allOps[(vi+w+i)%len(allOps)], fmt.Sprintf("k/%d", (w+i)%3))
						cancel()
						time.Sleep(100 * time.Millisecond) // let virtual time pass
					}
				})
			}
		}
		for step := range 200 {
			s := views[step%len(views)]
			switch step % 5 {
			case 0:
				s.Set(Faults{HangRate: 0.3, HangIgnoresContext: step%2 == 0, IgnoreIfAbsentRate: 0.5})
			case 1:
				s.ReleaseHangs()
			case 2:
				s.HangNext(2)
			case 3:
				s.Heal()
			default:
				s.Set(Faults{HangRate: 0.5, HangFor: Delay{Max: 5 * time.Second}})
			}
			time.Sleep(500 * time.Millisecond)
		}
		close(stop)
		for _, s := range views {
			_ = s.Close()
		}
		wg.Wait()
		var total Counts
		for _, s := range views {
			total = total.Add(s.Injected())
			if s.Hanging() != 0 {
				t.Errorf("view %d: %d calls still hanging", s.Seed(), s.Hanging())
			}
		}
		if total[Hang] < 50 {
			t.Errorf("too few hangs: %v", total)
		}
	})
}
