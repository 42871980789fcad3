package coord_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
)

var errInjected = errors.New("injected transport failure")

// faultStore wraps a store for one process: it can be partitioned (every
// request fails without reaching the store), fail requests by rule, or
// apply a write and then report an error (an ambiguous outcome).
type faultStore struct {
	driver.Store
	partitioned atomic.Bool

	mu sync.Mutex
	// fail, when set, may return an error for a request instead of sending it.
	fail func(op, key string) error
	// ambiguous, when set and true for a Put, applies the Put and then
	// reports errInjected.
	ambiguous func(key string, data []byte) bool
}

func newFaultStore(s driver.Store) *faultStore { return &faultStore{Store: s} }

func (f *faultStore) check(op, key string) error {
	if f.partitioned.Load() {
		return driver.Wrap(op, key, nil, errInjected)
	}
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(op, key); err != nil {
			return driver.Wrap(op, key, nil, err)
		}
	}
	return nil
}

func (f *faultStore) setFail(fn func(op, key string) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *faultStore) setAmbiguous(fn func(key string, data []byte) bool) {
	f.mu.Lock()
	f.ambiguous = fn
	f.mu.Unlock()
}

func (f *faultStore) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := f.check("get", key); err != nil {
		return driver.Object{}, err
	}
	return f.Store.Get(ctx, key)
}

func (f *faultStore) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	if err := f.check("put", key); err != nil {
		return "", err
	}
	f.mu.Lock()
	amb := f.ambiguous
	f.mu.Unlock()
	v, err := f.Store.Put(ctx, key, data, cond)
	if err == nil && amb != nil && amb(key, data) {
		return "", driver.Wrap("put", key, nil, errInjected)
	}
	return v, err
}

func (f *faultStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := f.check("delete", key); err != nil {
		return err
	}
	return f.Store.Delete(ctx, key, cond)
}

func (f *faultStore) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	if err := f.check("list", prefix); err != nil {
		return driver.ListResult{}, err
	}
	return f.Store.List(ctx, prefix)
}

// Close does not close the shared store.
func (f *faultStore) Close() error { return nil }

// offsetClock is the real (in tests: virtual) clock shifted by a fixed
// offset, as on a host whose wall clock is wrong.
type offsetClock struct{ offset time.Duration }

func (c offsetClock) Now() time.Time                         { return time.Now().Add(c.offset) }
func (c offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func isStateKey(key string) bool { return strings.HasSuffix(key, "/state.json") }

// keyCounter counts requests to lease keys and to everything else.
type keyCounter struct {
	driver.Store
	lease, other driver.Counter
}

func (k *keyCounter) count(key string, c driver.Class) {
	if isStateKey(key) {
		k.lease.Inc(c)
	} else {
		k.other.Inc(c)
	}
}

func (k *keyCounter) Get(ctx context.Context, key string) (driver.Object, error) {
	k.count(key, driver.ClassGet)
	return k.Store.Get(ctx, key)
}

func (k *keyCounter) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	k.count(key, driver.ClassPut)
	return k.Store.Put(ctx, key, data, cond)
}

func (k *keyCounter) Delete(ctx context.Context, key string, cond driver.Condition) error {
	k.count(key, driver.ClassDelete)
	return k.Store.Delete(ctx, key, cond)
}

func (k *keyCounter) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	k.count(prefix, driver.ClassList)
	return k.Store.List(ctx, prefix)
}
