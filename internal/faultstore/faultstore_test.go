package faultstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

func newStore(seed uint64) (*Store, *mem.Store) {
	inner := mem.New(mem.Options{})
	return New(inner, seed), inner
}

// isTransport reports whether err looks like an injected transport error
// wrapped once in a driver.OpError for op.
func checkInjected(t *testing.T, err error, op string, kind Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("want injected %s fault, got nil", kind)
	}
	if !errors.Is(err, ErrInjected) {
		t.Fatalf("errors.Is(%v, ErrInjected) = false", err)
	}
	var oe *driver.OpError
	if !errors.As(err, &oe) || oe.Op != op {
		t.Fatalf("error %v is not an OpError for %q", err, op)
	}
	if errors.As(oe.Err, new(*driver.OpError)) {
		t.Fatalf("error %v is wrapped in OpError twice", err)
	}
	var f *Fault
	if !errors.As(err, &f) || f.Kind != kind {
		t.Fatalf("error %v: want Fault of kind %s", err, kind)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Fatalf("error %v does not look like a transport error (net.Error)", err)
	}
}

func TestPassThroughWithoutFaults(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	v1, err := s.Put(ctx, "a/b", []byte("x"), driver.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a/b", []byte("y"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("second IfAbsent: %v, want ErrPrecondition", err)
	}
	o, err := s.Get(ctx, "a/b")
	if err != nil || string(o.Data) != "x" || o.Version != v1 {
		t.Fatalf("Get = %+v, %v", o, err)
	}
	res, err := s.List(ctx, "a/")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].Key != "a/b" {
		t.Fatalf("List = %+v, %v", res, err)
	}
	if err := s.Delete(ctx, "a/b", driver.IfMatch(v1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a/b"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if got, want := s.Requests(), inner.Requests(); got != want || got.Total() != 6 {
		t.Fatalf("Requests = %v, inner %v, want 6 delegated", got, want)
	}
	if rc, ok := driver.RequestsOf(s); !ok || rc != inner.Requests() {
		t.Fatalf("RequestsOf = %v, %v", rc, ok)
	}
	if s.Capabilities() != inner.Capabilities() {
		t.Fatalf("Capabilities = %+v, want %+v", s.Capabilities(), inner.Capabilities())
	}
	if s.Injected().Total() != 0 {
		t.Fatalf("Injected = %v with no faults", s.Injected())
	}
	if s.Inner() != driver.Store(inner) || s.Seed() != 1 {
		t.Fatal("Inner/Seed do not report the construction arguments")
	}
}

// outcome runs a fixed workload and records each call's result class.
func outcome(s *Store) []string {
	ctx := context.Background()
	var out []string
	rec := func(err error) {
		var f *Fault
		switch {
		case err == nil:
			out = append(out, "ok")
		case errors.As(err, &f):
			out = append(out, f.Kind.String())
		case errors.Is(err, driver.ErrNotFound):
			out = append(out, "notfound")
		case errors.Is(err, driver.ErrPrecondition):
			out = append(out, "precondition")
		default:
			out = append(out, "other:"+err.Error())
		}
	}
	for i := range 300 {
		key := fmt.Sprintf("k/%d", i%7)
		_, err := s.Put(ctx, key, []byte{byte(i)}, driver.None)
		rec(err)
		o, err := s.Get(ctx, key)
		rec(err)
		if err == nil {
			out = append(out, fmt.Sprintf("data=%x", o.Data))
		}
	}
	return out
}

func TestSameSeedReplays(t *testing.T) {
	f := Faults{ErrorRate: 0.2, AmbiguousRate: 0.2, CorruptRate: 0.2, OversizeRate: 0.1}
	a, _ := newStore(42)
	b, _ := newStore(42)
	c, _ := newStore(43)
	for _, s := range []*Store{a, b, c} {
		s.Set(f)
	}
	oa, ob, oc := outcome(a), outcome(b), outcome(c)
	if strings.Join(oa, ",") != strings.Join(ob, ",") {
		t.Fatal("same seed and calls gave different outcomes")
	}
	if a.Injected() != b.Injected() {
		t.Fatalf("same seed, different fault counts: %v vs %v", a.Injected(), b.Injected())
	}
	if strings.Join(oa, ",") == strings.Join(oc, ",") {
		t.Fatal("different seeds gave identical outcomes over 600 calls")
	}
	for _, k := range []Kind{Error, Ambiguous, Corrupt, Oversize} {
		if a.Injected()[k] == 0 {
			t.Errorf("no %s fault in 600 calls at rate >= 0.1: %v", k, a.Injected())
		}
	}
}

