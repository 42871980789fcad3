package plugintest_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin/queue"
	"github.com/s3coord/coord/plugin/scheduler"
	"github.com/s3coord/coord/plugin/ttl"
)

// Each built-in plugin reaches its store through a storage.Bucket: a
// request ends at the plugin's RequestTimeout (queue, ttl) or with its
// context (scheduler) even when the driver ignores its context, and its
// error is one OpError with the request's operation.
func TestPluginRequestsEndWhenTheDriverIgnoresContext(t *testing.T) {
	cases := []struct {
		name    string
		op      string
		ctxWait time.Duration // the caller's deadline; 0: none
		want    time.Duration
		call    func(ctx context.Context, st driver.Store) error
	}{
		{"queue", "put", 0, 3 * time.Second, func(ctx context.Context, st driver.Store) error {
			q, err := queue.New(st, "q/", queue.Options{RequestTimeout: 3 * time.Second})
			if err != nil {
				return err
			}
			_, err = q.Enqueue(ctx, []byte("x"))
			return err
		}},
		{"ttl", "get", 0, 4 * time.Second, func(ctx context.Context, st driver.Store) error {
			s, err := ttl.New(st, "t/", ttl.Options{RequestTimeout: 4 * time.Second})
			if err != nil {
				return err
			}
			_, err = s.Get(ctx, "k")
			return err
		}},
		{"scheduler", "get", 2 * time.Second, 2 * time.Second, func(ctx context.Context, st driver.Store) error {
			s, err := scheduler.New(st, "s/", []scheduler.Job{{Name: "j", Interval: time.Minute,
				Run: func(context.Context, scheduler.Run) error { return nil }}}, scheduler.Options{})
			if err != nil {
				return err
			}
			_, err = s.Status(ctx)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := faultstore.New(mem.New(mem.Options{}), 1)
				st.Set(faultstore.Faults{HangIgnoresContext: true})
				st.HangNext(1)
				ctx := context.Background()
				if c.ctxWait > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, c.ctxWait)
					defer cancel()
				}
				start := time.Now()
				err := c.call(ctx, st)
				if took := time.Since(start); took != c.want {
					t.Errorf("returned after %v, want %v", took, c.want)
				}
				var oe *driver.OpError
				if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) || oe.Op != c.op {
					t.Errorf("error %v, want a %s's DeadlineExceeded in one OpError", err, c.op)
				}
				st.ReleaseHangs()
			})
		})
	}
}
