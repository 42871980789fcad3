// Package faultstore wraps a driver.Store and injects the faults a
// coordination engine meets in production: latency (beyond the lease if
// asked), transport error bursts, 409 conflicts on conditional writes,
// ambiguous writes (applied, yet reported failed), partitions of one
// process, process pauses, corrupt records, oversize reads, calls that are
// accepted and never answered (hangs), and stores that ignore the
// condition of a conditional write (lies).
//
// A hang is what a half-dead connection or a stuck server does: the
// request is sent, a write may or may not be applied, and no answer comes.
// A client that honours its context gets the context's error at its
// deadline; a badly written driver that ignores its context
// (Faults.HangIgnoresContext) blocks until the hang is released
// (ReleaseHangs, Heal, Close) or the transport gives up (Faults.HangFor).
// A lie is a store whose conditional writes are not atomic: a Put with
// IfAbsent or IfMatch, or a Delete with IfMatch, whose condition fails is
// applied unconditionally and reports success. No conforming store does
// that; tests use it to show which guarantees rest on atomic conditions.
//
// Beside the faults, a Store is the one test double of the project's
// tests: Hooks run test code as a call is sent and answered (to hold a
// call at an exact point, fail calls by a rule, count or judge what is
// sent, damage an answer in a chosen way, or report failed a call that was
// applied), and DisableConditionalDelete makes a view behave like a store
// without atomic conditional delete (MinIO). Neither draws any dice.
//
// It exists for the deterministic simulation and for engine tests. Every
// random decision comes from a PCG generator seeded with the Store's seed
// and keyed by (operation, key, n-th call of that operation on that key),
// so a run replays exactly when the calls on each key come in the same
// order, and turning one fault on does not shift the dice of another. The
// decisions for hangs and lies come from a second stream keyed the same
// way, drawn only when one of their rates is set, so the first stream's
// dice do not depend on them while they are off.
//
// Waiting uses the runtime's timers by default, so inside a
// testing/synctest bubble all injected latency is virtual; SetClock puts
// the waits on another clock (coord.Config.Clock, internal/vclock).
//
// Several Stores may wrap one inner store: each is the view of one
// simulated process, with its own faults, partition and pause state, over
// shared storage. Close closes only the view; whoever opened the inner
// store closes it.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// Operation names, as in driver.OpError.Op.
const (
	OpGet    = "get"
	OpPut    = "put"
	OpDelete = "delete"
	OpList   = "list"
)

// Kind is a kind of injected fault.
type Kind int

// Fault kinds.
const (
	// Latency: the call was delayed (request or response side).
	Latency Kind = iota
	// Error: the call failed with a transport error and did not reach the
	// store (an error burst or ErrorRate).
	Error
	// Conflict: a conditional write reported driver.ErrPrecondition
	// without being applied, as S3's 409 ConditionalRequestConflict.
	Conflict
	// Ambiguous: a write was applied but the call reported a transport
	// timeout (the hidden success).
	Ambiguous
	// Partition: the call failed because the process was partitioned; if
	// the partition began while the call was in flight, the call may
	// have been applied.
	Partition
	// Pause: the call was held while the process was paused.
	Pause
	// Corrupt: Get returned garbage instead of the stored bytes, or
	// WriteGarbage stored garbage.
	Corrupt
	// Oversize: Get reported driver.ErrTooLarge.
	Oversize
	// Hang: the call was accepted and not answered (a write may have
	// been applied); it ended with its context, a release or the
	// transport's timeout.
	Hang
	// IgnoredCondition: a conditional Put or Delete whose condition did
	// not hold was applied unconditionally and reported success.
	IgnoredCondition
	numKinds
)

