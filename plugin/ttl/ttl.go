// Package ttl is a coordinated key-value store whose entries expire.
//
// Any process may Put, Get and Delete entries; only the leader of the
// plugin sweeps expired entries from storage, in bounded batches, on each
// Tick (register a *Store with coord.Hub.Use). Entries live under
// <prefix>entries/<key>; the sweeper's fence record is <prefix>sweeper.json.
//
// # Whose clock decides expiry
//
// An entry written with ttl d expires d after the server's modification
// time of the write (Entry.Modified / Object.Modified): one clock, the
// server's, for every writer, reader and sweeper.
//
//   - The sweeper compares Entry.Modified+d+Grace with the server time of
//     its List response, so no local clock is involved at all: an entry is
//     never swept before it has expired by the server's clock. Grace
//     absorbs timestamps truncated to whole seconds (S3 dates).
//   - Get has no server "now", so it compares Object.Modified+d with the
//     reader's clock plus ClockSkew: Get never returns an entry that has
//     expired by the server's clock as long as the reader's clock is less
//     than ClockSkew behind the server's (an entry may be hidden up to
//     ClockSkew early, which is the safe direction).
//   - A store that reports no modification time falls back to the absolute
//     expiry the writer recorded from its own clock.
//
// Entries are sealed with a checksum (plugin/internal/sealed): a damaged
// record is never judged by what it seems to say, since one flipped bit in
// its ttl would make it expire early. Get and the sweeper read a damaged
// entry again (up to three reads); Get then reports ErrCorrupt, and the
// sweeper leaves that version alone, tries again in its next two sweeps,
// and then gives up on it until the key is written again.
//
// # Why a stale sweeper is harmless
//
// The sweeper deletes an entry with IfMatch of the exact version it judged
// expired. Expiry is a function of that version's content and server
// timestamp, so if the version is unchanged the entry is still expired, and
// if the key was written again (a fresh entry) the version differs and the
// delete fails. A sweeper that lost leadership, was paused and wakes up can
// therefore only delete entries that any leader would delete. On top of
// that, each batch first passes the epoch fence (plugin/internal/fence), so
// a stale sweeper stops as soon as its successor has swept once, and a
// sweeper whose context is cancelled stops between two deletes.
//
// Stores without atomic conditional delete (Capabilities().ConditionalDelete
// false, e.g. MinIO) cannot delete "only this version". There the sweeper
// replaces an expired entry by IfMatch with a small tombstone that Get
// treats as absent, and never deletes it: an unconditional delete could
// remove an entry re-put a moment earlier. Tombstones cost storage (a few
// dozen bytes per swept key, reused when the key is written again) but no
// entry can be lost.
//
// # Cost
//
// Per Tick the leader sends one LIST of the entry prefix, one GET per
// entry version it has not seen before (the ttl is in the object, and is
// cached by version), and, when something expired, one GET of the fence
// (plus one PUT per term) and one DELETE (or PUT) per expired entry. At the
// default Interval of 30s an idle sweeper costs 120 LIST per hour.
package ttl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/clock"
	"github.com/s3coord/coord/plugin/internal/fence"
	"github.com/s3coord/coord/plugin/internal/nonce"
	"github.com/s3coord/coord/plugin/internal/sealed"
	"github.com/s3coord/coord/storage"
)

// Defaults for Options.
const (
	DefaultInterval  = 30 * time.Second
	DefaultBatchSize = 100
	DefaultGrace     = time.Second
	DefaultClockSkew = time.Second
)

