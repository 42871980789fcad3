// Package plugintest is the test support the built-in plugins share, in
// one place instead of a copy per plugin: the stores every plugin test
// runs on (EachStore), a Term, a cluster of coord processes over one
// store whose members can be cut off from it (NewCluster), and a store on
// the test MinIO server. The store doubles themselves (faults, hooks,
// counting, a store without conditional delete) are internal/faultstore's.
// This package imports testing.
package plugintest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/internal/testserver"
	"github.com/s3coord/coord/plugin"
)

// Store makes a fresh, empty store in dir (which the caller owns).
type Store struct {
	Name string
	New  func(dir string) (driver.Store, error)
}

// Stores lists the stores every plugin test runs on: mem, mem without
// conditional delete (as MinIO), and bolt. Each store's clock is
// time.Now, so inside a testing/synctest bubble it is virtual.
func Stores() []Store {
	return []Store{
		{Name: "mem", New: func(string) (driver.Store, error) { return mem.New(mem.Options{}), nil }},
		{Name: "mem-no-conditional-delete", New: func(string) (driver.Store, error) {
			s := faultstore.New(mem.New(mem.Options{}), 0)
			s.DisableConditionalDelete()
			return s, nil
		}},
		{Name: "bolt", New: func(dir string) (driver.Store, error) {
			return bolt.Open(filepath.Join(dir, "coord.db"), bolt.Options{})
		}},
	}
}

// EachStore runs f once per store of Stores, each in a subtest of its own
// and a testing/synctest bubble, and closes the store after f.
func EachStore(t *testing.T, f func(t *testing.T, st driver.Store)) {
	t.Helper()
	for _, s := range Stores() {
		t.Run(s.Name, func(t *testing.T) {
			dir := t.TempDir()
			synctest.Test(t, func(t *testing.T) {
				st, err := s.New(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				f(t, st)
			})
		})
	}
}

// Term is the Term of the leader "w<epoch>" of name, won in global mode.
func Term(name string, epoch uint64) plugin.Term {
	return plugin.Term{Namespace: "default", Plugin: name, Leader: fmt.Sprintf("w%d", epoch), Epoch: epoch, Mode: "global"}
}

// Process is one coord process of a Cluster: a Hub over its own view of
// the shared store.
type Process struct {
	Hub *coord.Hub
	// Store is the process's view of the store: give it to the plugin
	// instances of this process, so that a partition cuts them off too.
	Store *faultstore.Store
}

// Partition cuts the process off from storage (true) or heals it
// (false). Meanwhile every request fails before it is sent, with an
// error for which errors.Is(err, faultstore.ErrInjected) holds, so the
// process loses its leaderships as behind a broken network; no request in
// flight is affected.
func (p *Process) Partition(down bool) {
	if down {
		p.Store.Set(faultstore.Faults{ErrorRate: 1})
	} else {
		p.Store.Set(faultstore.Faults{})
	}
}

// Cluster is several coord processes over one store.
type Cluster []*Process

// NewCluster starts n processes on base with cfg.
func NewCluster(base driver.Store, n int, cfg coord.Config) (Cluster, error) {
	var c Cluster
	for i := range n {
		view := faultstore.New(base, uint64(i))
		hub, err := coord.NewHub(view, cfg)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c = append(c, &Process{Hub: hub, Store: view})
	}
	return c, nil
}

// Close heals and closes every process's Hub.
func (c Cluster) Close() error {
	var errs []error
	for _, p := range c {
		p.Partition(false)
		errs = append(errs, p.Hub.Close(context.Background()))
	}
	return errors.Join(errs...)
}

// WaitLeader waits up to a minute (polling every 500ms, virtual time in a
// synctest bubble) for one of subs to lead, and returns its index and
// term.
func WaitLeader(t testing.TB, subs []*coord.Subscription) (int, plugin.Term) {
	t.Helper()
	for range 120 {
		for i, s := range subs {
			if term, ok := s.Term(); ok {
				return i, term
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("no leader within 60s")
	return -1, plugin.Term{}
}

// MinIO returns a minio-go store on the test MinIO server started by
// internal/testserver/run.sh (a fresh prefix in a fresh bucket), closed
// when t ends. Without the server the test is skipped (failed in CI).
func MinIO(t testing.TB) driver.Store {
	t.Helper()
	srv := testserver.MinIO(t)
	st, err := minio.New(minio.Config{
		Endpoint:   srv.HostPort(),
		Secure:     srv.Secure(),
		AccessKey:  srv.AccessKey,
		SecretKey:  srv.SecretKey,
		Region:     srv.Region,
		Bucket:     srv.NewBucket(t),
		Prefix:     testserver.UniqueName("plugin") + "/",
		MaxRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Skewed is the time package's clock (virtual in a synctest bubble) off
// by offset, as on a host whose wall clock is wrong.
func Skewed(offset time.Duration) plugin.Clock { return skewed(offset) }

type skewed time.Duration

func (s skewed) Now() time.Time                       { return time.Now().Add(time.Duration(s)) }
func (skewed) After(d time.Duration) <-chan time.Time { return time.After(d) }
