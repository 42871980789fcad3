package faultstore

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/s3coord/coord/driver"
)

// refused checks that err is the inner store's own ErrPrecondition.
func refused(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, driver.ErrPrecondition) || errors.Is(err, ErrInjected) {
		t.Fatalf("%s: %v, want the store's ErrPrecondition", what, err)
	}
}

func TestIgnoreIfAbsentOverwrites(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	v1, err := s.Put(ctx, "k", []byte("a"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{IgnoreIfAbsentRate: 1})
	v2, err := s.Put(ctx, "k", []byte("b"), driver.IfAbsent())
	if err != nil {
		t.Fatalf("IfAbsent on an existing key: %v, want a lie (success)", err)
	}
	o, err := inner.Get(ctx, "k")
	if err != nil || string(o.Data) != "b" || o.Version != v2 || v2 == v1 {
		t.Fatalf("stored %q version %q (put returned %q, old %q), %v", o.Data, o.Version, v2, v1, err)
	}
	// A condition that holds is no lie.
	if _, err := s.Put(ctx, "new", []byte("x"), driver.IfAbsent()); err != nil {
		t.Fatal(err)
	}
	// IfMatch keeps its condition.
	_, err = s.Put(ctx, "k", []byte("c"), driver.IfMatch(v1))
	refused(t, err, "stale IfMatch")
	if got := s.Injected()[IgnoredCondition]; got != 1 || s.Injected().Total() != 1 {
		t.Fatalf("Injected = %v, want ignored-condition=1 only", s.Injected())
	}
}

func TestIgnoreIfMatchAppliesUnconditionally(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	v1, err := s.Put(ctx, "k", []byte("a"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(ctx, "k", []byte("b"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{IgnoreIfMatchRate: 1})

	// Stale version: overwrites.
	v3, err := s.Put(ctx, "k", []byte("c"), driver.IfMatch(v1))
	if err != nil {
		t.Fatalf("stale IfMatch Put: %v, want a lie (success)", err)
	}
	if o, err := inner.Get(ctx, "k"); err != nil || string(o.Data) != "c" || o.Version != v3 {
		t.Fatalf("stored %+v, %v; want c at %q", o, err, v3)
	}
	// Missing key: creates.
	if _, err := s.Put(ctx, "missing", []byte("m"), driver.IfMatch(v2)); err != nil {
		t.Fatalf("IfMatch Put on a missing key: %v, want a lie (success)", err)
	}
	if o, err := inner.Get(ctx, "missing"); err != nil || string(o.Data) != "m" {
		t.Fatalf("IfMatch on a missing key did not create it: %+v, %v", o, err)
	}
	// Stale Delete: deletes.
	if err := s.Delete(ctx, "k", driver.IfMatch(v2)); err != nil {
		t.Fatalf("stale IfMatch Delete: %v, want a lie (success)", err)
	}
	if _, err := inner.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("stale Delete did not delete: %v", err)
	}
	// Delete of a missing key: succeeds.
	if err := s.Delete(ctx, "k", driver.IfMatch(v3)); err != nil {
		t.Fatalf("IfMatch Delete of a missing key: %v, want a lie (success)", err)
	}
	// A matching version is no lie.
	o, _ := inner.Get(ctx, "missing")
	if _, err := s.Put(ctx, "missing", []byte("n"), driver.IfMatch(o.Version)); err != nil {
		t.Fatal(err)
	}
	// IfAbsent keeps its condition.
	_, err = s.Put(ctx, "missing", []byte("x"), driver.IfAbsent())
	refused(t, err, "IfAbsent on an existing key")
	if got := s.Injected()[IgnoredCondition]; got != 4 || s.Injected().Total() != 4 {
		t.Fatalf("Injected = %v, want ignored-condition=4 only", s.Injected())
	}
}

// With their rates at zero, conditions hold as before, whatever else is
// set.
func TestLiesOffKeepConditions(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(1)
	v, err := s.Put(ctx, "k", []byte("a"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{HangIgnoresContext: true})
	_, err = s.Put(ctx, "k", []byte("b"), driver.IfAbsent())
	refused(t, err, "IfAbsent on an existing key")
	_, err = s.Put(ctx, "k", []byte("b"), driver.IfMatch(v+"x"))
	refused(t, err, "stale IfMatch Put")
	_, err = s.Put(ctx, "missing", []byte("b"), driver.IfMatch(v))
	refused(t, err, "IfMatch Put on a missing key")
	refused(t, s.Delete(ctx, "k", driver.IfMatch(v+"x")), "stale IfMatch Delete")
	if o, err := s.Get(ctx, "k"); err != nil || string(o.Data) != "a" {
		t.Fatalf("refused writes were applied: %+v, %v", o, err)
	}
	if s.Injected().Total() != 0 {
		t.Fatalf("Injected = %v", s.Injected())
	}
}

// lies records which of n stale IfMatch Puts were applied.
func lies(s *Store, n int) []bool {
	ctx := context.Background()
	out := make([]bool, n)
	for i := range out {
		_, err := s.Put(ctx, "k", []byte{byte(i)}, driver.IfMatch("stale"))
		out[i] = err == nil
	}
	return out
}

func TestLieRateIsDrawnAndReplays(t *testing.T) {
	const n = 1000
	run := func(seed uint64, f Faults) ([]bool, Counts) {
		s, _ := newStore(seed)
		s.Set(f)
		return lies(s, n), s.Injected()
	}
	a, ca := run(42, Faults{IgnoreIfMatchRate: 0.5})
	b, _ := run(42, Faults{IgnoreIfMatchRate: 0.5})
	c, _ := run(43, Faults{IgnoreIfMatchRate: 0.5})
	// Each rate has its own dice.
	d, _ := run(42, Faults{IgnoreIfMatchRate: 0.5, IgnoreIfAbsentRate: 1, HangFor: Delay{Min: 1}})
	if !slices.Equal(a, b) {
		t.Fatal("same seed and calls gave different lies")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave identical lies")
	}
	if !slices.Equal(a, d) {
		t.Fatal("another new rate changed the IfMatch dice")
	}
	applied := 0
	for _, ok := range a {
		if ok {
			applied++
		}
	}
	if applied < n*40/100 || applied > n*60/100 || ca[IgnoredCondition] != uint64(applied) {
		t.Fatalf("%d of %d stale writes applied at rate 0.5; Injected %v", applied, n, ca)
	}
}

// Lies do not change the dice of the first stream: unconditional calls,
// which cannot lie, have the fates they had without.
func TestLiesKeepOtherDice(t *testing.T) {
	f := Faults{ErrorRate: 0.2, AmbiguousRate: 0.2, CorruptRate: 0.2, OversizeRate: 0.1}
	a, _ := newStore(42)
	b, _ := newStore(42)
	a.Set(f)
	f.IgnoreIfAbsentRate, f.IgnoreIfMatchRate = 1, 1
	b.Set(f)
	if !slices.Equal(outcome(a), outcome(b)) || a.Injected() != b.Injected() {
		t.Fatal("lie rates changed the outcome of unconditional calls")
	}
}

func TestLiesRespectMatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(1)
	if _, err := s.Put(ctx, "k", []byte("a"), driver.None); err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1, Match: func(op, key string) bool { return key == "other" }})
	_, err := s.Put(ctx, "k", []byte("b"), driver.IfAbsent())
	refused(t, err, "unmatched IfAbsent")
	refused(t, s.Delete(ctx, "k", driver.IfMatch("stale")), "unmatched IfMatch Delete")
}

// A store without conditional delete refuses it before any condition is
// checked: there is nothing to lie about.
func TestNoLieWhereConditionalDeleteIsUnsupported(t *testing.T) {
	ctx := context.Background()
	inner := noCondDelete()
	s := New(inner, 1)
	if _, err := s.Put(ctx, "k", []byte("a"), driver.None); err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{IgnoreIfMatchRate: 1})
	if err := s.Delete(ctx, "k", driver.IfMatch("stale")); !errors.Is(err, driver.ErrUnsupported) {
		t.Fatalf("Delete = %v, want the store's ErrUnsupported", err)
	}
	if _, err := inner.Get(ctx, "k"); err != nil {
		t.Fatalf("unsupported Delete deleted: %v", err)
	}
}

// A lie composes with the faults of the answer: an ignored condition can
// also be reported as a timeout.
func TestLieThenAmbiguous(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	if _, err := s.Put(ctx, "k", []byte("a"), driver.None); err != nil {
		t.Fatal(err)
	}
	s.Set(Faults{IgnoreIfAbsentRate: 1, AmbiguousRate: 1})
	_, err := s.Put(ctx, "k", []byte("b"), driver.IfAbsent())
	checkInjected(t, err, OpPut, Ambiguous)
	if o, _ := inner.Get(ctx, "k"); string(o.Data) != "b" {
		t.Fatalf("stored %q, want the ignored write b", o.Data)
	}
}