// Turning on one fault must not change the dice of another: decisions
// are drawn in a fixed order per call.
func TestFaultsDrawIndependently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newStore(7)
		b, _ := newStore(7)
		a.Set(Faults{ErrorRate: 0.3})
		b.Set(Faults{ErrorRate: 0.3, RequestDelay: Delay{Max: time.Second}, CorruptRate: 0})
		ctx := context.Background()
		for i := range 200 {
			_, ea := a.Get(ctx, "k")
			_, eb := b.Get(ctx, "k")
			if errors.Is(ea, ErrInjected) != errors.Is(eb, ErrInjected) {
				t.Fatalf("call %d: adding latency changed the error decision (%v vs %v)", i, ea, eb)
			}
		}
		if b.Injected()[Latency] == 0 {
			t.Fatal("no latency injected")
		}
	})
}

func TestErrorRate(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(3)
	s.Set(Faults{ErrorRate: 0.25})
	const n = 4000
	failed := 0
	for i := range n {
		_, err := s.Put(ctx, "k", []byte{byte(i)}, driver.None)
		if err != nil {
			checkInjected(t, err, OpPut, Error)
			failed++
		}
	}
	if failed < n*20/100 || failed > n*30/100 {
		t.Fatalf("%d of %d calls failed at rate 0.25", failed, n)
	}
	if got := inner.Requests().Put; got != uint64(n-failed) {
		t.Fatalf("inner saw %d puts, want %d (failed calls must not reach the store)", got, n-failed)
	}
	if s.Injected()[Error] != uint64(failed) {
		t.Fatalf("Injected = %v, want error=%d", s.Injected(), failed)
	}
}

func TestFailNextBurst(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	s.FailNext(3)
	for i := range 3 {
		_, err := s.Get(ctx, "k")
		checkInjected(t, err, OpGet, Error)
		_ = i
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("4th call: %v, want the store's ErrNotFound", err)
	}
	if inner.Requests().Get != 1 {
		t.Fatalf("inner saw %d gets, want 1", inner.Requests().Get)
	}
	s.FailNext(5)
	s.FailNext(0)
	if _, err := s.Get(ctx, "k"); errors.Is(err, ErrInjected) {
		t.Fatal("FailNext(0) did not cancel the burst")
	}
	if s.Injected()[Error] != 3 {
		t.Fatalf("Injected = %v", s.Injected())
	}
}

