// Package dirstore is the example driver of "Writing a driver"
// (docs/driver.md): a driver.Store over a local directory, small enough to
// read in one sitting, and held to the whole contract by package
// conformance.
//
// Each object is one file, named by the SHA-256 of its key (keys may be
// 1,024 bytes long and contain "/", which file names cannot), holding the
// key on its first line and the data after it. A write goes to a
// temporary file that is renamed over the object, so a reader sees the
// old object or the new one, never a mix. Versions are the SHA-256 of the
// data (like S3's MD5 ETags, writing the same bytes twice gives the same
// version). Conditions are checked and applied under one mutex: exact
// within one process, and not safe for two processes sharing the
// directory, which is why this is an example and not a coord driver.
package dirstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// Store is a driver.Store on one directory. It is safe for concurrent use
// by the goroutines of one process.
type Store struct {
	driver.Counter // every call that reaches the directory counts as one request
	dir            string
	maxRead        int64

	mu     sync.Mutex // guards every condition check and the write it guards
	closed bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
)

// Open returns a Store on dir, creating it if needed. maxRead caps reads
// (0: driver.DefaultMaxRead).
func Open(dir string, maxRead int64) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	if maxRead <= 0 {
		maxRead = driver.DefaultMaxRead
	}
	return &Store{dir: dir, maxRead: maxRead}, nil
}

func (s *Store) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:]))
}

func version(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// begin is the prologue of every call (under s.mu): validation, closed
// state and context, all wrapped once by driver.CheckCall; then the call
// is counted.
func (s *Store) begin(ctx context.Context, op, key string, class driver.Class, validate func(string) error) error {
	if err := driver.CheckCall(ctx, op, key, s.closed, validate); err != nil {
		return err
	}
	s.Inc(class)
	return nil
}

// read returns the object at key, or ok=false when there is none.
func (s *Store) read(key string) (o driver.Object, ok bool, err error) {
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return driver.Object{}, false, nil
	}
	if err != nil {
		return driver.Object{}, false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return driver.Object{}, false, err
	}
	r := bufio.NewReader(f)
	stored, err := r.ReadString('\n')
	if err != nil || strings.TrimSuffix(stored, "\n") != key {
		return driver.Object{}, false, fmt.Errorf("dirstore: %s is not an object of key %q", f.Name(), key)
	}
	if info.Size()-int64(len(stored)) > s.maxRead {
		return driver.Object{}, false, fmt.Errorf("%w: %d bytes, cap %d", driver.ErrTooLarge, info.Size()-int64(len(stored)), s.maxRead)
	}
	data, err := driver.ReadCapped(r, s.maxRead)
	if err != nil {
		return driver.Object{}, false, err
	}
	return driver.Object{Key: key, Data: data, Version: version(data), Modified: info.ModTime()}, true, nil
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "get", key, driver.ClassGet, driver.ValidateKey); err != nil {
		return driver.Object{}, err
	}
	o, ok, err := s.read(key)
	switch {
	case err != nil:
		return driver.Object{}, driver.Wrap("get", key, nil, err)
	case !ok:
		return driver.Object{}, driver.Wrap("get", key, driver.ErrNotFound, nil)
	}
	return o, nil
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "put", key, driver.ClassPut, driver.ValidateKey); err != nil {
		return "", err
	}
	cur, exists, err := s.current(key)
	if err != nil {
		return "", driver.Wrap("put", key, nil, err)
	}
	if !cond.Holds(exists, cur) {
		return "", driver.Wrap("put", key, driver.ErrPrecondition, nil)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return "", driver.Wrap("put", key, nil, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: already gone
	_, err = tmp.Write(append([]byte(key+"\n"), data...))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path(key))
	}
	if err != nil {
		return "", driver.Wrap("put", key, nil, err)
	}
	return version(data), nil
}

// current is the version of key ("" and false when missing). A file that
// cannot be read as an object has no version: no IfMatch matches it.
func (s *Store) current(key string) (string, bool, error) {
	o, ok, err := s.read(key)
	switch {
	case err != nil && errors.Is(err, driver.ErrTooLarge):
		// Too large to read, yet it exists: hash the file's data part.
		raw, rerr := os.ReadFile(s.path(key))
		if rerr != nil {
			return "", false, rerr
		}
		return version(raw[bytes.IndexByte(raw, '\n')+1:]), true, nil
	case err != nil:
		return "", true, nil
	}
	return o.Version, ok, nil
}

// Delete implements driver.Store, with conditional delete (checked under
// the same mutex as writes).
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "delete", key, driver.ClassDelete, driver.ValidateKey); err != nil {
		return err
	}
	if cond.IsIfAbsent() {
		return driver.Wrap("delete", key, driver.ErrUnsupported, errors.New("IfAbsent is not a delete condition"))
	}
	if !cond.IsNone() {
		cur, exists, err := s.current(key)
		if err != nil {
			return driver.Wrap("delete", key, nil, err)
		}
		if !cond.Holds(exists, cur) {
			return driver.Wrap("delete", key, driver.ErrPrecondition, nil)
		}
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return driver.Wrap("delete", key, nil, err)
	}
	return nil
}

// List implements driver.Store: it reads the key line of every file.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx, "list", prefix, driver.ClassList, driver.ValidatePrefix); err != nil {
		return driver.ListResult{}, err
	}
	res := driver.ListResult{ServerTime: time.Now()}
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), ".tmp-") {
			continue
		}
		key, size, modified, err := s.entry(n.Name())
		if err != nil {
			return driver.ListResult{}, driver.Wrap("list", prefix, nil, err)
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.dir, n.Name()))
		if err != nil {
			return driver.ListResult{}, driver.Wrap("list", prefix, nil, err)
		}
		res.Entries = append(res.Entries, driver.Entry{Key: key, Version: version(raw[len(key)+1:]), Size: size, Modified: modified})
	}
	slices.SortFunc(res.Entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// entry reads the key, data size and modification time of one file.
func (s *Store) entry(name string) (key string, size int64, modified time.Time, err error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return "", 0, time.Time{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", 0, time.Time{}, err
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("dirstore: %s has no key line", name)
	}
	return strings.TrimSuffix(line, "\n"), info.Size() - int64(len(line)), info.ModTime(), nil
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "dirstore", ConditionalDelete: true, MaxRead: s.maxRead}
}

// Close implements driver.Store. The directory stays.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
