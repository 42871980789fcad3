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
