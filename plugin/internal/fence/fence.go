// Package fence keeps a plugin's fence record: the highest epoch that has
// done leader work on a piece of shared state.
//
// A leader calls Check before each batch of leader-only writes. Check
// rejects the batch with plugin.ErrStaleEpoch when a newer leader has
// already written the fence, and otherwise records the caller's epoch
// (once per term: later checks in the same term cost one GET).
//
// The check is not atomic with the writes that follow it: a leader that
// passes Check and is then paused can wake up after its successor has
// started. The fence therefore only stops a stale leader early and keeps
// two leaders from working side by side for long; every plugin must make
// each individual write safe on its own (IfMatch of the exact version it
// judged, generation-specific keys), so that a stale write that slips past
// the fence is rejected by storage or is harmless.
package fence

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/nonce"
	"github.com/s3coord/coord/plugin/internal/sealed"
)

// record is the stored fence. Nonce makes every write's bytes unique, so
// that stores whose versions are content hashes (S3 ETags) never see the
// same bytes twice.
type record struct {
	Epoch  uint64 `json:"epoch"`
	Leader string `json:"leader"`
	Nonce  string `json:"nonce"`
}

// Fence is the fence record at one key. It is safe for concurrent use.
type Fence struct {
	store driver.Store
	key   string
	rand  *nonce.Source
}

// New returns the fence kept at key; its records' nonces come from rand
// (nil: crypto/rand).
func New(store driver.Store, key string, rand *nonce.Source) *Fence {
	if rand == nil {
		rand = nonce.New(nil)
	}
	return &Fence{store: store, key: key, rand: rand}
}

// Key returns the key of the fence record.
func (f *Fence) Key() string { return f.key }

// Check admits a batch of leader work for term. It returns an error for
// which errors.Is(err, plugin.ErrStaleEpoch) holds when the fence records
// an epoch above term.Epoch, and records term.Epoch when the fence holds a
// smaller one. Any other error (storage, a lost race with a concurrent
// writer of the same fence) means the batch must not run now.
func (f *Fence) Check(ctx context.Context, term plugin.Term) error {
	for attempt := 0; attempt < 2; attempt++ {
		cur, version, err := f.read(ctx)
		if err != nil {
			return err
		}
		if err := plugin.CheckEpoch(cur.Epoch, term.Epoch); err != nil {
			return fmt.Errorf("fence %q: %w", f.key, err)
		}
		if version != "" && cur.Epoch == term.Epoch {
			return nil
		}
		cond := driver.IfAbsent()
		if version != "" {
			cond = driver.IfMatch(version)
		}
		data, err := sealed.Seal(record{Epoch: term.Epoch, Leader: term.Leader, Nonce: f.rand.Hex()})
		if err != nil {
			return err
		}
		_, err = f.store.Put(ctx, f.key, data, cond)
		if err == nil {
			return nil
		}
		if !errors.Is(err, driver.ErrPrecondition) {
			return err
		}
		// Someone wrote the fence between our read and write: read again
		// and judge what they wrote.
	}
	return fmt.Errorf("fence %q: %w: concurrent writers", f.key, driver.ErrPrecondition)
}

// Epoch returns the epoch the fence records (0 when there is none).
func (f *Fence) Epoch(ctx context.Context) (uint64, error) {
	r, _, err := f.read(ctx)
	return r.Epoch, err
}

// read reads the fence. A damaged read is read again (a damaged response
// is often a one-off); a fence that stays damaged is overwritten by IfMatch
// like an old one, its epoch counting as 0: the fence only stops stale
// leaders early, the plugins' writes are safe on their own.
func (f *Fence) read(ctx context.Context) (record, string, error) {
	for attempt := 0; ; attempt++ {
		obj, err := f.store.Get(ctx, f.key)
		if errors.Is(err, driver.ErrNotFound) {
			return record{}, "", nil
		}
		if err != nil {
			return record{}, "", err
		}
		var r record
		if err := sealed.Open(obj.Data, &r); err != nil {
			if attempt < 2 {
				continue
			}
			return record{}, obj.Version, nil
		}
		return r, obj.Version, nil
	}
}
