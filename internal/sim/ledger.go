package sim

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
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
//
// It also hashes every request in the order the store served it, with its
// time, arguments and answer: two runs with the same hash sent the same
// requests in the same order and got the same answers.
type ledger struct {
	driver.Store
	ttlEntries string
	onEarly    func(key string, early time.Duration)

	mu  sync.Mutex
	ops uint64 // requests served
	sum hash.Hash64
	// keep: the requests are also kept as lines (Result.StoreLog).
	keep  bool
	lines []string
}

// log adds one request and its answer to the hash (l.mu held).
func (l *ledger) log(op, key string, data []byte, cond driver.Condition, answer string, err error) {
	if l.sum == nil {
		l.sum = fnv.New64a()
	}
	l.ops++
	line := fmt.Sprintf("%d %s %q %v %x -> %q %v\n", time.Now().UnixNano(), op, key, cond, fnv64(data), answer, err)
	l.sum.Write([]byte(line))
	if l.keep {
		l.lines = append(l.lines, line[:len(line)-1])
	}
}

// digest returns the number of requests served and the hash of them all.
func (l *ledger) digest() (uint64, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sum == nil {
		return 0, 0
	}
	return l.ops, l.sum.Sum64()
}

func fnv64(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
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
	obj, err := l.Store.Get(ctx, key)
	l.log("GET", key, nil, driver.None, fmt.Sprintf("%s %x", obj.Version, fnv64(obj.Data)), err)
	return obj, err
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
	v, err := l.Store.Put(ctx, key, data, cond)
	l.log("PUT", key, data, cond, v, err)
	return v, err
}

func (l *ledger) Delete(ctx context.Context, key string, cond driver.Condition) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasPrefix(key, l.ttlEntries) {
		if v, ok := cond.Match(); ok {
			l.judge(ctx, key, v)
		}
	}
	err := l.Store.Delete(ctx, key, cond)
	l.log("DELETE", key, nil, cond, "", err)
	return err
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
	res, err := l.Store.List(ctx, prefix)
	var b strings.Builder
	for _, e := range res.Entries {
		fmt.Fprintf(&b, "%s=%s ", e.Key, e.Version)
	}
	l.log("LIST", prefix, nil, driver.None, b.String(), err)
	return res, err
}

func (l *ledger) Requests() driver.Counts {
	c, _ := driver.RequestsOf(l.Store)
	return c
}