var kindNames = [numKinds]string{"latency", "error", "conflict", "ambiguous", "partition", "pause", "corrupt", "oversize", "hang", "ignored-condition"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Kinds lists every fault kind in display order.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Counts holds the number of injected faults, indexed by Kind.
type Counts [numKinds]uint64

// Total is the number of faults of every kind.
func (c Counts) Total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// Add returns c plus o, kind by kind (for summing process views).
func (c Counts) Add(o Counts) Counts {
	for i := range c {
		c[i] += o[i]
	}
	return c
}

func (c Counts) String() string {
	var b strings.Builder
	for i, v := range c {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", Kind(i), v)
	}
	return b.String()
}

// ErrInjected is reachable with errors.Is from every error the wrapper
// invents (not from errors the inner store returns). Code under test must
// not look for it: to the engine an injected fault is indistinguishable
// from a real one.
var ErrInjected = errors.New("injected fault")

// Fault is the native error of an injected failure, wrapped in a
// driver.OpError like any driver error. It implements net.Error, so it
// looks like a transport error; Timeout reports true for the faults a
// client sees as a timeout (ambiguous writes, partitions, hangs).
type Fault struct {
	Kind Kind
	Op   string
}

func (f *Fault) Error() string {
	switch f.Kind {
	case Ambiguous, Partition, Hang:
		return fmt.Sprintf("%s: i/o timeout (injected %s)", f.Op, f.Kind)
	case Conflict:
		return "ConditionalRequestConflict: a conflicting conditional operation is in progress (injected)"
	case Oversize:
		return "object exceeds read cap (injected)"
	default:
		return fmt.Sprintf("%s: read: connection reset by peer (injected %s)", f.Op, f.Kind)
	}
}

// Timeout reports whether the fault looks like a timeout.
func (f *Fault) Timeout() bool {
	return f.Kind == Ambiguous || f.Kind == Partition || f.Kind == Hang
}

// Temporary reports true: every injected fault is transient.
func (f *Fault) Temporary() bool { return true }

// Is makes errors.Is(err, ErrInjected) hold.
func (f *Fault) Is(target error) bool { return target == ErrInjected }

// Clock is what the Store waits on: clock.Clock and *vclock.Clock satisfy
// it.
type Clock interface {
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

// Sequencer orders the calls of a Store for a simulation that must replay
// exactly (internal/sim): Turn blocks until the caller may go on. A Store
// with a Sequencer calls Turn with a label naming the call (op and key)
// when a call starts and when a call held by Pause or a hung call is
// released, so that calls ready at one instant reach the store, draw
// their faults and return in an order that does not depend on the Go
// scheduler. Its injected waits
// should then use a Clock from the same simulation (SetClock).
type Sequencer interface {
	Turn(label string)
}

// Delay is a random duration, uniform in [Min, Max]. A Max below Min
// means exactly Min. The zero Delay is no delay.
type Delay struct {
	Min, Max time.Duration
}

// pick draws exactly one value from r whatever d is, so that the draws
// after it do not depend on the configuration.
func (d Delay) pick(r *rand.Rand) time.Duration {
	x := r.Uint64()
	if d.Max <= d.Min {
		return max(d.Min, 0)
	}
	return max(d.Min+time.Duration(x%(uint64(d.Max-d.Min)+1)), 0)
}

// Faults is the probabilistic fault configuration of a Store; the zero
// value injects nothing. Rates are probabilities in [0, 1] per call.
type Faults struct {
	// Match limits every fault below to the calls for which it returns
	// true; nil matches every call. key is the key, or the prefix for
	// List. It is called with the Store's lock held and must not call
	// the Store.
	Match func(op, key string) bool
	// RequestDelay delays a call before it reaches the store.
	RequestDelay Delay
	// ResponseDelay delays a call after the store answered (a write is
	// already applied while the caller waits).
	ResponseDelay Delay
	// ErrorRate fails a call with a transport error before it reaches the
	// store.
	ErrorRate float64
	// ConflictRate makes a conditional Put or Delete report
	// driver.ErrPrecondition without reaching the store.
	ConflictRate float64
	// AmbiguousRate makes a successful Put or Delete report a transport
	// timeout: the write is applied but the caller does not know.
	AmbiguousRate float64
	// CorruptRate makes a successful Get return garbage (random bytes,
	// truncated or bit-flipped data) with the real version.
	CorruptRate float64
	// OversizeRate makes a Get that reached the store report
	// driver.ErrTooLarge.
	OversizeRate float64

	// HangRate makes a call hang: it is accepted (after RequestDelay),
	// reaches the store or not (even odds, drawn; a write is then
	// applied or not, in doubt to the caller) and gets no answer. No
	// other fault of the call applies. A hang ends when the call's
	// context ends (unless HangIgnoresContext) with an error wrapping
	// the context's, on ReleaseHangs or Heal with a transport timeout,
	// on Close with driver.ErrClosed, or after HangFor with a transport
	// timeout. A call honouring a context that has already ended does
	// not reach the store. See HangNext for hangs on demand.
	HangRate float64
	// HangIgnoresContext makes hung calls ignore their context, as a
	// badly written driver would: they block until released or HangFor.
	HangIgnoresContext bool
	// HangFor, when its Min or Max is positive, bounds every hang: the
	// call ends after a duration drawn from it, as the transport's own
	// timeout, whether or not it honours its context. The zero Delay
	// leaves hangs unbounded.
	HangFor Delay
	// IgnoreIfAbsentRate makes a Put with IfAbsent on an existing key
	// overwrite it and report success, as if unconditional.
	IgnoreIfAbsentRate float64
	// IgnoreIfMatchRate makes a Put or Delete with IfMatch whose version
	// does not match (stale, or the key is missing) be applied
	// unconditionally and report success: a Put overwrites or creates the
	// key, a Delete removes it.
	IgnoreIfMatchRate float64
}

// extra reports whether f draws from the second stream.
func (f *Faults) extra() bool {
	return f.HangRate > 0 || f.IgnoreIfAbsentRate > 0 || f.IgnoreIfMatchRate > 0
}

// Store is a fault-injecting driver.Store. It is safe for concurrent use;
// every setter takes effect for calls that start afterwards (Pause,
// Partition and Close also affect calls in flight, see each).
type Store struct {
	inner driver.Store
	seed  uint64

	mu          sync.Mutex
	clock       Clock // nil: the time package
	seq         Sequencer
	faults      Faults
	calls       map[string]uint64 // op+"\x00"+key → calls so far
	failNext    int
	hangNext    int
	hangs       chan struct{} // closed by ReleaseHangs; nil until a call hangs
	hanging     int           // calls hung now
	partitioned bool
	partDelay   time.Duration
	resume      chan struct{} // non-nil while paused; closed on Resume
	closed      bool
	closedCh    chan struct{}
	injected    Counts
	hooks       Hooks
	noCondDel   bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
)

// New returns a view of inner that injects no faults until told to. seed
// drives every random decision.
func New(inner driver.Store, seed uint64) *Store {
	return &Store{inner: inner, seed: seed, calls: make(map[string]uint64), closedCh: make(chan struct{})}
}

// SetClock makes injected waits (latency, partition timeouts) use c; nil
// restores the time package. Waits already running keep their clock.
func (s *Store) SetClock(c Clock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = c
}

// SetSequencer makes the Store take a turn from q when a call starts and
// when a held call is released; nil turns it off.
func (s *Store) SetSequencer(q Sequencer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = q
}

// turn takes the sequencer's turn for the call, if there is a sequencer.
func (s *Store) turn(op, key string) {
	s.mu.Lock()
	q := s.seq
	s.mu.Unlock()
	if q != nil {
		q.Turn(op + " " + key)
	}
}

// Call is one call of a Store, as its Hooks see it.
type Call struct {
	// Op is OpGet, OpPut, OpDelete or OpList.
	Op string
	// Key is the key, or the prefix of a List.
	Key string
	// Data is the body of a Put; hooks must not modify it.
	Data []byte
	// Cond is the condition of a Put or a Delete.
	Cond driver.Condition
}

// Class is the request class of the call, for counting it.
func (c Call) Class() driver.Class {
	switch c.Op {
	case OpPut:
		return driver.ClassPut
	case OpDelete:
		return driver.ClassDelete
	case OpList:
		return driver.ClassList
	default:
		return driver.ClassGet
	}
}

// Hooks are test code a Store runs for each call it sends to the inner
// store, that is after every fault that keeps a call from it (a burst, an
// error, a conflict, a partition; a hung call is sent or not as drawn).
// Each may be nil. They run without the Store's lock, so they may call
// the Store or block; a hook that blocks holds up a Sequencer. Hooks
// inject nothing that Injected counts.
type Hooks struct {
	// Before runs as the call is about to be sent. A non-nil error fails
	// the call without sending it, wrapped in a driver.OpError unless it
	// is one.
	Before func(ctx context.Context, c Call) error
	// After runs once the inner store has answered the call and returns
	// the error to report instead of err: a non-nil error over a nil err
	// reports failed a call that was applied. It is wrapped like
	// Before's. A hung call gets no answer: After does not run for it.
	After func(c Call, err error) error
	// Got may change the object a successful Get returns (before the
	// faults of the answer, such as CorruptRate, apply).
	Got func(key string, obj driver.Object) driver.Object
}

// SetHooks replaces the hooks; the zero Hooks removes them.
func (s *Store) SetHooks(h Hooks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = h
}

// DisableConditionalDelete makes the view behave like a store without
// atomic conditional delete (MinIO): Capabilities().ConditionalDelete is
// false, and a Delete with a condition returns an error for which
// errors.Is(err, driver.ErrUnsupported) holds, sending nothing, drawing
// no dice and counting no fault.
func (s *Store) DisableConditionalDelete() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noCondDel = true
}

// send runs c's hooks around do, which sends c to the inner store. sent
// is false when Before failed the call.
func (s *Store) send(ctx context.Context, c Call, do func() error) (sent bool, err error) {
	s.mu.Lock()
	h := s.hooks
	s.mu.Unlock()
	if h.Before != nil {
		if err := h.Before(ctx, c); err != nil {
			return false, wrapHookError(c, err)
		}
	}
	err = do()
	if h.After != nil {
		err = wrapHookError(c, h.After(c, err))
	}
	return true, err
}

// wrapHookError wraps a hook's error in a driver.OpError unless it is one.
func wrapHookError(c Call, err error) error {
	var oe *driver.OpError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	return driver.Wrap(c.Op, c.Key, nil, err)
}

// Inner returns the wrapped store.
func (s *Store) Inner() driver.Store { return s.inner }

// Seed returns the seed the Store was created with.
func (s *Store) Seed() uint64 { return s.seed }

// Set replaces the fault configuration.
func (s *Store) Set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Update changes the fault configuration in place, atomically.
func (s *Store) Update(change func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.faults)
}

