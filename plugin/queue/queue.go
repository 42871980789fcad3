// Package queue is an at-least-once message queue on object storage,
// coordinated by coord: any process may Enqueue, Claim, Ack and Nack; the
// leader of the plugin redelivers messages whose claims expired and moves
// messages that failed too often to a dead-letter prefix (register a
// *Queue with coord.Hub.Use; it implements plugin.Periodic).
//
// # Layout
//
//	<prefix>messages/<id>          the message: body, attempts so far
//	<prefix>claims/<id>/<attempt>  one record per delivery attempt
//	<prefix>dead/<id>              dead letters
//	<prefix>redelivery.json        the leader's epoch fence
//
// # Claims: one holder per delivery, by IfAbsent
//
// A message that has failed n times is delivered as attempt n+1, and the
// only way to hold attempt n+1 is to create its claim key with IfAbsent:
// exactly one consumer wins. The holder owns the message until its local
// Deadline, Visibility after it sent the claim; nobody else can claim the
// message before the counter moves to n+1, which happens only when the
// holder Nacks or when the leader redelivers. The leader redelivers only
// once the server's clock says the claim record is older than
// Visibility+Grace (List's ServerTime against the record's Modified), and
// the holder's deadline started before the server stamped that record, so
// holdings never overlap whatever the offset between clocks (only clock
// rate matters, and Grace covers it together with whole-second server
// timestamps).
//
// Because every attempt has its own claim key, deleting a claim key is
// safe without conditional delete: a stale leader or consumer deleting
// attempt n's key can never remove attempt n+1's claim. Every change to a
// message itself is an IfMatch of the exact version its author saw, so a
// consumer whose claim was redelivered cannot Ack or Nack it
// (ErrClaimLost), and a stale leader cannot redeliver a message twice.
//
// # At least once, no message lost
//
// A message is removed only by Ack (IfMatch of the version delivered) or
// by moving it to dead/ (the dead letter is written before the message is
// removed, and never withdrawn). A consumer that crashes simply lets its claim expire; a leader
// that crashes or is paused leaves claims that the next leader redelivers;
// every step is idempotent and re-run from storage, so no state lives only
// in memory. A message can be delivered more than once (after an expired
// claim, or a crash between processing and Ack): make handlers idempotent.
//
// Without conditional delete (Capabilities().ConditionalDelete false,
// e.g. MinIO), Ack reads the message, checks its version and deletes it
// unconditionally. If, between that read and the delete, the claim expires
// and the leader redelivers it, the redelivered copy is removed while a
// second consumer works on it: the message was still processed (by the
// acker), so nothing is lost, but that window of double processing exists
// on such stores; keep handlers well inside Visibility there.
//
// Every record is sealed with a checksum (plugin/internal/sealed). A
// message that reads as damaged is read again (up to three reads), and if
// it stays damaged it is neither delivered nor redelivered by that call:
// a flipped bit in its body would hand a consumer wrong data (and its Ack
// would then remove the real message unhandled), one in its attempt
// counter would let two consumers claim it. It stays in storage, to be
// read again by the next Claim or Tick.
//
// # Order
//
// Message ids are the enqueuer's clock in nanoseconds (fixed width, and
// strictly increasing within one Queue) plus a random suffix, and Claim
// scans in key order, so delivery is FIFO for one producer and ordered by
// the producers' clocks across producers (clock offset between producers
// reorders their messages by up to that offset). A redelivered message
// keeps its place at the front. Parallel consumers of course finish out of
// order; object storage offers no stronger order without a single writer.
//
// # Cost
//
// Enqueue: 1 PUT. Claim: 1 LIST when the queue is empty; otherwise 2 LIST,
// 2 GET, 1 PUT per message delivered (plus a GET and PUT per lost race).
// Ack: 2 DELETE. The leader: 1 LIST per Tick (every 10s by default: 360
// LIST per hour when idle), plus a few requests per expired claim.
package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
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
	DefaultVisibility  = 30 * time.Second
	DefaultMaxAttempts = 5
	DefaultInterval    = 10 * time.Second
	DefaultBatchSize   = 100
	DefaultGrace       = time.Second
)