func TestConflict(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(1)
	v, err := s.Put(ctx, "k", []byte("a"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{ConflictRate: 1})
	_, err = s.Put(ctx, "k", []byte("b"), driver.IfMatch(v))
	if !errors.Is(err, driver.ErrPrecondition) || !errors.Is(err, ErrInjected) {
		t.Fatalf("conditional Put: %v, want injected ErrPrecondition", err)
	}
	if _, err := s.Put(ctx, "new", []byte("b"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("IfAbsent Put: %v, want ErrPrecondition", err)
	}
	if err := s.Delete(ctx, "k", driver.IfMatch(v)); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("conditional Delete: %v, want ErrPrecondition", err)
	}
	s.Set(Faults{})
	if o, err := s.Get(ctx, "k"); err != nil || string(o.Data) != "a" || o.Version != v {
		t.Fatalf("conflicted writes were applied: %+v, %v", o, err)
	}
	if _, err := s.Get(ctx, "new"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("conflicted IfAbsent was applied: %v", err)
	}
	// Unconditional writes never conflict.
	s.Set(Faults{ConflictRate: 1})
	if _, err := s.Put(ctx, "k", []byte("c"), driver.None); err != nil {
		t.Fatalf("unconditional Put: %v", err)
	}
	if s.Injected()[Conflict] != 3 {
		t.Fatalf("Injected = %v, want conflict=3", s.Injected())
	}
}

// noCondDelete returns a store without atomic conditional delete: a view
// of a fresh mem store with DisableConditionalDelete.
func noCondDelete() *Store {
	s := New(mem.New(mem.Options{}), 0)
	s.DisableConditionalDelete()
	return s
}

func TestNoConflictWhereConditionalDeleteIsUnsupported(t *testing.T) {
	s := New(noCondDelete(), 1)
	s.Set(Faults{ConflictRate: 1})
	err := s.Delete(context.Background(), "k", driver.IfMatch("1"))
	if !errors.Is(err, driver.ErrUnsupported) || errors.Is(err, ErrInjected) {
		t.Fatalf("Delete = %v, want the store's ErrUnsupported", err)
	}
}

func TestAmbiguousWriteIsApplied(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	s.Set(Faults{AmbiguousRate: 1})
	_, err := s.Put(ctx, "k", []byte("hidden"), driver.IfAbsent())
	checkInjected(t, err, OpPut, Ambiguous)
	var ne net.Error
	if errors.As(err, &ne); !ne.Timeout() {
		t.Fatal("ambiguous write does not report a timeout")
	}
	o, err := inner.Get(ctx, "k")
	if err != nil || string(o.Data) != "hidden" {
		t.Fatalf("ambiguous Put not applied: %+v, %v", o, err)
	}
	// A write the store refused is reported as refused, not hidden.
	if _, err := s.Put(ctx, "k", []byte("again"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) || errors.Is(err, ErrInjected) {
		t.Fatalf("refused write: %v, want the store's ErrPrecondition", err)
	}
	err = s.Delete(ctx, "k", driver.IfMatch(o.Version))
	checkInjected(t, err, OpDelete, Ambiguous)
	if _, err := inner.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("ambiguous Delete not applied: %v", err)
	}
	// Reads are never ambiguous.
	if _, err := s.Get(ctx, "k"); errors.Is(err, ErrInjected) {
		t.Fatalf("Get got an ambiguous fault: %v", err)
	}
	if s.Injected()[Ambiguous] != 2 {
		t.Fatalf("Injected = %v, want ambiguous=2", s.Injected())
	}
}

func TestLatencyIsVirtualAndBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := newStore(9)
		s.Set(Faults{RequestDelay: Delay{Min: 20 * time.Second, Max: 20 * time.Second}})
		start := time.Now()
		if _, err := s.Put(ctx, "k", []byte("x"), driver.None); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 20*time.Second {
			t.Fatalf("fixed delay took %v, want 20s", d)
		}
		s.Set(Faults{RequestDelay: Delay{Min: time.Second, Max: 3 * time.Second}, ResponseDelay: Delay{Max: time.Minute}})
		var seen []time.Duration
		for range 50 {
			start := time.Now()
			if _, err := s.Get(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			d := time.Since(start)
			if d < time.Second || d > 3*time.Second+time.Minute {
				t.Fatalf("delay %v outside [1s, 1m3s]", d)
			}
			seen = append(seen, d)
		}
		distinct := map[time.Duration]bool{}
		for _, d := range seen {
			distinct[d] = true
		}
		if len(distinct) < 40 {
			t.Fatalf("only %d distinct delays in 50 calls", len(distinct))
		}
		if got := s.Injected()[Latency]; got != 51 {
			t.Fatalf("Injected latency = %d, want 51 (one per delayed call)", got)
		}
	})
}

func TestContextEndsRequestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Set(Faults{RequestDelay: Delay{Min: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := s.Put(ctx, "k", []byte("x"), driver.None)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("returned after %v, want 1s", d)
		}
		if _, err := inner.Get(context.Background(), "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("write cancelled before sending was applied: %v", err)
		}
	})
}

func TestContextEndsResponseDelayAfterApply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Set(Faults{ResponseDelay: Delay{Min: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.Put(ctx, "k", []byte("x"), driver.None)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put = %v, want DeadlineExceeded", err)
		}
		if _, err := inner.Get(context.Background(), "k"); err != nil {
			t.Fatalf("write whose response was lost was not applied: %v", err)
		}
	})
}