// Faults returns the current fault configuration.
func (s *Store) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// FailNext makes the next n calls (in arrival order, any operation, Match
// ignored) fail with a transport error without reaching the store: an
// error burst. n <= 0 cancels a pending burst.
func (s *Store) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}

// Partition cuts this view off the store: from now on every call waits
// for delay (or until its context ends) and then fails with a transport
// timeout without reaching the store. A call already in flight loses its
// response: it may have been applied, yet reports the timeout. Calling
// Partition again changes the delay.
func (s *Store) Partition(delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partitioned = true
	s.partDelay = max(delay, 0)
}

// Heal ends a partition and releases every hung call (see ReleaseHangs).
func (s *Store) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partitioned = false
	s.releaseHangsLocked()
}

// HangNext makes the next n calls (in arrival order, any operation, Match
// ignored, after a pending FailNext burst) hang as with HangRate,
// following HangIgnoresContext and HangFor. n <= 0 cancels pending hangs.
func (s *Store) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangNext = max(n, 0)
}

// ReleaseHangs ends every call hung now: each reports a transport timeout
// (a write it carried stays applied or not). Calls that hang afterwards
// hang until the next release.
func (s *Store) ReleaseHangs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseHangsLocked()
}

func (s *Store) releaseHangsLocked() {
	if s.hangs != nil {
		close(s.hangs)
		s.hangs = nil
	}
}