// Errors.
var (
	// ErrInvalidTTL is returned by Put for a ttl <= 0.
	ErrInvalidTTL = errors.New("ttl: ttl must be positive")
	// ErrCorrupt marks an entry whose stored record cannot be decoded or
	// fails its checksum.
	ErrCorrupt = errors.New("ttl: corrupt entry")
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// Interval is how often the leader sweeps (default 30s). Longer means
	// fewer LIST requests and expired entries lingering longer in storage
	// (they are invisible to Get either way).
	Interval time.Duration
	// BatchSize bounds the deletes (and the GETs of unseen entries) of one
	// sweep (default 100); the rest waits for the next Tick.
	BatchSize int
	// Grace is added to an entry's expiry before the sweeper deletes it
	// (default 1s), to absorb server timestamps truncated to seconds.
	Grace time.Duration
	// ClockSkew is how far a reader's clock may lag the server's without
	// Get returning an expired entry (default 1s).
	ClockSkew time.Duration
	// Clock is this process's clock: a reader's for Get, a writer's for
	// the expiry it records (default: the time package). A Hub's
	// Config.Clock can be passed as is (plugin.Clock).
	Clock plugin.Clock
	// Rand is the source of the random parts of ids and nonces (default
	// crypto/rand). Give a seeded reader (math/rand/v2.ChaCha8) only to
	// make a test or a simulation replay exactly.
	Rand io.Reader
	// RequestTimeout is the deadline of each storage request (default
	// DefaultRequestTimeout): past it the request counts as failed, even
	// when the driver does not honour its context.
	RequestTimeout time.Duration
}

// Stats are the Store's counters since it was created.
type Stats struct {
	Puts, Gets, Hits, Expired uint64 // Get calls; Hits returned a value; Expired hid an expired entry
	Sweeps                    uint64 // sweeps that ran (passed the fence or had nothing to do)
	Swept                     uint64 // entries deleted (or tombstoned) by this process's sweeps
	Raced                     uint64 // expired entries re-put before the sweeper's conditional write
	Stale                     uint64 // sweeps refused by the fence because a newer leader had swept
	Interrupted               uint64 // sweeps stopped mid-batch by cancellation
	Errors                    uint64 // sweeps that failed on a storage error
	Corrupt                   uint64 // damaged entry reads by the sweeper (three reads each; never swept as read)
}

// record is the stored form of an entry (and of a tombstone).
type record struct {
	Value []byte `json:"value,omitempty"`
	// TTL in nanoseconds, counted from the server's modification time.
	TTL int64 `json:"ttl"`
	// WriterExpiry is the writer's own idea of the expiry, used only when
	// the store reports no modification time.
	WriterExpiry time.Time `json:"writerExpiry"`
	// Tombstone marks an entry swept on a store without conditional delete.
	Tombstone bool   `json:"tombstone,omitempty"`
	Epoch     uint64 `json:"epoch,omitempty"` // the sweeper's epoch, on tombstones
	Nonce     string `json:"nonce"`
}

// Store is a ttl store under one prefix. It implements plugin.Periodic:
// register it with coord.Hub.Use so that one leader sweeps. It is safe for
// concurrent use.
type Store struct {
	store  *storage.Bucket
	prefix string
	opts   Options
	fence  *fence.Fence
	rand   *nonce.Source

	mu    sync.Mutex
	known map[string]known // entry key -> what the sweeper learnt about its version

	puts, gets, hits, expired                                   atomic.Uint64
	sweeps, swept, raced, stale, interrupted, failures, corrupt atomic.Uint64
}

// known is what a sweeper learnt from reading one version of an entry.
type known struct {
	version   string
	ttl       time.Duration
	expiry    time.Time // writer expiry, for stores without Modified
	tombstone bool
	// damaged counts the sweeps in which this version read as damaged; it
	// is read again in later sweeps, up to damagedTicks.
	damaged int
}

// damagedTicks is how many sweeps read a damaged entry version (three
// reads each) before the sweeper gives up on that version for good.
const damagedTicks = 3

var _ plugin.Periodic = (*Store)(nil)

// DefaultRequestTimeout is the default Options.RequestTimeout.
const DefaultRequestTimeout = 10 * time.Second