func TestPartitionIsPerView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		inner := mem.New(mem.Options{})
		a, b := New(inner, 1), New(inner, 2)
		a.Partition(5 * time.Second)
		if !a.Partitioned() || b.Partitioned() {
			t.Fatal("Partitioned reports wrong views")
		}
		start := time.Now()
		_, err := a.Put(ctx, "k", []byte("a"), driver.None)
		checkInjected(t, err, OpPut, Partition)
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("partitioned call failed after %v, want 5s", d)
		}
		var ne net.Error
		if errors.As(err, &ne); !ne.Timeout() {
			t.Fatal("partition does not look like a timeout")
		}
		if _, err := b.Put(ctx, "k", []byte("b"), driver.None); err != nil {
			t.Fatalf("other view affected by partition: %v", err)
		}
		if inner.Requests().Put != 1 {
			t.Fatalf("partitioned call reached the store: %v", inner.Requests())
		}
		// Context shorter than the partition timeout.
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = a.Get(cctx, "k")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("partitioned Get with 1s context: %v", err)
		}
		a.Heal()
		o, err := a.Get(ctx, "k")
		if err != nil || string(o.Data) != "b" {
			t.Fatalf("after Heal: %+v, %v", o, err)
		}
		if a.Injected()[Partition] != 1 || b.Injected().Total() != 0 {
			t.Fatalf("Injected a=%v b=%v", a.Injected(), b.Injected())
		}
	})
}

func TestPartitionDuringFlightLosesResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Set(Faults{ResponseDelay: Delay{Min: 10 * time.Second}})
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(time.Second) // advance the virtual clock into the response delay
		s.Partition(0)
		err := <-done
		checkInjected(t, err, OpPut, Partition)
		if _, err := inner.Get(context.Background(), "k"); err != nil {
			t.Fatalf("write was not applied: %v", err)
		}
	})
}

func TestPartitionDuringRequestDelayStopsTheWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Set(Faults{RequestDelay: Delay{Min: 10 * time.Second}})
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(time.Second)
		s.Partition(time.Second)
		err := <-done
		checkInjected(t, err, OpPut, Partition)
		if _, err := inner.Get(context.Background(), "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("write sent into a partition was applied: %v", err)
		}
	})
}

func TestPauseHoldsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Pause()
		if !s.Paused() {
			t.Fatal("Paused = false after Pause")
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := s.Put(context.Background(), "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(time.Hour) // a pause far longer than any lease
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("paused call returned: %v", err)
		default:
		}
		if inner.Requests().Put != 0 {
			t.Fatal("paused call reached the store")
		}
		s.Resume()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Fatalf("call returned after %v, want 1h", d)
		}
		if s.Paused() || s.Injected()[Pause] != 1 {
			t.Fatalf("Paused=%v Injected=%v", s.Paused(), s.Injected())
		}
	})
}

func TestPauseHoldsAppliedWriteResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Set(Faults{ResponseDelay: Delay{Min: time.Second}})
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(time.Second / 2)
		s.Pause()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("call returned while paused: %v", err)
		default:
		}
		if _, err := inner.Get(context.Background(), "k"); err != nil {
			t.Fatalf("write not applied before the pause: %v", err)
		}
		s.Resume()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestPausedCallSeesExpiredContextOnResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Pause()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("paused call returned before Resume: %v", err)
		default:
		}
		s.Resume()
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put = %v, want DeadlineExceeded", err)
		}
		if inner.Requests().Put != 0 {
			t.Fatal("expired call reached the store")
		}
	})
}

func TestCloseReleasesPausedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, inner := newStore(1)
		s.Pause()
		done := make(chan error, 1)
		go func() {
			_, err := s.Get(context.Background(), "k")
			done <- err
		}()
		synctest.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("Get = %v, want ErrClosed", err)
		}
		if _, err := s.Get(context.Background(), "k"); !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("Get after Close = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := inner.Get(context.Background(), "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("inner store was closed with the view: %v", err)
		}
	})
}

func TestCorruptReads(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(5)
	want := []byte(`{"leader":"w1","epoch":7,"seq":12}`)
	for _, k := range []string{"ns/leader", "ns/workers/w1"} {
		if _, err := s.Put(ctx, k, want, driver.None); err != nil {
			t.Fatal(err)
		}
	}
	s.Set(Faults{CorruptRate: 1, Match: func(op, key string) bool { return strings.HasSuffix(key, "leader") }})
	clean, _ := s.Inner().Get(ctx, "ns/leader")
	for range 100 {
		o, err := s.Get(ctx, "ns/leader")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(o.Data, want) {
			t.Fatal("corrupt read returned the stored bytes")
		}
		if o.Version != clean.Version {
			t.Fatalf("corrupt read changed the version: %q", o.Version)
		}
		o, err = s.Get(ctx, "ns/workers/w1")
		if err != nil || !bytes.Equal(o.Data, want) {
			t.Fatalf("unmatched key corrupted: %q, %v", o.Data, err)
		}
	}
	if s.Injected()[Corrupt] != 100 {
		t.Fatalf("Injected = %v", s.Injected())
	}
	if got, _ := s.Inner().Get(ctx, "ns/leader"); !bytes.Equal(got.Data, want) {
		t.Fatal("corrupt read changed the stored bytes")
	}
}