// Hanging reports the number of calls hung now.
func (s *Store) Hanging() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hanging
}

// Partitioned reports whether the view is partitioned.
func (s *Store) Partitioned() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partitioned
}

// Pause holds every call, new or in flight, as a stopped process would:
// calls not yet sent wait before reaching the store, calls in flight wait
// before returning their result. A held call does not notice its context
// until Resume (then it reports the context's error if it has ended and
// the call had not reached the store). Close releases held calls.
func (s *Store) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resume == nil {
		s.resume = make(chan struct{})
	}
}

// Resume releases the calls held by Pause.
func (s *Store) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
}

// Paused reports whether the view is paused.
func (s *Store) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resume != nil
}

// Injected returns the number of faults injected so far, by kind.
func (s *Store) Injected() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected
}

// WriteGarbage stores size bytes of seeded garbage at key in the inner
// store unconditionally, bypassing every fault, and returns the new
// version. A size above the inner store's MaxRead makes later reads fail
// with driver.ErrTooLarge, through the real driver path. It counts as a
// Corrupt fault.
func (s *Store) WriteGarbage(ctx context.Context, key string, size int) (string, error) {
	s.mu.Lock()
	r := s.rngLocked("garbage", key)
	s.injected[Corrupt]++
	s.mu.Unlock()
	b := make([]byte, max(size, 0))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return s.inner.Put(ctx, key, b, driver.None)
}

