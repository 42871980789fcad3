package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
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
		return &openedStore{store: s, shown: "bolt://" + path + " (temp dir, removed afterwards)", close: func() error {
			err := s.Close()
			os.RemoveAll(dir)
			return err
		}}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	shown := redact(u)
	switch u.Scheme {
	case "mem":
		s := mem.New(mem.Options{Now: now})
		return &openedStore{store: s, shown: shown, close: s.Close}, nil
	case "bolt":
		path := u.Path
		if u.Host != "" { // bolt://relative/path.db
			path = u.Host + u.Path
		}
		if path == "" {
			return nil, fmt.Errorf("store %s: no file path (bolt:///path/to.db)", shown)
		}
		s, err := bolt.Open(path, bolt.Options{Now: now})
		if err != nil {
			return nil, err
		}
		return &openedStore{store: s, shown: shown, close: s.Close}, nil
	}
	s, err := openRemote(ctx, raw)
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

// redact drops any user information from a store URL for printing.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "secret") || strings.Contains(strings.ToLower(k), "key") || strings.Contains(strings.ToLower(k), "token") {
			q.Set(k, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}
