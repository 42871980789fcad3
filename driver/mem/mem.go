// Package mem is the in-memory reference driver. It is exact (conditions
// are checked under one lock, versions come from a strictly increasing
// sequence) and is meant for unit tests and simulation, not production:
// nothing survives the process.
package mem

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Now supplies the server time (List's ServerTime and objects'
	// Modified). Default time.Now.
	Now func() time.Time
	// MaxRead caps reads (default driver.DefaultMaxRead).
	MaxRead int64
}

type object struct {
	data     []byte
	version  string
	modified time.Time
}

// Store is an in-memory driver.Store. It is safe for concurrent use.
type Store struct {
	driver.Counter
	opts   Options
	mu     sync.Mutex
	seq    uint64
	objs   map[string]object
	keys   []string // the keys of objs, sorted: a List reads one range of it
	closed bool
}

var _ driver.Store = (*Store)(nil)
var _ driver.RequestCounter = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRead <= 0 {
		opts.MaxRead = driver.DefaultMaxRead
	}
	return &Store{opts: opts, objs: make(map[string]object)}
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := driver.BeginRequest(ctx, "get", key, s.closed, &s.Counter); err != nil {
		return driver.Object{}, err
	}
	o, ok := s.objs[key]
	if !ok {
		return driver.Object{}, driver.Wrap("get", key, driver.ErrNotFound, nil)
	}
	if int64(len(o.data)) > s.opts.MaxRead {
		return driver.Object{}, driver.Wrap("get", key, driver.ErrTooLarge, nil)
	}
	return driver.Object{Key: key, Data: append([]byte(nil), o.data...), Version: o.version, Modified: o.modified}, nil
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := driver.BeginRequest(ctx, "put", key, s.closed, &s.Counter); err != nil {
		return "", err
	}
	cur, exists := s.objs[key]
	if !cond.Holds(exists, cur.version) {
		return "", driver.Wrap("put", key, driver.ErrPrecondition, nil)
	}
	if !exists {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.seq++
	v := strconv.FormatUint(s.seq, 10)
	s.objs[key] = object{data: append([]byte(nil), data...), version: v, modified: s.opts.Now()}
	return v, nil
}

// Delete implements driver.Store. Conditional delete is supported.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := driver.BeginRequest(ctx, "delete", key, s.closed, &s.Counter); err != nil {
		return err
	}
	if cond.IsIfAbsent() {
		return driver.Wrap("delete", key, driver.ErrUnsupported, nil)
	}
	cur, exists := s.objs[key]
	if !cond.IsNone() && !cond.Holds(exists, cur.version) {
		return driver.Wrap("delete", key, driver.ErrPrecondition, nil)
	}
	if exists {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Delete(s.keys, i, i+1)
	}
	delete(s.objs, key)
	return nil
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := driver.BeginRequest(ctx, "list", prefix, s.closed, &s.Counter); err != nil {
		return driver.ListResult{}, err
	}
	res := driver.ListResult{ServerTime: s.opts.Now()}
	i, _ := slices.BinarySearch(s.keys, prefix)
	for _, k := range s.keys[i:] {
		if !strings.HasPrefix(k, prefix) {
			break
		}
		o := s.objs[k]
		res.Entries = append(res.Entries, driver.Entry{Key: k, Version: o.version, Size: int64(len(o.data)), Modified: o.modified})
	}
	return res, nil
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "mem", ConditionalDelete: true, MaxRead: s.opts.MaxRead}
}

// Close implements driver.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