func TestGarbleAlwaysDiffers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if g := garble(r, b); bytes.Equal(g, b) {
			t.Fatalf("case %d: garble(%x) = input", i, b)
		}
	}
}

func TestWriteGarbage(t *testing.T) {
	ctx := context.Background()
	inner := mem.New(mem.Options{MaxRead: 100})
	s := New(inner, 1)
	v, err := s.WriteGarbage(ctx, "small", 50)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Get(ctx, "small")
	if err != nil || len(o.Data) != 50 || o.Version != v {
		t.Fatalf("Get garbage = %d bytes, %q, %v", len(o.Data), o.Version, err)
	}
	if _, err := s.WriteGarbage(ctx, "big", 101); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "big"); !errors.Is(err, driver.ErrTooLarge) || errors.Is(err, ErrInjected) {
		t.Fatalf("Get of oversize object: %v, want the store's ErrTooLarge", err)
	}
	if s.Injected()[Corrupt] != 2 {
		t.Fatalf("Injected = %v", s.Injected())
	}
}

func TestOversizeReads(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	if _, err := s.Put(ctx, "k", []byte("x"), driver.None); err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{OversizeRate: 1})
	_, err := s.Get(ctx, "k")
	if !errors.Is(err, driver.ErrTooLarge) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Get = %v, want injected ErrTooLarge", err)
	}
	if inner.Requests().Get != 1 {
		t.Fatal("oversize read did not reach the store (the GET is billed)")
	}
	if _, err := s.Put(ctx, "k", []byte("y"), driver.None); err != nil {
		t.Fatalf("oversize applies to reads only: %v", err)
	}
}

func TestInvalidKeyBeatsFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, inner := newStore(1)
		s.Set(Faults{ErrorRate: 1, RequestDelay: Delay{Min: time.Hour}})
		s.Partition(time.Hour)
		s.FailNext(10)
		start := time.Now()
		if _, err := s.Get(ctx, "a//b"); !errors.Is(err, driver.ErrInvalidKey) {
			t.Fatalf("Get: %v", err)
		}
		if _, err := s.Put(ctx, "", nil, driver.None); !errors.Is(err, driver.ErrInvalidKey) {
			t.Fatalf("Put: %v", err)
		}
		if err := s.Delete(ctx, "/x", driver.None); !errors.Is(err, driver.ErrInvalidKey) {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.List(ctx, "a/../"); !errors.Is(err, driver.ErrInvalidKey) {
			t.Fatalf("List: %v", err)
		}
		if time.Since(start) != 0 || inner.Requests().Total() != 0 || s.Injected().Total() != 0 {
			t.Fatal("an invalid key was delayed, sent or faulted")
		}
	})
}

func TestMatchLimitsFaults(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(1)
	s.Set(Faults{ErrorRate: 1, Match: func(op, key string) bool { return op == OpList }})
	if _, err := s.Put(ctx, "k", []byte("x"), driver.None); err != nil {
		t.Fatalf("unmatched Put: %v", err)
	}
	_, err := s.List(ctx, "")
	checkInjected(t, err, OpList, Error)
	s.Update(func(f *Faults) { f.Match = nil })
	_, err = s.Get(ctx, "k")
	checkInjected(t, err, OpGet, Error)
	if s.Faults().ErrorRate != 1 {
		t.Fatal("Update lost the rate")
	}
}