// New returns a Store keeping entries under prefix, which must be a valid
// driver prefix ending in "/". store is a driver or an application's
// *storage.Bucket; the Store reaches it through a storage.Bucket of its
// own, whose deadline is Options.RequestTimeout.
func New(store driver.Store, prefix string, opts Options) (*Store, error) {
	if err := driver.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if prefix == "" || prefix[len(prefix)-1] != '/' {
		return nil, fmt.Errorf("ttl: prefix %q must end with /: %w", prefix, driver.ErrInvalidKey)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	given := opts.Clock // the request deadlines run on it too (nil: the time package)
	opts.Clock = clock.Of(opts.Clock)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	b := storage.New(store, storage.Options{Timeout: opts.RequestTimeout, Clock: given})
	src := nonce.New(opts.Rand)
	return &Store{
		store: b, prefix: prefix, opts: opts, rand: src,
		fence: fence.New(b, prefix+"sweeper.json", src),
		known: make(map[string]known),
	}, nil
}

func (s *Store) entryKey(key string) (string, error) {
	k := s.prefix + "entries/" + key
	if err := driver.ValidateKey(k); err != nil {
		return "", err
	}
	return k, nil
}

// Put writes value at key, expiring ttl after the server stores it. A
// later Put of the same key replaces the entry and its expiry.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	k, err := s.entryKey(key)
	if err != nil {
		return err
	}
	data, err := sealed.Seal(record{Value: value, TTL: int64(ttl), WriterExpiry: s.opts.Clock.Now().Add(ttl), Nonce: s.rand.Hex()})
	if err != nil {
		return err
	}
	s.puts.Add(1)
	_, err = s.store.Put(ctx, k, data, driver.None)
	return err
}

// Get returns the value at key. It returns an error for which
// errors.Is(err, driver.ErrNotFound) holds when there is no entry or the
// entry has expired (see the package doc for whose clock decides).
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := s.entryKey(key)
	if err != nil {
		return nil, err
	}
	s.gets.Add(1)
	obj, r, err := s.read(ctx, k)
	if errors.Is(err, sealed.ErrCorrupt) {
		return nil, fmt.Errorf("%w %q: %w", ErrCorrupt, key, err)
	}
	if err != nil {
		return nil, err
	}
	if r.Tombstone {
		return nil, driver.Wrap("get", k, driver.ErrNotFound, nil)
	}
	if !s.opts.Clock.Now().Add(s.opts.ClockSkew).Before(expiry(obj.Modified, r)) {
		s.expired.Add(1)
		return nil, driver.Wrap("get", k, driver.ErrNotFound, errExpired)
	}
	s.hits.Add(1)
	return r.Value, nil
}

var errExpired = errors.New("entry expired")

// expiry is when an entry expires: server modification time plus ttl, or
// the writer's own expiry when the store keeps no modification time.
func expiry(modified time.Time, r record) time.Time {
	if modified.IsZero() {
		return r.WriterExpiry
	}
	return modified.Add(time.Duration(r.TTL))
}

// Delete removes the entry at key (unconditionally); deleting a missing
// key succeeds.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.entryKey(key)
	if err != nil {
		return err
	}
	return s.store.Delete(ctx, k, driver.None)
}

// Interval implements plugin.Periodic.
func (s *Store) Interval() time.Duration { return s.opts.Interval }

// Tick implements plugin.Periodic: one bounded sweep by the leader of
// term. It returns ctx's error when cancelled mid-batch, and an error for
// which errors.Is(err, plugin.ErrStaleEpoch) holds when a newer leader has
// already swept.
func (s *Store) Tick(ctx context.Context, term plugin.Term) error {
	err := s.sweep(ctx, term)
	switch {
	case err == nil:
	case errors.Is(err, plugin.ErrStaleEpoch):
		s.stale.Add(1)
	case ctx.Err() != nil:
		s.interrupted.Add(1)
	default:
		s.failures.Add(1)
	}
	return err
}

