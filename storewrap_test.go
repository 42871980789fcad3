package coord_test

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/faultstore"
)

var errInjected = errors.New("injected transport failure")

// The store doubles of these tests are views of internal/faultstore;
// the functions below give them the rules the tests use.

// failBy are hooks that fail, without sending it, every request for which
// fail returns an error.
func failBy(fail func(op, key string) error) faultstore.Hooks {
	return faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error { return fail(c.Op, c.Key) }}
}

// ambiguousWhen are hooks that apply every Put and then report
// errInjected for those for which ambiguous holds (an ambiguous outcome).
func ambiguousWhen(ambiguous func(key string, data []byte) bool) faultstore.Hooks {
	return faultstore.Hooks{After: func(c faultstore.Call, err error) error {
		if err == nil && c.Op == faultstore.OpPut && ambiguous(c.Key, c.Data) {
			return errInjected
		}
		return err
	}}
}

// cutOff fails every request of view before it is sent (down) or heals
// it: a partition that leaves the requests in flight alone.
func cutOff(view *faultstore.Store, down bool) {
	if down {
		view.Set(faultstore.Faults{ErrorRate: 1})
	} else {
		view.Set(faultstore.Faults{})
	}
}

// offsetClock is the real (in tests: virtual) clock shifted by a fixed
// offset, as on a host whose wall clock is wrong.
type offsetClock struct{ offset time.Duration }

func (c offsetClock) Now() time.Time                         { return time.Now().Add(c.offset) }
func (c offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func isStateKey(key string) bool { return strings.HasSuffix(key, "/state.json") }

// countByKey returns a view of s that counts the requests it sends to
// lease keys in lease and the others in other.
func countByKey(s driver.Store, lease, other *driver.Counter) *faultstore.Store {
	view := faultstore.New(s, 0)
	view.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
		if isStateKey(c.Key) {
			lease.Inc(c.Class())
		} else {
			other.Inc(c.Class())
		}
		return nil
	}})
	return view
}