// Concurrent calls while every switch is flipped: for the race detector,
// and to check that no call is lost or stuck.
func TestConcurrentSwitching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := mem.New(mem.Options{})
		views := []*Store{New(inner, 1), New(inner, 2), New(inner, 3)}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for vi, s := range views {
			for w := range 4 {
				wg.Go(func() {
					ctx := context.Background()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
						key := fmt.Sprintf("k/%d", (vi+w+i)%5)
						switch i % 4 {
						case 0:
							_, _ = s.Put(cctx, key, []byte{byte(i)}, driver.IfAbsent())
						case 1:
							_, _ = s.Get(cctx, key)
						case 2:
							_ = s.Delete(cctx, key, driver.None)
						default:
							_, _ = s.List(cctx, "k/")
						}
						cancel()
						time.Sleep(100 * time.Millisecond) // let virtual time pass
					}
				})
			}
		}
		r := rand.New(rand.NewPCG(9, 9))
		for step := range 200 {
			s := views[r.IntN(len(views))]
			switch r.IntN(6) {
			case 0:
				s.Set(Faults{ErrorRate: 0.2, ConflictRate: 0.2, AmbiguousRate: 0.2, CorruptRate: 0.2,
					RequestDelay: Delay{Max: 2 * time.Second}, ResponseDelay: Delay{Max: 2 * time.Second}})
			case 1:
				s.Set(Faults{})
			case 2:
				s.Partition(time.Second)
			case 3:
				s.Heal()
			case 4:
				s.Pause()
			default:
				s.Resume()
				s.FailNext(step % 5)
			}
			time.Sleep(500 * time.Millisecond)
		}
		for _, s := range views {
			s.Resume()
			s.Heal()
		}
		close(stop)
		wg.Wait()
		// Which kinds fire depends on the interleaving; that each kind
		// fires is checked by the tests above. Here: faults were
		// injected, no call is stuck (wg.Wait returned), and once
		// healed every view works again.
		var total Counts
		for _, s := range views {
			total = total.Add(s.Injected())
			s.Set(Faults{})
			s.FailNext(0)
			if _, err := s.Put(context.Background(), "after", []byte("x"), driver.None); err != nil {
				t.Errorf("view %d after healing: %v", s.Seed(), err)
			}
		}
		if total[Partition] == 0 || total[Pause] == 0 || total.Total() < 100 {
			t.Errorf("too few faults injected: %v", total)
		}
	})
}

func TestKindAndCountsFormatting(t *testing.T) {
	// New kinds come last: the indices of the others stay.
	if len(Kinds()) != 10 || Kinds()[0] != Latency || Kinds()[7] != Oversize || Kinds()[8] != Hang || Kinds()[9] != IgnoredCondition {
		t.Fatalf("Kinds = %v", Kinds())
	}
	if Ambiguous.String() != "ambiguous" || Hang.String() != "hang" || IgnoredCondition.String() != "ignored-condition" || Kind(99).String() != "Kind(99)" {
		t.Fatal("Kind.String")
	}
	var a, b Counts
	a[Error], b[Error], b[Pause] = 2, 3, 1
	sum := a.Add(b)
	if sum[Error] != 5 || sum[Pause] != 1 || sum.Total() != 6 || a[Error] != 2 {
		t.Fatalf("Add = %v", sum)
	}
	if !strings.Contains(sum.String(), "error=5") || !strings.Contains(sum.String(), "pause=1") {
		t.Fatalf("String = %q", sum.String())
	}
}

// manualClock fires an After only when the test says so.
type manualClock struct {
	mu    sync.Mutex
	waits []chan time.Time
	asked []time.Duration
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waits = append(c.waits, ch)
	c.asked = append(c.asked, d)
	return ch
}

func (c *manualClock) fireAll() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.waits)
	for _, ch := range c.waits {
		ch <- time.Time{}
	}
	c.waits = nil
	return n
}

func TestWaitsUseTheGivenClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		clk := &manualClock{}
		s.SetClock(clk)
		s.Set(Faults{RequestDelay: Delay{Min: time.Minute}})
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), "k", []byte("x"), driver.None)
			done <- err
		}()
		time.Sleep(time.Hour) // the time package's clock must not end the wait
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("delay ended without the injected clock: %v", err)
		default:
		}
		if n := clk.fireAll(); n != 1 || clk.asked[0] != time.Minute {
			t.Fatalf("clock saw %d waits %v, want one of 1m", n, clk.asked)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s.SetClock(nil)
		start := time.Now()
		if _, err := s.Get(context.Background(), "k"); err != nil || time.Since(start) != time.Minute {
			t.Fatalf("after SetClock(nil): %v after %v", err, time.Since(start))
		}
	})
}