func (s *Store) sweep(ctx context.Context, term plugin.Term) error {
	res, err := s.store.List(ctx, s.prefix+"entries/")
	if err != nil {
		return err
	}
	now := res.ServerTime
	seen := make(map[string]bool, len(res.Entries))
	type victim struct{ key, version string }
	var victims []victim
	reads := 0
	var failed error // the first failed read or removal: reported, not fatal
	for _, e := range res.Entries {
		seen[e.Key] = true
		if len(victims) >= s.opts.BatchSize {
			continue // keep the cache of the rest; sweep them next time
		}
		s.mu.Lock()
		kn, ok := s.known[e.Key]
		s.mu.Unlock()
		if !ok || kn.version != e.Version || kn.damaged > 0 && kn.damaged < damagedTicks {
			if reads >= s.opts.BatchSize {
				continue // learn the rest next time
			}
			reads++
			if err := ctx.Err(); err != nil {
				return err
			}
			kn, err = s.learn(ctx, e.Key)
			if errors.Is(err, driver.ErrNotFound) {
				continue // deleted since the List
			}
			if err != nil {
				// Judge it next time; one failed read must not keep the
				// others from being swept.
				failed = cmp.Or(failed, err)
				continue
			}
			if kn.version != e.Version {
				continue // rewritten since the List: judge it next time
			}
		}
		if kn.tombstone {
			continue
		}
		exp := kn.expiry
		if !e.Modified.IsZero() {
			exp = e.Modified.Add(kn.ttl)
		}
		if !now.Before(exp.Add(s.opts.Grace)) {
			victims = append(victims, victim{e.Key, e.Version})
		}
	}
	s.forget(seen)
	if len(victims) == 0 {
		s.sweeps.Add(1)
		return failed
	}
	if err := s.fence.Check(ctx, term); err != nil {
		return err
	}
	s.sweeps.Add(1)
	conditional := s.store.Capabilities().ConditionalDelete
	for _, v := range victims {
		if err := ctx.Err(); err != nil {
			return err // lost leadership: stop mid-batch
		}
		if conditional {
			err = s.store.Delete(ctx, v.key, driver.IfMatch(v.version))
		} else {
			err = s.tombstone(ctx, v.key, v.version, term)
		}
		switch {
		case err == nil:
			s.swept.Add(1)
		case errors.Is(err, driver.ErrPrecondition):
			s.raced.Add(1) // re-put (or deleted) since judged: leave it
		default:
			failed = cmp.Or(failed, err) // try it again next time
		}
	}
	return failed
}

// tombstone replaces version of key by a tombstone, atomically.
func (s *Store) tombstone(ctx context.Context, key, version string, term plugin.Term) error {
	data, err := sealed.Seal(record{Tombstone: true, Epoch: term.Epoch, Nonce: s.rand.Hex()})
	if err != nil {
		return err
	}
	v, err := s.store.Put(ctx, key, data, driver.IfMatch(version))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.known[key] = known{version: v, tombstone: true}
	s.mu.Unlock()
	return nil
}

// read reads an entry. A damaged read (the record fails its checksum) is
// read again, up to three reads in all, since a damaged response is often
// a one-off; after that it returns an error for which errors.Is(err,
// sealed.ErrCorrupt) holds, with the object.
func (s *Store) read(ctx context.Context, key string) (driver.Object, record, error) {
	for attempt := 0; ; attempt++ {
		obj, err := s.store.Get(ctx, key)
		if err != nil {
			return driver.Object{}, record{}, err
		}
		var r record
		err = sealed.Open(obj.Data, &r)
		if err == nil || attempt == 2 {
			return obj, r, err
		}
	}
}

// learn reads one entry and caches what the sweeper needs from it. A
// damaged entry is never judged by what it seems to say (a flipped bit in
// its ttl would sweep it early): it is left alone, read again in the next
// sweeps, and after damagedTicks sweeps left alone until it is written
// again.
func (s *Store) learn(ctx context.Context, key string) (known, error) {
	obj, r, err := s.read(ctx, key)
	kn := known{version: obj.Version}
	switch {
	case errors.Is(err, sealed.ErrCorrupt):
		s.corrupt.Add(1)
		s.mu.Lock()
		if prev, ok := s.known[key]; ok && prev.version == obj.Version {
			kn.damaged = prev.damaged
		}
		s.mu.Unlock()
		kn.damaged++
		kn.tombstone = true
	case err != nil:
		return known{}, err
	case r.TTL <= 0 && !r.Tombstone:
		kn.tombstone = true // not written by this package: never sweep it
	default:
		kn.ttl, kn.expiry, kn.tombstone = time.Duration(r.TTL), r.WriterExpiry, r.Tombstone
	}
	s.mu.Lock()
	s.known[key] = kn
	s.mu.Unlock()
	return kn, nil
}

// forget drops cached versions of keys that no longer exist.
func (s *Store) forget(seen map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.known {
		if !seen[k] {
			delete(s.known, k)
		}
	}
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Puts: s.puts.Load(), Gets: s.gets.Load(), Hits: s.hits.Load(), Expired: s.expired.Load(),
		Sweeps: s.sweeps.Load(), Swept: s.swept.Load(), Raced: s.raced.Load(), Stale: s.stale.Load(),
		Interrupted: s.interrupted.Load(), Errors: s.failures.Load(), Corrupt: s.corrupt.Load(),
	}
}