// Errors.
var (
	// ErrEmpty is returned by Claim when no message is available.
	ErrEmpty = errors.New("queue: no message available")
	// ErrClaimLost is returned by Ack and Nack when the message is no
	// longer held by this claim: its visibility expired and the leader
	// redelivered it, or it was already acked.
	ErrClaimLost = errors.New("queue: claim lost")
)

// Options tune a Queue. The zero value gives the defaults.
type Options struct {
	// Visibility is how long a claim holds a message (default 30s).
	Visibility time.Duration
	// MaxAttempts is how many deliveries a message gets before it is
	// moved to the dead letters (default 5).
	MaxAttempts int
	// Interval is how often the leader looks for expired claims (default
	// 10s). A message whose holder crashed is redelivered within
	// Visibility+Grace+Interval.
	Interval time.Duration
	// BatchSize bounds the claims the leader handles per Tick (default 100).
	BatchSize int
	// Grace is added to Visibility before the leader redelivers (default
	// 1s): it absorbs whole-second server timestamps and clock rate drift.
	Grace time.Duration
	// Clock is this process's clock: message ids and claim deadlines
	// (default: the time package). A Hub's Config.Clock can be passed as
	// is (plugin.Clock).
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

// Stats are a Queue's counters since it was created.
type Stats struct {
	Enqueued, Claimed, Acked, Nacked uint64
	EmptyPolls                       uint64 // Claim calls that found nothing
	ClaimRaces                       uint64 // claims lost to another consumer
	ClaimsLost                       uint64 // Ack/Nack refused with ErrClaimLost
	Redelivered                      uint64 // expired claims made visible again by this leader
	DeadLettered                     uint64 // messages moved to dead letters by this process
	Stale                            uint64 // Ticks refused by the fence (a newer leader worked)
	Interrupted                      uint64 // Ticks stopped by cancellation
	Errors                           uint64 // Ticks that failed on a storage error
	Corrupt                          uint64 // message reads damaged three times in a row (left alone)
}

// Message is a delivered message. Its fields are read-only.
type Message struct {
	ID       string
	Body     []byte
	Attempt  int       // 1 for the first delivery
	Enqueued time.Time // the enqueuer's clock
	// Deadline is when this claim ends, on this process's clock. After it
	// the message may be delivered to another consumer.
	Deadline time.Time

	rec      message
	version  string // the message version this claim was made on
	claimKey string
}

// DeadLetter is a message that was delivered MaxAttempts times without an
// Ack.
type DeadLetter struct {
	ID       string    `json:"id"`
	Body     []byte    `json:"body"`
	Attempts int       `json:"attempts"`
	Enqueued time.Time `json:"enqueued"`
	Reason   string    `json:"reason"`
	Nonce    string    `json:"nonce"`
}

type message struct {
	ID       string    `json:"id"`
	Body     []byte    `json:"body"`
	Enqueued time.Time `json:"enqueued"`
	Attempts int       `json:"attempts"` // deliveries that ended without Ack
	Nonce    string    `json:"nonce"`
}

type claim struct {
	Consumer string `json:"consumer"`
	Attempt  int    `json:"attempt"`
	Version  string `json:"version"`
	Nonce    string `json:"nonce"`
}

// Queue is one queue under a prefix. It is safe for concurrent use.
type Queue struct {
	store  *storage.Bucket
	prefix string
	opts   Options
	fence  *fence.Fence
	rand   *nonce.Source

	mu     sync.Mutex
	lastID int64

	enqueued, claimed, acked, nacked, empty, races, lost     atomic.Uint64
	redelivered, dead, stale, interrupted, failures, corrupt atomic.Uint64
}

var _ plugin.Periodic = (*Queue)(nil)

// DefaultRequestTimeout is the default Options.RequestTimeout.
const DefaultRequestTimeout = 10 * time.Second

// New returns the queue kept under prefix, which must be a valid driver
// prefix ending in "/". store is a driver or an application's
// *storage.Bucket; the queue reaches it through a storage.Bucket of its
// own, whose deadline is Options.RequestTimeout.
func New(store driver.Store, prefix string, opts Options) (*Queue, error) {
	if err := driver.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if prefix == "" || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("queue: prefix %q must end with /: %w", prefix, driver.ErrInvalidKey)
	}
	if opts.Visibility <= 0 {
		opts.Visibility = DefaultVisibility
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
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
	given := opts.Clock // the request deadlines run on it too (nil: the time package)
	opts.Clock = clock.Of(opts.Clock)
	src := nonce.New(opts.Rand)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	b := storage.New(store, storage.Options{Timeout: opts.RequestTimeout, Clock: given})
	return &Queue{store: b, prefix: prefix, opts: opts, rand: src, fence: fence.New(b, prefix+"redelivery.json", src)}, nil
}

func (q *Queue) messageKey(id string) string { return q.prefix + "messages/" + id }
func (q *Queue) claimKey(id string, attempt int) string {
	return fmt.Sprintf("%sclaims/%s/%010d", q.prefix, id, attempt)
}
func (q *Queue) deadKey(id string) string { return q.prefix + "dead/" + id }

// newID returns a fixed-width id that sorts by enqueue time: strictly
// increasing within this Queue, random-suffixed across processes.
func (q *Queue) newID() string {
	q.mu.Lock()
	n := q.opts.Clock.Now().UnixNano()
	if n <= q.lastID {
		n = q.lastID + 1
	}
	q.lastID = n
	q.mu.Unlock()
	return fmt.Sprintf("%020d-%s", n, q.rand.Hex())
}

// Enqueue adds a message and returns its id.
func (q *Queue) Enqueue(ctx context.Context, body []byte) (string, error) {
	now := q.opts.Clock.Now()
	id := q.newID()
	data, err := sealed.Seal(message{ID: id, Body: body, Enqueued: now, Nonce: q.nonce()})
	if err != nil {
		return "", err
	}
	if _, err := q.store.Put(ctx, q.messageKey(id), data, driver.IfAbsent()); err != nil {
		return "", err
	}
	q.enqueued.Add(1)
	return id, nil
}

// Claim delivers the oldest available message to consumer (a name for
// diagnostics), held until the returned Message's Deadline. It returns an
// error for which errors.Is(err, ErrEmpty) holds when every message is
// claimed or there is none.
func (q *Queue) Claim(ctx context.Context, consumer string) (*Message, error) {
	msgs, err := q.store.List(ctx, q.prefix+"messages/")
	if err != nil {
		return nil, err
	}
	if len(msgs.Entries) == 0 {
		q.empty.Add(1)
		return nil, ErrEmpty
	}
	claims, err := q.store.List(ctx, q.prefix+"claims/")
	if err != nil {
		return nil, err
	}
	held := make(map[string]bool, len(claims.Entries))
	for _, e := range claims.Entries {
		if id, _, ok := q.parseClaimKey(e.Key); ok {
			held[id] = true
		}
	}
	for _, e := range msgs.Entries {
		id := strings.TrimPrefix(e.Key, q.prefix+"messages/")
		if held[id] {
			continue
		}
		m, err := q.tryClaim(ctx, id, consumer)
		if err == nil {
			q.claimed.Add(1)
			return m, nil
		}
		if !errors.Is(err, errSkip) {
			return nil, err
		}
	}
	q.empty.Add(1)
	return nil, ErrEmpty
}

var errSkip = errors.New("skip")

func (q *Queue) tryClaim(ctx context.Context, id, consumer string) (*Message, error) {
	key := q.messageKey(id)
	obj, rec, err := q.readMessage(ctx, id)
	if errors.Is(err, driver.ErrNotFound) || errors.Is(err, sealed.ErrCorrupt) {
		return nil, errSkip // gone, or damaged: never deliver what we cannot trust
	}
	if err != nil {
		return nil, err
	}
	attempt := rec.Attempts + 1
	ck := q.claimKey(id, attempt)
	data, err := sealed.Seal(claim{Consumer: consumer, Attempt: attempt, Version: obj.Version, Nonce: q.nonce()})
	if err != nil {
		return nil, err
	}
	start := q.opts.Clock.Now() // before the server stamps the claim: our deadline ends first
	if _, err := q.store.Put(ctx, ck, data, driver.IfAbsent()); err != nil {
		if errors.Is(err, driver.ErrPrecondition) {
			q.races.Add(1)
			return nil, errSkip
		}
		return nil, err
	}
	// We hold this attempt. Make sure the message is still the one we
	// read: if it was acked or redelivered meanwhile, our claim key is a
	// leftover generation; give it back.
	again, err := q.store.Get(ctx, key)
	if err != nil || again.Version != obj.Version {
		_ = q.store.Delete(context.WithoutCancel(ctx), ck, driver.None)
		if err != nil && !errors.Is(err, driver.ErrNotFound) {
			return nil, err
		}
		q.races.Add(1)
		return nil, errSkip
	}
	return &Message{
		ID: id, Body: rec.Body, Attempt: attempt, Enqueued: rec.Enqueued,
		Deadline: start.Add(q.opts.Visibility),
		rec:      rec, version: obj.Version, claimKey: ck,
	}, nil
}

// readMessage reads message id. A damaged read (the record fails its
// checksum) is read again, up to three reads in all, since a damaged
// response is often a one-off; after that it returns an error for which
// errors.Is(err, sealed.ErrCorrupt) holds. A damaged message is never
// delivered nor judged by what it seems to say: a flipped bit in its body
// would hand the consumer wrong data, one in its attempt counter would
// let two consumers hold it.
func (q *Queue) readMessage(ctx context.Context, id string) (driver.Object, message, error) {
	for attempt := 0; ; attempt++ {
		obj, err := q.store.Get(ctx, q.messageKey(id))
		if err != nil {
			return driver.Object{}, message{}, err
		}
		var rec message
		if err = sealed.Open(obj.Data, &rec); err == nil {
			return obj, rec, nil
		}
		if attempt == 2 {
			q.corrupt.Add(1)
			return obj, message{}, fmt.Errorf("queue message %s: %w", id, err)
		}
	}
}

// Ack removes a processed message. It returns an error for which
// errors.Is(err, ErrClaimLost) holds when m's claim was redelivered or the
// message is gone; the message is then someone else's (or done).
func (q *Queue) Ack(ctx context.Context, m *Message) error {
	if err := q.removeMessage(ctx, m.ID, m.version); err != nil {
		if errors.Is(err, ErrClaimLost) {
			q.lost.Add(1)
		}
		return err
	}
	q.acked.Add(1)
	// Our own attempt's key: safe to delete unconditionally. If this
	// fails the leader removes it as an orphan.
	_ = q.store.Delete(ctx, m.claimKey, driver.None)
	return nil
}

// removeMessage deletes the message if it still has version, and returns
// ErrClaimLost otherwise.
func (q *Queue) removeMessage(ctx context.Context, id, version string) error {
	key := q.messageKey(id)
	if q.store.Capabilities().ConditionalDelete {
		err := q.store.Delete(ctx, key, driver.IfMatch(version))
		if errors.Is(err, driver.ErrPrecondition) {
			return fmt.Errorf("%w: message %s changed", ErrClaimLost, id)
		}
		return err
	}
	// Fallback without conditional delete: check, then delete (see the
	// package doc for the window this leaves).
	obj, err := q.store.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return fmt.Errorf("%w: message %s is gone", ErrClaimLost, id)
	}
	if err != nil {
		return err
	}
	if obj.Version != version {
		return fmt.Errorf("%w: message %s changed", ErrClaimLost, id)
	}
	return q.store.Delete(ctx, key, driver.None)
}

