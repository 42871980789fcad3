package sim

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// ledger is the shared storage of a run: it wraps the inner store,
// serialises every request (so that it can look at an object just before
// a write changes it), and reports a ttl entry deleted before it expired
// by the server's clock. Entry keys carry their ttl:
// <ttlPrefix>entries/e<ttl ms>-<...>.
type ledger struct {
	driver.Store
	ttlEntries string
	onEarly    func(key string, early time.Duration)

	mu sync.Mutex
}

// ttlOfKey returns the ttl encoded in an entry key.
func ttlOfKey(key string) (time.Duration, bool) {
	i := strings.LastIndex(key, "/")
	rest := key[i+1:]
	if !strings.HasPrefix(rest, "e") {
		return 0, false
	}
	ms, _, ok := strings.Cut(rest[1:], "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

func (l *ledger) Get(ctx context.Context, key string) (driver.Object, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Store.Get(ctx, key)
}

func (l *ledger) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasPrefix(key, l.ttlEntries) {
		// A sweeper on a store without conditional delete replaces the
		// entry with a tombstone: judge it like a delete.
		if v, ok := cond.Match(); ok && strings.Contains(string(data), "tombstone") {
			l.judge(ctx, key, v)
		}
	}
	return l.Store.Put(ctx, key, data, cond)
}

func (l *ledger) Delete(ctx context.Context, key string, cond driver.Condition) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasPrefix(key, l.ttlEntries) {
		if v, ok := cond.Match(); ok {
			l.judge(ctx, key, v)
		}
	}
	return l.Store.Delete(ctx, key, cond)
}

// judge: a conditional removal of version v of an entry that is about to
// succeed must come after the entry expired by the server's clock.
//
// The server's clock is the shared mem store's (the bubble's true time):
// it stamps obj.Modified and answers List's ServerTime, which is what
// plugin/ttl's sweeper compares (Modified + ttl + Grace against the List's
// ServerTime). No process clock enters the rule on either side, so a
// process clock hours off cannot make an early sweep look right, nor a
// right one look early. The ttl is taken from the key, not from the
// stored record, so a record damaged in transit cannot fool the judge.
func (l *ledger) judge(ctx context.Context, key, v string) {
	obj, err := l.Store.Get(context.WithoutCancel(ctx), key)
	if errors.Is(err, driver.ErrNotFound) || err != nil || obj.Version != v {
		return // the removal will fail
	}
	ttl, ok := ttlOfKey(key)
	if !ok {
		return
	}
	if early := time.Until(obj.Modified.Add(ttl)); early > 0 {
		l.onEarly(key, early)
	}
}

func (l *ledger) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Store.List(ctx, prefix)
}

func (l *ledger) Requests() driver.Counts {
	c, _ := driver.RequestsOf(l.Store)
	return c
}
