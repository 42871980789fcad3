package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/s3coord/coord/driver"
)

// groupUpdate holds a commit open, queues len(fns) writers behind it, and
// then lets everything run. It returns each queued writer's error and the
// transaction each ran in.
func groupUpdate(t *testing.T, st *Store, fns []func(*bbolt.Bucket) error) ([]error, []*bbolt.Tx) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := st.update(func(b *bbolt.Bucket) error {
			<-release
			return b.Put([]byte("g/first"), encode(1, st.opts.Now(), nil))
		}); err != nil {
			t.Error(err)
		}
	})
	synctest.Wait() // the first writer leads and is inside its transaction

	errs := make([]error, len(fns))
	txs := make([]*bbolt.Tx, len(fns))
	for i, fn := range fns {
		wg.Go(func() {
			errs[i] = st.update(func(b *bbolt.Bucket) error {
				txs[i] = b.Tx()
				return fn(b)
			})
		})
	}
	synctest.Wait() // every other writer is queued
	st.wmu.Lock()
	queued := len(st.queue)
	st.wmu.Unlock()
	if queued != len(fns) {
		t.Fatalf("%d writers queued behind the open commit, want %d", queued, len(fns))
	}
	close(release)
	wg.Wait()
	return errs, txs
}

func putKey(key string) func(*bbolt.Bucket) error {
	return func(b *bbolt.Bucket) error {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put([]byte(key), encode(seq, timeZero, []byte(key)))
	}
}

var timeZero = time.Unix(0, 0)

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := open(t, filepath.Join(t.TempDir(), "coord.db"))
		defer st.Close()
		var fns []func(*bbolt.Bucket) error
		for i := range 4 {
			fns = append(fns, putKey(fmt.Sprintf("g/%d", i)))
		}
		fns = append(fns, func(*bbolt.Bucket) error { return driver.ErrPrecondition })
		errs, txs := groupUpdate(t, st, fns)
		for i, err := range errs[:4] {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}
		if !errors.Is(errs[4], driver.ErrPrecondition) {
			t.Errorf("writer with a failed condition: %v, want ErrPrecondition", errs[4])
		}
		for i, tx := range txs {
			if tx != txs[0] {
				t.Errorf("writer %d ran in another transaction than writer 0: the group was not committed together", i)
			}
		}
		for i := range 4 {
			if _, err := st.Get(t.Context(), fmt.Sprintf("g/%d", i)); err != nil {
				t.Errorf("g/%d: %v", i, err)
			}
		}
	})
}

func TestGroupCommitFailureIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := open(t, filepath.Join(t.TempDir(), "coord.db"))
		defer st.Close()
		boom := errors.New("boom")
		fns := []func(*bbolt.Bucket) error{
			putKey("g/a"),
			func(b *bbolt.Bucket) error {
				if err := putKey("g/bad")(b); err != nil {
					return err
				}
				return boom
			},
			putKey("g/b"),
		}
		errs, _ := groupUpdate(t, st, fns)
		if errs[0] != nil || errs[2] != nil {
			t.Errorf("writers grouped with a failing one failed: %v, %v", errs[0], errs[2])
		}
		if !errors.Is(errs[1], boom) {
			t.Errorf("failing writer: %v, want its own error", errs[1])
		}
		for _, k := range []string{"g/a", "g/b"} {
			if _, err := st.Get(t.Context(), k); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
		if _, err := st.Get(t.Context(), "g/bad"); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("the failing writer's partial write is visible: %v", err)
		}
	})
}