// Requests reports the inner store's request counts (zero if it does not
// count). Calls failed by the wrapper before reaching the store are not
// requests; see Injected. Views sharing one inner store report the same
// shared counts.
func (s *Store) Requests() driver.Counts {
	c, _ := driver.RequestsOf(s.inner)
	return c
}

// Capabilities reports the inner store's capabilities, without
// conditional delete after DisableConditionalDelete.
func (s *Store) Capabilities() driver.Capabilities {
	c := s.inner.Capabilities()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noCondDel {
		c.ConditionalDelete = false
	}
	return c
}

// Close closes this view: later calls fail with driver.ErrClosed, and
// calls held by Pause and hung calls are released (hung calls report
// driver.ErrClosed). The inner store stays open.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closedCh)
	}
	return nil
}

// plan is the set of decisions for one call, drawn before it starts.
type plan struct {
	reqDelay, respDelay time.Duration
	fail, conflict      bool
	ambiguous           bool
	corrupt, oversize   bool
	rng                 *rand.Rand // for garbage

	hang           bool
	hangReaches    bool // the hung call reaches the store
	hangBounded    bool // it ends after hangFor
	hangFor        time.Duration
	hangIgnoresCtx bool
	// lieIfAbsent and lieIfMatch ignore a failing condition.
	lieIfAbsent, lieIfMatch bool
}

// rngLocked returns the generator for the next call of op on key.
func (s *Store) rngLocked(op, key string) *rand.Rand {
	id, n := s.callLocked(op, key)
	return s.stream("", id, n)
}

// callLocked counts a call of op on key and returns the call's identity:
// id and its position n among the calls with that id.
func (s *Store) callLocked(op, key string) (id string, n uint64) {
	id = op + "\x00" + key
	n = s.calls[id]
	s.calls[id] = n + 1
	return id, n
}

// stream returns the generator of the named stream for call n of id.
// Streams of different names are independent; the unnamed one is the
// first (every fault but hangs and lies draws from it).
func (s *Store) stream(name, id string, n uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(s.seed^h.Sum64(), n))
}

// secondStream names the stream of hang and lie decisions.
const secondStream = "hang+lie\x00"

func roll(r *rand.Rand, p float64) bool {
	x := r.Float64() // drawn even when p is 0, to keep later draws stable
	return x < p
}

