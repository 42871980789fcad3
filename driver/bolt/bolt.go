// Package bolt is the bbolt file driver: the embedded default store for a
// single host (one file, many processes taking turns, or one process with
// many goroutines).
//
// Every object lives in one bucket of one bbolt file. Versions come from
// the bucket's strictly increasing sequence, so every successful write,
// even of the same bytes, gets a new version, and a version is never
// reused, not even after a delete. Conditions are checked inside the same
// update transaction that writes, so they are exact. Commits are fsynced
// (bbolt's default; this driver never sets NoSync), so a write that
// returned survives a crash of the process or the machine. Concurrent
// writers are grouped into one transaction (one fsync) while a commit is in
// flight; a lone writer is never delayed.
//
// bbolt holds an exclusive lock on the file while it is open. Open waits
// at most Options.LockTimeout for it and then fails with an error for which
// errors.Is(err, ErrLocked) holds: a second process must not hang silently.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/s3coord/coord/driver"
)

// DefaultLockTimeout is how long Open waits for the file lock by default.
const DefaultLockTimeout = time.Second

var (
	// ErrLocked: another process (or another open Store in this process)
	// holds the file.
	ErrLocked = errors.New("bolt: file is in use by another process")
	// ErrCorrupt: a stored value is not in this driver's format.
	ErrCorrupt = errors.New("bolt: corrupt value")
)

// bucketName is the one bucket that holds every object.
var bucketName = []byte("coord.objects")

// Options configure a Store. The zero value is usable.
type Options struct {
	// LockTimeout bounds how long Open waits for the file lock held by
	// another process. 0 means DefaultLockTimeout; a negative value means
	// do not wait.
	LockTimeout time.Duration
	// MaxRead caps reads (default driver.DefaultMaxRead).
	MaxRead int64
	// Now supplies the time recorded as objects' Modified and reported as
	// List's ServerTime (one file has one clock). Default time.Now.
	Now func() time.Time
}

// Store is a driver.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	driver.Counter
	opts Options
	path string

	mu     sync.RWMutex // write-locked only by Close
	db     *bbolt.DB
	closed bool

	wmu        sync.Mutex // guards queue and committing
	queue      []*write
	committing bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
)

// Open opens (creating if needed) the bbolt file at path. When another
// process holds the file, Open waits up to opts.LockTimeout and then
// returns an error for which errors.Is(err, ErrLocked) holds.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRead <= 0 {
		opts.MaxRead = driver.DefaultMaxRead
	}
	wait := opts.LockTimeout
	switch {
	case wait == 0:
		wait = DefaultLockTimeout
	case wait < 0:
		wait = time.Nanosecond // bbolt treats 0 as "wait forever"
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: wait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked (waited %v); stop the other process or use another file: %w",
			ErrLocked, path, wait, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &Store{opts: opts, path: path, db: db}, nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Value format: a fixed header, then the object's bytes.
//
//	byte 0      format (1)
//	bytes 1-8   version: the bucket sequence at the write, big endian
//	bytes 9-16  modified: Unix nanoseconds, big endian
const (
	formatV1   = 1
	headerSize = 17
)

type header struct {
	version  string
	modified time.Time
}

func encode(seq uint64, modified time.Time, data []byte) []byte {
	b := make([]byte, headerSize+len(data))
	b[0] = formatV1
	binary.BigEndian.PutUint64(b[1:9], seq)
	binary.BigEndian.PutUint64(b[9:17], uint64(modified.UnixNano()))
	copy(b[headerSize:], data)
	return b
}

// decode splits a stored value; it fails with ErrCorrupt on anything this
// driver did not write.
func decode(raw []byte) (header, []byte, error) {
	if len(raw) < headerSize || raw[0] != formatV1 {
		return header{}, nil, fmt.Errorf("%w: %d bytes, not written by this driver (format %d)", ErrCorrupt, len(raw), formatV1)
	}
	seq := binary.BigEndian.Uint64(raw[1:9])
	if seq == 0 {
		return header{}, nil, fmt.Errorf("%w: version 0", ErrCorrupt)
	}
	return header{
		version:  strconv.FormatUint(seq, 10),
		modified: time.Unix(0, int64(binary.BigEndian.Uint64(raw[9:17]))),
	}, raw[headerSize:], nil
}

// Get implements driver.Store. A value this driver did not write fails
// with an error for which errors.Is(err, ErrCorrupt) holds.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := driver.BeginRequest(ctx, "get", key, s.closed, &s.Counter); err != nil {
		return driver.Object{}, err
	}
	var obj driver.Object
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketName).Get([]byte(key))
		if raw == nil {
			return driver.ErrNotFound
		}
		h, data, err := decode(raw)
		if err != nil {
			return err
		}
		if int64(len(data)) > s.opts.MaxRead {
			return fmt.Errorf("%w: %d bytes, cap %d", driver.ErrTooLarge, len(data), s.opts.MaxRead)
		}
		// raw is only valid inside the transaction: copy.
		obj = driver.Object{Key: key, Data: bytes.Clone(data), Version: h.version, Modified: h.modified}
		return nil
	})
	if err != nil {
		return driver.Object{}, driver.Wrap("get", key, nil, err)
	}
	return obj, nil
}

