package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/storeurl"
)

// openedStore is the store a run uses.
type openedStore struct {
	store driver.Store
	shown string // the URL as printed (no credentials)
	close func() error
}

// openStore opens the store of o. now is the server clock for the
// embedded stores (the virtual clock in virtual mode), so that worker
// records age on the same clock as the engine.
func openStore(ctx context.Context, raw string, now func() time.Time) (*openedStore, error) {
	if raw == "" {
		dir, err := os.MkdirTemp(tempBase(), "coord-bench-")
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "bench.db")
		s, err := bolt.Open(path, bolt.Options{Now: now})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return &openedStore{store: s, shown: "bolt (a file in a temp dir, removed afterwards)", close: func() error {
			err := s.Close()
			os.RemoveAll(dir)
			return err
		}}, nil
	}
	spec, err := storeurl.Parse(raw)
	if err != nil {
		return nil, err
	}
	shown := spec.String()
	// The embedded stores get the run's clock as their server clock.
	switch spec.Scheme {
	case storeurl.SchemeMem:
		s := mem.New(mem.Options{Now: now})
		return &openedStore{store: s, shown: shown, close: s.Close}, nil
	case storeurl.SchemeBolt:
		s, err := bolt.Open(spec.Path, bolt.Options{Now: now})
		if err != nil {
			return nil, err
		}
		return &openedStore{store: s, shown: shown, close: s.Close}, nil
	}
	s, err := spec.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", shown, err)
	}
	return &openedStore{store: s, shown: shown, close: s.Close}, nil
}

// tempBase is where the default bolt file goes: a memory file system when
// there is one (the benchmark counts requests; it does not time fsync),
// else the system temp dir.
func tempBase() string {
	if runtime.GOOS == "linux" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			if f, err := os.CreateTemp("/dev/shm", "coord-bench-probe-"); err == nil {
				f.Close()
				os.Remove(f.Name())
				return "/dev/shm"
			}
		}
	}
	return os.TempDir()
}