// Nack gives a message back for redelivery now (or moves it to the dead
// letters once it has had MaxAttempts deliveries). It returns an error for
// which errors.Is(err, ErrClaimLost) holds when m's claim was redelivered.
func (q *Queue) Nack(ctx context.Context, m *Message) error {
	var err error
	if m.Attempt >= q.opts.MaxAttempts {
		err = q.deadLetter(ctx, m.version, m.rec, m.Attempt, "nacked")
	} else {
		err = q.bump(ctx, m.version, m.rec, m.Attempt)
	}
	if err != nil {
		if errors.Is(err, ErrClaimLost) {
			q.lost.Add(1)
		}
		return err
	}
	q.nacked.Add(1)
	_ = q.store.Delete(ctx, m.claimKey, driver.None)
	return nil
}

// bump records that attempt ended without Ack, making the message
// available as attempt+1. It is an IfMatch of the version the attempt was
// made on, so it happens once per attempt.
func (q *Queue) bump(ctx context.Context, version string, rec message, attempt int) error {
	rec.Attempts = attempt
	rec.Nonce = q.nonce()
	data, err := sealed.Seal(rec)
	if err != nil {
		return err
	}
	_, err = q.store.Put(ctx, q.messageKey(rec.ID), data, driver.IfMatch(version))
	if errors.Is(err, driver.ErrPrecondition) {
		return fmt.Errorf("%w: message %s changed", ErrClaimLost, rec.ID)
	}
	return err
}

