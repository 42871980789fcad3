package faultstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

var errHook = errors.New("refused by the hook")

// Before sees every call that is sent, with its body and condition, and
// only those: calls kept from the store by a fault never reach it.
func TestBeforeSeesWhatIsSent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(1)
	var mu sync.Mutex
	var seen []Call
	var counts driver.Counter
	s.SetHooks(Hooks{Before: func(_ context.Context, c Call) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c)
		counts.Inc(c.Class())
		return nil
	}})
	v, err := s.Put(ctx, "k", []byte("x"), driver.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Get(ctx, "k")
	_, _ = s.List(ctx, "")
	if err := s.Delete(ctx, "k", driver.IfMatch(v)); err != nil {
		t.Fatal(err)
	}
	s.FailNext(1)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrInjected) {
		t.Fatalf("burst Get = %v", err)
	}
	s.Set(Faults{ConflictRate: 1})
	if _, err := s.Put(ctx, "k", []byte("y"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("conflict Put = %v", err)
	}
	if len(seen) != 4 {
		t.Fatalf("hook saw %d calls, want the 4 sent: %+v", len(seen), seen)
	}
	if p := seen[0]; p.Op != OpPut || p.Key != "k" || string(p.Data) != "x" || !p.Cond.IsIfAbsent() {
		t.Errorf("Put seen as %+v", p)
	}
	if d := seen[3]; d.Op != OpDelete || d.Cond.String() != driver.IfMatch(v).String() {
		t.Errorf("Delete seen as %+v", d)
	}
	if c := counts.Requests(); c.Put != 1 || c.Get != 1 || c.List != 1 || c.Delete != 1 {
		t.Errorf("counted by class %v", c)
	}
}

// An error from Before fails the call unsent, once wrapped, and counts
// no fault.
func TestBeforeErrorKeepsTheCallFromTheStore(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	s.SetHooks(Hooks{Before: func(_ context.Context, c Call) error {
		if c.Op == OpPut {
			return errHook
		}
		return nil
	}})
	_, err := s.Put(ctx, "k", []byte("x"), driver.None)
	var oe *driver.OpError
	if !errors.Is(err, errHook) || !errors.As(err, &oe) || oe.Op != OpPut || errors.As(oe.Err, new(*driver.OpError)) {
		t.Fatalf("Put = %v, want errHook wrapped once for put", err)
	}
	if _, err := inner.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("refused Put reached the store: %v", err)
	}
	if n := s.Injected().Total(); n != 0 {
		t.Fatalf("Injected = %v, want nothing", s.Injected())
	}
	s.SetHooks(Hooks{})
	if _, err := s.Put(ctx, "k", []byte("x"), driver.None); err != nil {
		t.Fatalf("Put after the hooks are removed: %v", err)
	}
}

// A Before that blocks holds the call at that exact point: nothing is
// sent until it returns.
func TestBeforeHoldsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, inner := newStore(1)
		held, release := make(chan struct{}), make(chan struct{})
		s.SetHooks(Hooks{Before: func(context.Context, Call) error {
			close(held)
			<-release
			return nil
		}})
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, "k", []byte("x"), driver.None)
			done <- err
		}()
		<-held
		synctest.Wait()
		if _, err := inner.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("held Put reached the store: %v", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := inner.Get(ctx, "k"); err != nil {
			t.Fatalf("released Put not applied: %v", err)
		}
	})
}

// After can report failed a write that was applied (an ambiguous outcome
// chosen by the test), and the answer's faults still apply after it.
func TestAfterReplacesTheAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, inner := newStore(1)
		s.SetHooks(Hooks{After: func(c Call, err error) error {
			if err == nil && c.Op == OpPut && bytes.Equal(c.Data, []byte("doubt")) {
				return errHook
			}
			return err
		}})
		if _, err := s.Put(ctx, "a", []byte("sure"), driver.None); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "b", []byte("doubt"), driver.None); !errors.Is(err, errHook) {
			t.Fatalf("Put = %v, want errHook", err)
		}
		if obj, err := inner.Get(ctx, "b"); err != nil || string(obj.Data) != "doubt" {
			t.Fatalf("the write reported failed is not applied: %q, %v", obj.Data, err)
		}
		s.Set(Faults{ResponseDelay: Delay{Min: time.Second}})
		start := time.Now()
		if _, err := s.Put(ctx, "b", []byte("doubt"), driver.None); !errors.Is(err, errHook) || time.Since(start) != time.Second {
			t.Fatalf("Put = %v after %v, want errHook after the 1s response delay", err, time.Since(start))
		}
	})
}

// After does not run for a hung call, which gets no answer.
func TestAfterSkipsHungCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newStore(1)
		var after int
		s.SetHooks(Hooks{After: func(_ Call, err error) error { after++; return err }})
		s.HangNext(1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := s.Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung Get = %v", err)
		}
		if after != 0 {
			t.Fatalf("After ran %d times for a hung call", after)
		}
	})
}

// Got changes what a Get returns, and only a successful Get.
func TestGotDamagesAnswers(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(1)
	if _, err := inner.Put(ctx, "k", []byte("hello"), driver.None); err != nil {
		t.Fatal(err)
	}
	s.SetHooks(Hooks{Got: func(_ string, obj driver.Object) driver.Object {
		obj.Data = bytes.ToUpper(obj.Data)
		return obj
	}})
	if obj, err := s.Get(ctx, "k"); err != nil || string(obj.Data) != "HELLO" {
		t.Fatalf("Get = %q, %v", obj.Data, err)
	}
	if obj, _ := inner.Get(ctx, "k"); string(obj.Data) != "hello" {
		t.Fatalf("Got changed the stored object: %q", obj.Data)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get missing = %v", err)
	}
}

// A view without conditional delete refuses a conditional Delete before
// anything is sent and says so in its capabilities; unconditional deletes
// and the other views of the store are unchanged.
func TestDisableConditionalDelete(t *testing.T) {
	ctx := context.Background()
	inner := mem.New(mem.Options{})
	s, other := New(inner, 1), New(inner, 2)
	s.DisableConditionalDelete()
	var sent int
	s.SetHooks(Hooks{Before: func(context.Context, Call) error { sent++; return nil }})
	v, err := inner.Put(ctx, "k", []byte("x"), driver.None)
	if err != nil {
		t.Fatal(err)
	}
	if s.Capabilities().ConditionalDelete || !other.Capabilities().ConditionalDelete {
		t.Fatalf("capabilities %+v and %+v", s.Capabilities(), other.Capabilities())
	}
	if err := s.Delete(ctx, "k", driver.IfMatch(v)); !errors.Is(err, driver.ErrUnsupported) {
		t.Fatalf("conditional Delete = %v, want ErrUnsupported", err)
	}
	if err := s.Delete(ctx, "", driver.IfMatch(v)); !errors.Is(err, driver.ErrInvalidKey) {
		t.Fatalf("conditional Delete of an invalid key = %v, want ErrInvalidKey", err)
	}
	if _, err := inner.Get(ctx, "k"); err != nil || sent != 0 {
		t.Fatalf("unsupported Delete was sent (%d) or deleted: %v", sent, err)
	}
	if err := s.Delete(ctx, "k", driver.None); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) || sent != 1 {
		t.Fatalf("unconditional Delete (sent %d): %v", sent, err)
	}
}