// Put implements driver.Store. A corrupt current value has no version:
// IfMatch never matches it, IfAbsent fails, None overwrites it.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := driver.BeginRequest(ctx, "put", key, s.closed, &s.Counter); err != nil {
		return "", err
	}
	var version string
	err := s.update(func(b *bbolt.Bucket) error {
		if !cond.Holds(current(b, key)) {
			return driver.ErrPrecondition
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put([]byte(key), encode(seq, s.opts.Now(), data)); err != nil {
			return err
		}
		version = strconv.FormatUint(seq, 10)
		return nil
	})
	if err != nil {
		return "", driver.Wrap("put", key, nil, s.native(err))
	}
	return version, nil
}

// current reports whether key exists in b and its version ("" when the
// value is corrupt, which no IfMatch matches).
func current(b *bbolt.Bucket, key string) (exists bool, version string) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, ""
	}
	h, _, err := decode(raw)
	if err != nil {
		return true, ""
	}
	return true, h.version
}

// Delete implements driver.Store. Conditional delete is supported: the
// condition is checked in the deleting transaction.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := driver.BeginRequest(ctx, "delete", key, s.closed, &s.Counter); err != nil {
		return err
	}
	if cond.IsIfAbsent() {
		return driver.Wrap("delete", key, driver.ErrUnsupported, errors.New("IfAbsent is not a delete condition"))
	}
	err := s.update(func(b *bbolt.Bucket) error {
		if !cond.IsNone() && !cond.Holds(current(b, key)) {
			return driver.ErrPrecondition
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return driver.Wrap("delete", key, nil, s.native(err))
	}
	return nil
}

// List implements driver.Store. Keys come in bbolt's byte order. A corrupt
// value is listed with an empty Version (no IfMatch matches it), its raw
// size and a zero Modified time, so that it can be seen and replaced.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := driver.BeginRequest(ctx, "list", prefix, s.closed, &s.Counter); err != nil {
		return driver.ListResult{}, err
	}
	var res driver.ListResult
	err := s.db.View(func(tx *bbolt.Tx) error {
		res.ServerTime = s.opts.Now()
		c := tx.Bucket(bucketName).Cursor()
		p := []byte(prefix)
		n := 0
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			e := driver.Entry{Key: string(k), Size: int64(len(v))}
			if h, data, err := decode(v); err == nil {
				e.Version, e.Size, e.Modified = h.version, int64(len(data)), h.modified
			}
			res.Entries = append(res.Entries, e)
		}
		return nil
	})
	if err != nil {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, s.native(err))
	}
	return res, nil
}

// write is one caller's part of a group commit.
type write struct {
	fn   func(*bbolt.Bucket) error
	err  error
	wake chan bool // true: lead the next commit; false: err is set
}

// update runs fn in an update transaction and returns after that
// transaction is committed (and fsynced). Writers that arrive while a
// commit is in progress are committed together in the next transaction,
// in arrival order, so concurrent writers share one fsync without any
// added delay for a lone writer. fn returning ErrPrecondition is that
// caller's outcome and does not abort the transaction; any other error
// does, and then every fn of the group is run again in a transaction of
// its own. fn must therefore only touch b and its own results.
func (s *Store) update(fn func(*bbolt.Bucket) error) error {
	w := &write{fn: fn, wake: make(chan bool, 1)}
	s.wmu.Lock()
	s.queue = append(s.queue, w)
	lead := !s.committing
	s.committing = true
	s.wmu.Unlock()
	if !lead && !<-w.wake {
		return w.err
	}

	s.wmu.Lock()
	group := s.queue
	s.queue = nil
	s.wmu.Unlock()
	s.commit(group)
	for _, o := range group {
		if o != w {
			o.wake <- false
		}
	}

	s.wmu.Lock()
	if len(s.queue) > 0 {
		next := s.queue[0]
		s.wmu.Unlock()
		next.wake <- true // hand the lead on; it takes the whole queue
	} else {
		s.committing = false
		s.wmu.Unlock()
	}
	return w.err
}

// commit runs a group of writes in one transaction, or each in its own
// when the group's transaction fails.
func (s *Store) commit(group []*write) {
	run := func(tx *bbolt.Tx, w *write) error {
		w.err = w.fn(tx.Bucket(bucketName))
		if errors.Is(w.err, driver.ErrPrecondition) {
			return nil
		}
		return w.err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, w := range group {
			if err := run(tx, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if len(group) == 1 {
		group[0].err = err
		return
	}
	for _, w := range group {
		if err := s.db.Update(func(tx *bbolt.Tx) error { return run(tx, w) }); err != nil {
			w.err = err
		}
	}
}

// native maps bbolt's closed-database error to ErrClosed.
func (s *Store) native(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", driver.ErrClosed, err)
	}
	return err
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "bolt", ConditionalDelete: true, MaxRead: s.opts.MaxRead}
}

// Close implements driver.Store: it waits for calls in flight, then
// releases the file and its lock. Closing twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", s.path, err)
	}
	return nil
}