// deadLetter writes the dead letter first, then removes the message if it
// still has version. The dead letter is never withdrawn, even when the
// removal fails: another writer (the leader expiring the last attempt
// while its holder Nacks it, or an earlier try of this one) may have found
// it in place, relied on it and removed the message, and withdrawing it
// then would lose the message. A message's body never changes, so any
// dead letter of its id carries it. The price is a dead letter for a
// message that was redelivered meanwhile (and later handled): handle dead
// letters idempotently, like deliveries.
func (q *Queue) deadLetter(ctx context.Context, version string, rec message, attempts int, reason string) error {
	data, err := sealed.Seal(DeadLetter{ID: rec.ID, Body: rec.Body, Attempts: attempts, Enqueued: rec.Enqueued, Reason: reason, Nonce: q.nonce()})
	if err != nil {
		return err
	}
	_, err = q.store.Put(ctx, q.deadKey(rec.ID), data, driver.IfAbsent())
	if err != nil && !errors.Is(err, driver.ErrPrecondition) {
		return err // ErrPrecondition: already written, by anyone: as good
	}
	if err := q.removeMessage(ctx, rec.ID, version); err != nil {
		return err
	}
	q.dead.Add(1)
	return nil
}

// DeadLetters returns the dead letters in id order.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	res, err := q.store.List(ctx, q.prefix+"dead/")
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for _, e := range res.Entries {
		obj, err := q.store.Get(ctx, e.Key)
		if errors.Is(err, driver.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var d DeadLetter
		if sealed.Open(obj.Data, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Len returns the number of messages in the queue, claimed or not (one
// LIST).
func (q *Queue) Len(ctx context.Context) (int, error) {
	res, err := q.store.List(ctx, q.prefix+"messages/")
	return len(res.Entries), err
}

func (q *Queue) parseClaimKey(key string) (id string, attempt int, ok bool) {
	rest, found := strings.CutPrefix(key, q.prefix+"claims/")
	if !found {
		return "", 0, false
	}
	id, n, found := strings.Cut(rest, "/")
	if !found {
		return "", 0, false
	}
	a, err := strconv.Atoi(n)
	if err != nil {
		return "", 0, false
	}
	return id, a, true
}

// Interval implements plugin.Periodic.
func (q *Queue) Interval() time.Duration { return q.opts.Interval }

// Tick implements plugin.Periodic: the leader redelivers expired claims
// (at most BatchSize) and removes claim keys of finished attempts. It
// returns an error for which errors.Is(err, plugin.ErrStaleEpoch) holds
// when a newer leader has already done this work, and ctx's error when
// leadership ends mid-batch.
func (q *Queue) Tick(ctx context.Context, term plugin.Term) error {
	err := q.redeliver(ctx, term)
	switch {
	case err == nil:
	case errors.Is(err, plugin.ErrStaleEpoch):
		q.stale.Add(1)
	case ctx.Err() != nil:
		q.interrupted.Add(1)
	default:
		q.failures.Add(1)
	}
	return err
}

type expiredClaim struct {
	id      string
	attempt int
	key     string
}

func (q *Queue) redeliver(ctx context.Context, term plugin.Term) error {
	res, err := q.store.List(ctx, q.prefix+"claims/")
	if err != nil {
		return err
	}
	now := res.ServerTime
	// Keys sort by id, then by zero-padded attempt: the last key of an id
	// is its current attempt, earlier ones are finished attempts.
	var garbage []string
	var expired []expiredClaim
	for i, e := range res.Entries {
		id, attempt, ok := q.parseClaimKey(e.Key)
		if !ok {
			continue
		}
		if i+1 < len(res.Entries) {
			if next, _, ok := q.parseClaimKey(res.Entries[i+1].Key); ok && next == id {
				garbage = append(garbage, e.Key)
				continue
			}
		}
		if !now.Before(e.Modified.Add(q.opts.Visibility + q.opts.Grace)) {
			expired = append(expired, expiredClaim{id: id, attempt: attempt, key: e.Key})
		}
	}
	if len(expired) == 0 && len(garbage) == 0 {
		return nil
	}
	if err := q.fence.Check(ctx, term); err != nil {
		return err
	}
	sort.SliceStable(expired, func(i, j int) bool { return expired[i].id < expired[j].id })
	budget := q.opts.BatchSize
	for _, c := range expired {
		if budget == 0 {
			break
		}
		budget--
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := q.expire(ctx, c); err != nil {
			return err
		}
	}
	for _, k := range garbage {
		if budget == 0 {
			break
		}
		budget--
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := q.store.Delete(ctx, k, driver.None); err != nil {
			return err
		}
	}
	return nil
}

// expire ends one expired attempt: the message becomes available again
// (or dead), then the attempt's claim key goes.
func (q *Queue) expire(ctx context.Context, c expiredClaim) error {
	obj, rec, err := q.readMessage(ctx, c.id)
	switch {
	case errors.Is(err, driver.ErrNotFound):
		// Acked (or dead-lettered) but its claim key stayed: an orphan.
	case errors.Is(err, sealed.ErrCorrupt):
		return nil // damaged: leave it alone, look again next Tick
	case err != nil:
		return err
	default:
		if rec.Attempts < c.attempt { // this attempt has not been ended yet
			if c.attempt >= q.opts.MaxAttempts {
				err = q.deadLetter(ctx, obj.Version, rec, c.attempt, "visibility expired")
			} else {
				err = q.bump(ctx, obj.Version, rec, c.attempt)
				if err == nil {
					q.redelivered.Add(1)
				}
			}
			if errors.Is(err, ErrClaimLost) {
				return nil // acked or nacked meanwhile: next Tick looks again
			}
			if err != nil {
				return err
			}
		}
	}
	// The attempt is over: its key can go unconditionally, since no later
	// attempt uses it.
	return q.store.Delete(ctx, c.key, driver.None)
}

// Stats returns the Queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Enqueued: q.enqueued.Load(), Claimed: q.claimed.Load(), Acked: q.acked.Load(), Nacked: q.nacked.Load(),
		EmptyPolls: q.empty.Load(), ClaimRaces: q.races.Load(), ClaimsLost: q.lost.Load(),
		Redelivered: q.redelivered.Load(), DeadLettered: q.dead.Load(), Stale: q.stale.Load(),
		Interrupted: q.interrupted.Load(), Errors: q.failures.Load(), Corrupt: q.corrupt.Load(),
	}
}

func (q *Queue) nonce() string { return strconv.FormatUint(q.rand.Uint64(), 36) }