// begin validates the call, waits out a pause, and draws the plan. It
// returns a non-nil error when the call must fail before reaching the
// store.
func (s *Store) begin(ctx context.Context, op, key string, conditional bool) (plan, error) {
	validate := driver.ValidateKey
	if op == OpList {
		validate = driver.ValidatePrefix
	}
	if err := validate(key); err != nil {
		return plan{}, driver.Wrap(op, key, nil, err)
	}
	s.turn(op, key)
	if err := s.checkClosed(op, key); err != nil {
		return plan{}, err
	}
	if s.holdIfPaused() {
		s.turn(op, key)
		if err := s.checkClosed(op, key); err != nil {
			return plan{}, err
		}
		if err := ctx.Err(); err != nil {
			return plan{}, driver.Wrap(op, key, nil, err)
		}
	}

	s.mu.Lock()
	f := s.faults
	id, n := s.callLocked(op, key)
	r := s.stream("", id, n)
	var p plan
	p.rng = r
	p.reqDelay = f.RequestDelay.pick(r)
	p.respDelay = f.ResponseDelay.pick(r)
	p.fail = roll(r, f.ErrorRate)
	p.conflict = roll(r, f.ConflictRate) && conditional
	p.ambiguous = roll(r, f.AmbiguousRate) && (op == OpPut || op == OpDelete)
	p.corrupt = roll(r, f.CorruptRate) && op == OpGet
	p.oversize = roll(r, f.OversizeRate) && op == OpGet
	matched := f.Match == nil || f.Match(op, key)
	if !matched {
		p = plan{rng: r}
	}
	partitioned, partDelay := s.partitioned, s.partDelay
	burst, forcedHang := false, false
	switch {
	case partitioned:
	case s.failNext > 0:
		s.failNext--
		burst = true
	case s.hangNext > 0:
		s.hangNext--
		forcedHang = true
	}
	if (matched && f.extra()) || forcedHang {
		// Always the same draws in the same order, as for the first
		// stream.
		x := s.stream(secondStream, id, n)
		hang := roll(x, f.HangRate)
		p.hangReaches = x.Uint64()&1 == 1
		p.hangFor = f.HangFor.pick(x)
		lieIfAbsent := roll(x, f.IgnoreIfAbsentRate)
		lieIfMatch := roll(x, f.IgnoreIfMatchRate)
		if matched {
			p.hang = hang
			p.lieIfAbsent, p.lieIfMatch = lieIfAbsent, lieIfMatch
		}
		p.hang = p.hang || forcedHang
		p.hangBounded = f.HangFor.Min > 0 || f.HangFor.Max > 0
		p.hangIgnoresCtx = f.HangIgnoresContext
	}
	s.mu.Unlock()

	if partitioned {
		return plan{}, s.partitionFail(ctx, op, key, partDelay)
	}
	if burst {
		s.count(Error)
		return plan{}, driver.Wrap(op, key, nil, &Fault{Kind: Error, Op: op})
	}
	if p.reqDelay > 0 {
		s.count(Latency)
		if err := s.wait(ctx, p.reqDelay); err != nil {
			return plan{}, driver.Wrap(op, key, nil, err)
		}
		s.mu.Lock()
		partitioned, partDelay = s.partitioned, s.partDelay
		s.mu.Unlock()
		if partitioned { // cut off while the request was on its way
			return plan{}, s.partitionFail(ctx, op, key, partDelay)
		}
	}
	if p.hang {
		return p, nil // no answer, so no other fault
	}
	if p.fail {
		s.count(Error)
		return plan{}, driver.Wrap(op, key, nil, &Fault{Kind: Error, Op: op})
	}
	if p.conflict {
		s.count(Conflict)
		return plan{}, driver.Wrap(op, key, driver.ErrPrecondition, &Fault{Kind: Conflict, Op: op})
	}
	return p, nil
}

// partitionFail waits out a partitioned call's timeout and fails it.
func (s *Store) partitionFail(ctx context.Context, op, key string, delay time.Duration) error {
	if err := s.wait(ctx, delay); err != nil {
		return driver.Wrap(op, key, nil, err)
	}
	s.count(Partition)
	return driver.Wrap(op, key, nil, &Fault{Kind: Partition, Op: op})
}

// end applies the response-side faults to a call that reached the store:
// response delay, pause, partition and ambiguity. err is the inner
// store's error; the result is the error to report.
func (s *Store) end(ctx context.Context, op, key string, p plan, err error) error {
	if p.respDelay > 0 {
		if p.reqDelay == 0 {
			s.count(Latency)
		}
		if werr := s.wait(ctx, p.respDelay); werr != nil {
			return driver.Wrap(op, key, nil, werr)
		}
	}
	if s.holdIfPaused() {
		s.turn(op, key)
	}
	if s.Partitioned() {
		s.count(Partition)
		return driver.Wrap(op, key, nil, &Fault{Kind: Partition, Op: op})
	}
	if err == nil && p.ambiguous {
		s.count(Ambiguous)
		return driver.Wrap(op, key, nil, &Fault{Kind: Ambiguous, Op: op})
	}
	return err
}

