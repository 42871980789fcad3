package ttl_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/ttl"
)

const prefix = "app/ttl/"

func term(epoch uint64) plugin.Term { return plugintest.Term("ttl", epoch) }

func newTTL(t *testing.T, st driver.Store, opts ttl.Options) *ttl.Store {
	t.Helper()
	s, err := ttl.New(st, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustPut(t *testing.T, s *ttl.Store, key, value string, d time.Duration) {
	t.Helper()
	if err := s.Put(context.Background(), key, []byte(value), d); err != nil {
		t.Fatal(err)
	}
}

// stored lists the entry keys present in storage (expired or not).
func stored(t *testing.T, st driver.Store) []string {
	t.Helper()
	res, err := st.List(context.Background(), prefix+"entries/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range res.Entries {
		obj, err := st.Get(context.Background(), e.Key)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(obj.Data), `"tombstone":true`) {
			continue
		}
		keys = append(keys, strings.TrimPrefix(e.Key, prefix+"entries/"))
	}
	return keys
}

func TestGetHidesExpired(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		s := newTTL(t, st, ttl.Options{})
		mustPut(t, s, "a", "1", 10*time.Second)
		got, err := s.Get(ctx, "a")
		if err != nil || string(got) != "1" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		time.Sleep(8 * time.Second)
		if _, err := s.Get(ctx, "a"); err != nil {
			t.Fatalf("Get at 8s of 10s: %v", err)
		}
		time.Sleep(2 * time.Second)
		if _, err := s.Get(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Get after expiry: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "missing"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Get missing: %v", err)
		}
		if st := s.Stats(); st.Hits != 2 || st.Expired != 1 {
			t.Fatalf("stats %+v", st)
		}
		if err := s.Put(ctx, "b", nil, 0); !errors.Is(err, ttl.ErrInvalidTTL) {
			t.Fatalf("Put ttl 0: %v", err)
		}
	})
}

// A reader whose clock lags the server's by less than ClockSkew never sees
// an entry that has expired by the server's clock.
func TestGetWithLaggingReaderClock(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		lag := 900 * time.Millisecond
		reader := newTTL(t, st, ttl.Options{Clock: plugintest.Skewed(-lag)})
		writer := newTTL(t, st, ttl.Options{})
		mustPut(t, writer, "a", "1", 10*time.Second)
		time.Sleep(10 * time.Second) // expired by server time
		if _, err := reader.Get(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("lagging reader saw an expired entry: %v", err)
		}
	})
}

// Get judges expiry on Options.Clock: a reader whose clock runs ahead
// hides an entry early.
func TestGetOnTheGivenClock(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		ahead := newTTL(t, st, ttl.Options{Clock: plugintest.Skewed(5 * time.Second)})
		writer := newTTL(t, st, ttl.Options{})
		mustPut(t, writer, "a", "1", 10*time.Second)
		time.Sleep(5 * time.Second)
		if _, err := writer.Get(ctx, "a"); err != nil {
			t.Fatalf("Get at 5s of 10s on the true clock: %v", err)
		}
		if _, err := ahead.Get(ctx, "a"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Get at 5s of 10s on a clock 5s ahead (ClockSkew 1s) = %v, want ErrNotFound", err)
		}
	})
}

func TestSweepDeletesOnlyExpired(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		s := newTTL(t, st, ttl.Options{})
		mustPut(t, s, "short", "1", 10*time.Second)
		mustPut(t, s, "long", "2", time.Hour)
		time.Sleep(10*time.Second + 500*time.Millisecond) // expired, but within Grace
		if err := s.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, st); len(got) != 2 {
			t.Fatalf("swept within grace: %v", got)
		}
		time.Sleep(500 * time.Millisecond)
		if err := s.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, st); len(got) != 1 || got[0] != "long" {
			t.Fatalf("after sweep: %v, want [long]", got)
		}
		if v, err := s.Get(ctx, "long"); err != nil || string(v) != "2" {
			t.Fatalf("Get long = %q, %v", v, err)
		}
		if st := s.Stats(); st.Swept != 1 || st.Sweeps != 2 {
			t.Fatalf("stats %+v", st)
		}
		// A swept key can be written again.
		mustPut(t, s, "short", "3", time.Minute)
		if v, err := s.Get(ctx, "short"); err != nil || string(v) != "3" {
			t.Fatalf("Get re-put = %q, %v", v, err)
		}
	})
}

func TestSweepIsBounded(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		s := newTTL(t, st, ttl.Options{BatchSize: 10})
		for i := range 25 {
			mustPut(t, s, fmt.Sprintf("k%02d", i), "v", time.Second)
		}
		time.Sleep(time.Minute)
		want := []int{15, 5, 0}
		for i, w := range want {
			if err := s.Tick(ctx, term(1)); err != nil {
				t.Fatal(err)
			}
			// The first sweep learns 10 entries (bounded reads) and
			// deletes them; each later one learns and deletes 10 more.
			if got := len(stored(t, st)); got != w {
				t.Fatalf("after sweep %d: %d entries left, want %d", i+1, got, w)
			}
		}
	})
}

