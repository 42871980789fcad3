package main

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/s3coord/coord/driver"
)

// errCrashed is what a crashed worker's store calls return: the process is
// gone, nothing reaches the store.
var errCrashed = driver.ErrClosed

// tapStore is one worker's view of the shared store. It passes every call
// through, counts it by what it is for (lease record, worker record), and
// can cut the worker off at once to simulate a crash (kill -9): after
// crash, no call of that worker reaches the store.
//
// The benchmark's totals come from the driver's own counters; taps only
// split them by worker and purpose.
type tapStore struct {
	driver.Store
	id      string                  // the worker's
	turn    func(key string) func() // around every call (runner.turn)
	crashed atomic.Bool

	leaseWrites, workerWrites, otherWrites atomic.Uint64
	reads, lists, deletes                  atomic.Uint64
	// byPurpose counts every call by what it is for and by class.
	byPurpose [numPurposes]driver.Counter
}

// Purposes of a request, by key.
const (
	purposeElection   = iota // leases: namespace and plugin state records
	purposeMembership        // worker records: writes, the cleanup LIST, deletes
	purposeCheck             // the store check of each Hub (<root>_check/…)
	numPurposes
)

// purposeOf classifies a request by its key (or LIST prefix).
func purposeOf(key string) int {
	switch {
	case strings.Contains(key, "/workers/"):
		return purposeMembership
	case strings.Contains(key, "/_check/"):
		return purposeCheck
	}
	return purposeElection
}

// purposes returns the tap's counts by purpose.
func (t *tapStore) purposes() [numPurposes]driver.Counts {
	var out [numPurposes]driver.Counts
	for i := range out {
		out[i] = t.byPurpose[i].Requests()
	}
	return out
}

// load is a snapshot of a tap's counters.
type load struct {
	LeaseWrites, WorkerWrites, OtherWrites uint64
	Reads, Lists, Deletes                  uint64
}

func (l load) sub(o load) load {
	return load{
		LeaseWrites: l.LeaseWrites - o.LeaseWrites, WorkerWrites: l.WorkerWrites - o.WorkerWrites,
		OtherWrites: l.OtherWrites - o.OtherWrites, Reads: l.Reads - o.Reads, Lists: l.Lists - o.Lists,
		Deletes: l.Deletes - o.Deletes,
	}
}

func (t *tapStore) snapshot() load {
	return load{
		LeaseWrites: t.leaseWrites.Load(), WorkerWrites: t.workerWrites.Load(), OtherWrites: t.otherWrites.Load(),
		Reads: t.reads.Load(), Lists: t.lists.Load(), Deletes: t.deletes.Load(),
	}
}

func (t *tapStore) crash() { t.crashed.Store(true) }

func (t *tapStore) Get(ctx context.Context, key string) (driver.Object, error) {
	defer t.turn(t.id + " get " + key)()
	if t.crashed.Load() {
		return driver.Object{}, driver.Wrap("get", key, errCrashed, nil)
	}
	t.reads.Add(1)
	t.byPurpose[purposeOf(key)].Inc(driver.ClassGet)
	return t.Store.Get(ctx, key)
}

func (t *tapStore) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	defer t.turn(t.id + " put " + key)()
	if t.crashed.Load() {
		return "", driver.Wrap("put", key, errCrashed, nil)
	}
	t.byPurpose[purposeOf(key)].Inc(driver.ClassPut)
	switch {
	case strings.Contains(key, "/workers/"):
		t.workerWrites.Add(1)
	case strings.HasSuffix(key, "/state.json"):
		t.leaseWrites.Add(1)
	default:
		t.otherWrites.Add(1)
	}
	return t.Store.Put(ctx, key, data, cond)
}

func (t *tapStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	defer t.turn(t.id + " delete " + key)()
	if t.crashed.Load() {
		return driver.Wrap("delete", key, errCrashed, nil)
	}
	t.deletes.Add(1)
	t.byPurpose[purposeOf(key)].Inc(driver.ClassDelete)
	return t.Store.Delete(ctx, key, cond)
}

func (t *tapStore) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	defer t.turn(t.id + " list " + prefix)()
	if t.crashed.Load() {
		return driver.ListResult{}, driver.Wrap("list", prefix, errCrashed, nil)
	}
	t.lists.Add(1)
	t.byPurpose[purposeOf(prefix)].Inc(driver.ClassList)
	return t.Store.List(ctx, prefix)
}

// Close does not close the shared store.
func (t *tapStore) Close() error { return nil }