// hang runs a call that gets no answer: send reaches the store if the plan
// says so (its answer is lost), then the call waits until its context ends
// (unless it ignores it), a release, Close or the plan's bound.
func (s *Store) hang(ctx context.Context, op, key string, p plan, send func(context.Context)) error {
	s.mu.Lock()
	s.injected[Hang]++
	s.hanging++
	if s.hangs == nil {
		s.hangs = make(chan struct{})
	}
	released := s.hangs
	c := s.clock
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.hanging--
		s.mu.Unlock()
	}()

	if p.hangReaches && (p.hangIgnoresCtx || ctx.Err() == nil) {
		// Once sent, whether it is applied is drawn, not left to the
		// context; a driver honouring its context sends nothing when it
		// has already ended.
		send(context.WithoutCancel(ctx))
	}
	var bound <-chan time.Time
	if p.hangBounded {
		if c != nil {
			bound = c.After(p.hangFor)
		} else {
			t := time.NewTimer(p.hangFor)
			defer t.Stop()
			bound = t.C
		}
	}
	var done <-chan struct{}
	if !p.hangIgnoresCtx {
		done = ctx.Done()
	}
	select {
	case <-released:
	case <-s.closedCh:
	case <-bound:
	case <-done:
	}

	// Decide by precedence, not by which case select chose, so that
	// two ends at once give one answer.
	var err error
	turn := true // a release wakes many calls: they take turns
	switch {
	case isDone(s.closedCh):
		err = driver.Wrap(op, key, driver.ErrClosed, nil)
	case isDone(released):
		err = driver.Wrap(op, key, nil, &Fault{Kind: Hang, Op: op})
	case done != nil && ctx.Err() != nil:
		err, turn = driver.Wrap(op, key, nil, ctx.Err()), false
	default: // the bound
		err, turn = driver.Wrap(op, key, nil, &Fault{Kind: Hang, Op: op}), false
	}
	if s.holdIfPaused() || turn {
		s.turn(op, key)
	}
	return err
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (s *Store) count(k Kind) {
	s.mu.Lock()
	s.injected[k]++
	s.mu.Unlock()
}

func (s *Store) checkClosed(op, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return driver.Wrap(op, key, driver.ErrClosed, nil)
	}
	return nil
}

// holdIfPaused blocks while the view is paused (until Resume or Close)
// and reports whether it held the call.
func (s *Store) holdIfPaused() bool {
	s.mu.Lock()
	ch := s.resume
	if ch != nil {
		s.injected[Pause]++
	}
	s.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
	case <-s.closedCh:
	}
	return true
}

// wait sleeps for d or until ctx ends (returning its error).
func (s *Store) wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	s.mu.Lock()
	c := s.clock
	s.mu.Unlock()
	var fired <-chan time.Time
	if c != nil {
		fired = c.After(d)
	} else {
		t := time.NewTimer(d)
		defer t.Stop()
		fired = t.C
	}
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	p, err := s.begin(ctx, OpGet, key, false)
	if err != nil {
		return driver.Object{}, err
	}
	c := Call{Op: OpGet, Key: key}
	if p.hang {
		return driver.Object{}, s.hang(ctx, OpGet, key, p, func(ctx context.Context) {
			_, _ = s.send(ctx, c, func() error { _, err := s.inner.Get(ctx, key); return err })
		})
	}
	var obj driver.Object
	sent, err := s.send(ctx, c, func() (err error) {
		obj, err = s.inner.Get(ctx, key)
		return err
	})
	if !sent {
		return driver.Object{}, err
	}
	if err = s.end(ctx, OpGet, key, p, err); err != nil {
		return driver.Object{}, err
	}
	s.mu.Lock()
	got := s.hooks.Got
	s.mu.Unlock()
	if got != nil {
		obj = got(key, obj)
	}
	if p.oversize {
		s.count(Oversize)
		return driver.Object{}, driver.Wrap(OpGet, key, driver.ErrTooLarge, &Fault{Kind: Oversize, Op: OpGet})
	}
	if p.corrupt {
		s.count(Corrupt)
		obj.Data = garble(p.rng, obj.Data)
	}
	return obj, nil
}