// An old leader that passed the fence and judged an entry expired, then
// was paused while the entry was written again and a new leader took over,
// must not delete the fresh entry when it wakes up.
func TestStaleSweeperNeverDeletesReputEntry(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, base driver.Store) {
		ctx := context.Background()
		st := faultstore.New(base, 0)
		old := newTTL(t, st, ttl.Options{})
		mustPut(t, old, "a", "old", time.Second)
		mustPut(t, old, "b", "old", time.Second)
		time.Sleep(5 * time.Second)

		paused := make(chan struct{})
		resume := make(chan struct{})
		var once atomic.Bool
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if (c.Op == faultstore.OpDelete || (c.Op == faultstore.OpPut && strings.Contains(c.Key, "entries/"))) && once.CompareAndSwap(false, true) {
				close(paused)
				<-resume
			}
			return nil
		}})
		done := make(chan error, 1)
		go func() { done <- old.Tick(ctx, term(1)) }()
		<-paused // epoch 1 is about to delete "a"

		// Meanwhile: "a" is written again, and epoch 2 sweeps.
		fresh := newTTL(t, base, ttl.Options{})
		mustPut(t, fresh, "a", "new", time.Hour)
		if err := fresh.Tick(ctx, term(2)); err != nil {
			t.Fatal(err)
		}
		close(resume)
		err := <-done
		if err != nil && !errors.Is(err, plugin.ErrStaleEpoch) {
			t.Fatalf("stale tick: %v", err)
		}
		if v, err := fresh.Get(ctx, "a"); err != nil || string(v) != "new" {
			t.Fatalf("re-put entry lost: %q, %v", v, err)
		}
		if got := stored(t, base); len(got) != 1 || got[0] != "a" {
			t.Fatalf("stored = %v, want [a]", got)
		}
		// "a" was re-put and "b" already swept by epoch 2: both of the old
		// sweeper's conditional writes lost.
		if old.Stats().Raced != 2 || old.Stats().Swept != 0 {
			t.Fatalf("old sweeper stats %+v, want two lost races", old.Stats())
		}

		// Once epoch 2 has swept, epoch 1 is refused outright.
		mustPut(t, fresh, "c", "x", time.Second)
		time.Sleep(5 * time.Second)
		if err := old.Tick(ctx, term(1)); !errors.Is(err, plugin.ErrStaleEpoch) {
			t.Fatalf("stale tick after successor swept: %v, want ErrStaleEpoch", err)
		}
		if got := stored(t, base); len(got) != 2 {
			t.Fatalf("stale sweeper deleted something: %v", got)
		}
		if old.Stats().Stale != 1 {
			t.Fatalf("stats %+v", old.Stats())
		}
	})
}

// A sweeper whose leadership ends stops between two deletes, and the next
// leader finishes the work.
func TestSweeperStopsMidBatchAndResumesAfterFailover(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, base driver.Store) {
		st := faultstore.New(base, 0)
		s1 := newTTL(t, st, ttl.Options{})
		for i := range 10 {
			mustPut(t, s1, fmt.Sprintf("k%d", i), "v", time.Second)
		}
		time.Sleep(time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		var writes atomic.Int32
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if strings.Contains(c.Key, "entries/") && (c.Op == faultstore.OpDelete || c.Op == faultstore.OpPut) {
				if writes.Add(1) == 4 {
					cancel() // leadership lost while the 4th delete is in flight
				}
			}
			return nil
		}})
		if err := s1.Tick(ctx, term(1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Tick = %v, want context.Canceled", err)
		}
		left := len(stored(t, base))
		if left != 6 && left != 7 { // the in-flight 4th may or may not land
			t.Fatalf("%d entries left after interrupted sweep, want 6 or 7", left)
		}
		if writes.Load() != 4 {
			t.Fatalf("%d deletes attempted, want 4", writes.Load())
		}
		if s1.Stats().Interrupted != 1 {
			t.Fatalf("stats %+v", s1.Stats())
		}
		s2 := newTTL(t, base, ttl.Options{})
		if err := s2.Tick(context.Background(), term(2)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, base); len(got) != 0 {
			t.Fatalf("after failover sweep: %v", got)
		}
	})
}

// TestRequestsPerHour measures an idle sweeper's storage requests over one
// simulated hour at default settings, with 100 live entries.
func TestRequestsPerHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mem.New(mem.Options{})
		s := newTTL(t, st, ttl.Options{})
		for i := range 100 {
			mustPut(t, s, fmt.Sprintf("k%03d", i), "v", 24*time.Hour)
		}
		before, _ := driver.RequestsOf(st)
		for elapsed := time.Duration(0); elapsed < time.Hour; elapsed += s.Interval() {
			if err := s.Tick(context.Background(), term(1)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(s.Interval())
		}
		after, _ := driver.RequestsOf(st)
		got := after.Sub(before)
		t.Logf("ttl sweeper, 100 live entries, default settings: %v per hour", got)
		// 120 sweeps: one LIST each; each entry version is read once.
		if got.List != 120 || got.Get != 100 || got.Put != 0 || got.Delete != 0 {
			t.Fatalf("requests per hour = %v", got)
		}
	})
}
