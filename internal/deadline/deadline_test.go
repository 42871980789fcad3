package deadline_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/internal/faultstore"
)

// Every call returns by the Store's deadline, whether the driver honours
// its context or not, with context.DeadlineExceeded reachable; a shorter
// deadline of the caller's wins; answers before the deadline pass
// through unchanged.
func TestEveryCallEndsByItsDeadline(t *testing.T) {
	for _, ignores := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			fs := faultstore.New(mem.New(mem.Options{}), 1)
			fs.Set(faultstore.Faults{HangIgnoresContext: ignores})
			st := deadline.New(fs, nil, 5*time.Second)
			ctx := context.Background()
			if _, err := st.Put(ctx, "k", []byte("v"), driver.IfAbsent()); err != nil {
				t.Fatal(err)
			}
			calls := map[string]func(context.Context) error{
				"get":    func(ctx context.Context) error { _, err := st.Get(ctx, "k"); return err },
				"put":    func(ctx context.Context) error { _, err := st.Put(ctx, "k", []byte("w"), driver.None); return err },
				"delete": func(ctx context.Context) error { return st.Delete(ctx, "nope", driver.None) },
				"list":   func(ctx context.Context) error { _, err := st.List(ctx, ""); return err },
			}
			for name, call := range calls {
				fs.HangNext(1)
				start := time.Now()
				err := call(ctx)
				if took := time.Since(start); took != 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("ignores=%v %s: %v after %v, want DeadlineExceeded after 5s", ignores, name, err, took)
				}
				fs.HangNext(1)
				short, cancel := context.WithTimeout(ctx, time.Second)
				start = time.Now()
				err = call(short)
				cancel()
				if took := time.Since(start); took != time.Second || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("ignores=%v %s with a 1s ctx: %v after %v", ignores, name, err, took)
				}
				fs.ReleaseHangs()
			}
			if o, err := st.Get(ctx, "k"); err != nil || string(o.Data) == "" {
				t.Errorf("a call that is answered: %v %q", err, o.Data)
			}
			if err := st.Delete(ctx, "nope", driver.IfMatch("x")); !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
				t.Errorf("a driver's error passes through: %v", err)
			}
		})
	}
}

// A call of the mem driver through a Store, on a context that already
// ends within the Store's timeout, costs no allocation more than the
// driver's own: no context, no timer, no goroutine, no channel.
func TestNoCostOverMem(t *testing.T) {
	m := mem.New(mem.Options{})
	st := deadline.New(m, nil, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := m.Put(ctx, "k", []byte("v"), driver.None); err != nil {
		t.Fatal(err)
	}
	direct := testing.AllocsPerRun(100, func() { _, _ = m.Get(ctx, "k") })
	bounded := testing.AllocsPerRun(100, func() { _, _ = st.Get(ctx, "k") })
	if bounded != direct {
		t.Errorf("a bounded Get allocates %v times, the driver's own %v", bounded, direct)
	}
}

// blockingMem is the mem driver with a Get that ignores its context and
// returns only once released: a wrapper of mem is not mem, and is waited
// for from another goroutine like any driver.
type blockingMem struct {
	*mem.Store
	release chan struct{}
}

func (b blockingMem) Get(context.Context, string) (driver.Object, error) {
	<-b.release
	return driver.Object{}, nil
}

func TestAWrapperOfMemIsNotTrusted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := blockingMem{mem.New(mem.Options{}), make(chan struct{})}
		defer close(b.release)
		st := deadline.New(b, nil, 5*time.Second)
		start := time.Now()
		if _, err := st.Get(context.Background(), "k"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("%v after %v, want DeadlineExceeded after 5s", err, time.Since(start))
		}
	})
}