// garble returns corrupt data derived from b: random bytes, a truncation
// or a bit flip, chosen by r. The result always differs from b.
func garble(r *rand.Rand, b []byte) []byte {
	if len(b) == 0 {
		out := make([]byte, 1+r.IntN(16))
		for i := range out {
			out[i] = byte(r.Uint32())
		}
		return out
	}
	out := append([]byte(nil), b...)
	switch r.IntN(3) {
	case 0: // random bytes of the same length
		for i := range out {
			out[i] = byte(r.Uint32())
		}
		out[0] = ^b[0] // guarantee a difference
	case 1: // truncated
		out = out[:r.IntN(len(out))]
	default: // one flipped bit
		i := r.IntN(len(out))
		out[i] ^= 1 << r.IntN(8)
	}
	return out
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	p, err := s.begin(ctx, OpPut, key, !cond.IsNone())
	if err != nil {
		return "", err
	}
	c := Call{Op: OpPut, Key: key, Data: data, Cond: cond}
	if p.hang {
		return "", s.hang(ctx, OpPut, key, p, func(ctx context.Context) {
			_, _ = s.send(ctx, c, func() error { _, err := s.put(ctx, key, data, cond, p); return err })
		})
	}
	var v string
	sent, err := s.send(ctx, c, func() (err error) {
		v, err = s.put(ctx, key, data, cond, p)
		return err
	})
	if !sent {
		return "", err
	}
	if err = s.end(ctx, OpPut, key, p, err); err != nil {
		return "", err
	}
	return v, nil
}

// put sends a Put to the inner store and, if the plan lies about its
// condition and the condition failed, sends it again unconditionally.
func (s *Store) put(ctx context.Context, key string, data []byte, cond driver.Condition, p plan) (string, error) {
	v, err := s.inner.Put(ctx, key, data, cond)
	_, isMatch := cond.Match()
	lie := (cond.IsIfAbsent() && p.lieIfAbsent) || (isMatch && p.lieIfMatch)
	if lie && errors.Is(err, driver.ErrPrecondition) {
		s.count(IgnoredCondition)
		return s.inner.Put(ctx, key, data, driver.None)
	}
	return v, err
}

// Delete implements driver.Store.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	s.mu.Lock()
	noCondDel := s.noCondDel
	s.mu.Unlock()
	if noCondDel && !cond.IsNone() {
		if err := driver.ValidateKey(key); err != nil {
			return err
		}
		return driver.Wrap(OpDelete, key, driver.ErrUnsupported, nil)
	}
	_, isMatch := cond.Match()
	// A store without atomic conditional delete answers ErrUnsupported,
	// never a conflict.
	conditional := isMatch && s.inner.Capabilities().ConditionalDelete
	p, err := s.begin(ctx, OpDelete, key, conditional)
	if err != nil {
		return err
	}
	c := Call{Op: OpDelete, Key: key, Cond: cond}
	if p.hang {
		return s.hang(ctx, OpDelete, key, p, func(ctx context.Context) {
			_, _ = s.send(ctx, c, func() error { return s.delete(ctx, key, cond, p) })
		})
	}
	sent, err := s.send(ctx, c, func() error { return s.delete(ctx, key, cond, p) })
	if !sent {
		return err
	}
	return s.end(ctx, OpDelete, key, p, err)
}

// delete sends a Delete to the inner store and, if the plan lies about an
// IfMatch condition and it failed, sends it again unconditionally. A store
// without conditional delete answers ErrUnsupported: no lie then.
func (s *Store) delete(ctx context.Context, key string, cond driver.Condition, p plan) error {
	err := s.inner.Delete(ctx, key, cond)
	if _, isMatch := cond.Match(); isMatch && p.lieIfMatch && errors.Is(err, driver.ErrPrecondition) {
		s.count(IgnoredCondition)
		return s.inner.Delete(ctx, key, driver.None)
	}
	return err
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	p, err := s.begin(ctx, OpList, prefix, false)
	if err != nil {
		return driver.ListResult{}, err
	}
	c := Call{Op: OpList, Key: prefix}
	if p.hang {
		return driver.ListResult{}, s.hang(ctx, OpList, prefix, p, func(ctx context.Context) {
			_, _ = s.send(ctx, c, func() error { _, err := s.inner.List(ctx, prefix); return err })
		})
	}
	var res driver.ListResult
	sent, err := s.send(ctx, c, func() (err error) {
		res, err = s.inner.List(ctx, prefix)
		return err
	})
	if !sent {
		return driver.ListResult{}, err
	}
	if err = s.end(ctx, OpList, prefix, p, err); err != nil {
		return driver.ListResult{}, err
	}
	return res, nil
}
