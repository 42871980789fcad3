package coord

// One lease, as one process sees it: the state machine every election
// runs (the namespace election, global.go, and a plugin's, perplugin.go,
// over the cycle they share, election.go). The safety argument is
// docs/safety.md.
//
// States of a leaseKeeper (held, obs, pendingSince):
//
//	following   held=false: each poll updates obs; judgeFree (and, for a
//	            delegated plugin lease, judgeDelegatedFree) says from when
//	            a takeover may be written
//	acquiring   acquire writes the takeover, IfAbsent on a missing record,
//	            IfMatch on the version observed: won → leading; lost →
//	            following; no answer → following with pendingSince set
//	leading     held=true, with a term: renew writes IfMatch our version
//	            every heartbeat; the term ends at the renew deadline of the
//	            last confirmed write (the watchdog cancels it whatever the
//	            loop does), on a lost write, or on release
//	in doubt    a write whose answer was lost: a later read showing our own
//	            record adopts it (adoptIfOurs, claimInDoubt) within its
//	            renew deadline; otherwise it is only our record, free to
//	            take again by IfMatch
//
// The judgements (judgeFree, judgeNamespaceFree, judgeDelegatedFree) are
// pure functions of one observation and the config.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
)

// observation is what this process last read of one lease key.
type observation struct {
	known   bool // at least one successful read
	exists  bool
	version string
	// seen is this process's Clock at the END of the read that first
	// returned this version (or this absence): the version was written
	// before seen, so a holder's renewal started before seen too.
	seen time.Time
	// modified is the store's modification time of the version (server
	// clock; zero when the driver does not tell).
	modified time.Time
	rec      *leaseRecord // nil when missing or corrupt
	corrupt  error
}

// epochBook remembers the largest epoch this process has seen per key, so
// that a takeover of a corrupt record still moves epochs forward.
type epochBook struct {
	mu  sync.Mutex
	max map[string]uint64
}

func (b *epochBook) see(key string, e uint64) {
	b.mu.Lock()
	if e > b.max[key] {
		b.max[key] = e
	}
	b.mu.Unlock()
}

func (b *epochBook) get(key string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max[key]
}

// leaseKeeper is one lease key as seen by one process. It is used by one
// goroutine at a time (the coordinator's loop, or one claim goroutine).
type leaseKeeper struct {
	c           *Coordinator
	key         string
	ns, plugin  string
	incarnation string

	obs observation

	// Holder state. version/rec are our last confirmed write (kept after
	// stepping down, to release or re-take our own record).
	held       bool
	version    string
	rec        leaseRecord
	renewStart time.Time
	// pendingSince is the start of the earliest write since the last
	// confirmed one whose outcome is unknown (zero: none).
	pendingSince time.Time
	seq          uint64
	term         *term
	// acquiredCold: our last acquisition found no record (a cold start:
	// plugin claims may then try IfAbsent without reading first).
	acquiredCold bool

	// What this keeper knows of the key's history, to catch a store that
	// breaks conditional writes: the largest epoch read or confirmed and
	// its holder, and versions it saw replaced.
	maxEpoch  uint64
	maxLeader string
	replaced  []string
}

// noteHistory checks a record read or confirmed against what the keeper
// knew of the key: an honest store never shows an epoch going down, nor
// two holders at one epoch (ForceRelease keeps the holder's id).
func (k *leaseKeeper) noteHistory(r *leaseRecord) {
	switch {
	case k.maxEpoch == 0:
	case r.Epoch < k.maxEpoch:
		k.broke(RuleEpochsIncrease, fmt.Sprintf("epoch %d after %d", r.Epoch, k.maxEpoch))
	case r.Epoch == k.maxEpoch && r.Leader != k.maxLeader:
		k.broke(RuleOneHolderPerEpoch, fmt.Sprintf("epoch %d held by %s and by %s", r.Epoch, k.maxLeader, r.Leader))
	}
	if r.Epoch >= k.maxEpoch {
		k.maxEpoch, k.maxLeader = r.Epoch, r.Leader
	}
}

// noteReplaced remembers a version the keeper saw replaced (the last few).
func (k *leaseKeeper) noteReplaced(version string) {
	if version == "" || slices.Contains(k.replaced, version) {
		return
	}
	if len(k.replaced) == 4 {
		k.replaced = k.replaced[1:]
	}
	k.replaced = append(k.replaced, version)
}

// broke reports a history no honest store gives (see Hub.storeBroke).
func (k *leaseKeeper) broke(rule Rule, detail string) {
	k.c.unsafeSeen.Add(1)
	k.c.hub.storeBroke(k.c.prefix, fmt.Errorf("%w: %s", unsafeStore(rule, k.key), detail))
}

func (c *Coordinator) newKeeper(key, plugin string) *leaseKeeper {
	return &leaseKeeper{c: c, key: key, ns: c.ns, plugin: plugin, incarnation: c.randomToken()}
}

// poll reads the record and updates the observation.
func (k *leaseKeeper) poll(ctx context.Context) error {
	c := k.c
	next, err := k.read(ctx)
	if err != nil {
		return err
	}
	end := c.clock.Now()
	if next.corrupt != nil && (!k.obs.known || k.obs.version != next.version) {
		c.corrupt.Add(1)
		c.log.Warn(c.prefix+" corrupt lease record; treating it as held until unchanged for a lease", "key", k.key, "err", next.corrupt)
	}
	if next.rec != nil {
		c.hub.epochs.see(k.key, next.rec.Epoch)
		k.seq = max(k.seq, next.rec.Seq)
		k.noteHistory(next.rec)
	}
	if k.obs.known && k.obs.exists && k.obs.version != next.version {
		k.noteReplaced(k.obs.version)
	}
	if k.obs.known && k.obs.exists == next.exists && k.obs.version == next.version {
		// Unchanged: keep the time it was first seen. A version first read
		// as garbage (a bad read) is decoded now if this read is good.
		if k.obs.rec == nil && next.rec != nil {
			k.obs.rec, k.obs.corrupt = next.rec, nil
		}
		return nil
	}
	next.seen = end
	k.obs = next
	return nil
}

// read reads the record into an observation (seen not set).
func (k *leaseKeeper) read(ctx context.Context) (observation, error) {
	c := k.c
	obj, err := c.store.Get(ctx, k.key) // bounded by requestTimeout: c.store's own deadline
	switch {
	case errors.Is(err, driver.ErrNotFound):
		return observation{known: true}, nil
	case errors.Is(err, driver.ErrTooLarge):
		return k.readTooLarge(ctx, err)
	case err != nil:
		return observation{}, err
	}
	next := observation{known: true, exists: true, version: obj.Version, modified: obj.Modified}
	next.rec, next.corrupt = decodeLease(obj.Data, k.ns, k.plugin)
	return next, nil
}

// readTooLarge observes a record too large to read (unreadable by
// design): a LIST tells its version, so that a takeover can still be
// conditional.
func (k *leaseKeeper) readTooLarge(ctx context.Context, getErr error) (observation, error) {
	c := k.c
	next := observation{known: true, exists: true, corrupt: fmt.Errorf("%w: %v", ErrCorruptRecord, getErr)}
	res, err := c.store.List(ctx, k.key) // bounded by requestTimeout: c.store's own deadline
	if err != nil {
		return observation{}, err
	}
	for _, e := range res.Entries {
		if e.Key == k.key {
			next.version = e.Version
		}
	}
	if next.version == "" {
		return observation{known: true}, nil // gone meanwhile
	}
	return next, nil
}

// observeOwn records our last confirmed write as the observation.
func (k *leaseKeeper) observeOwn(at time.Time) {
	r := k.rec
	k.obs = observation{known: true, exists: true, version: k.version, seen: at, rec: &r}
}

// ours reports whether the observed record was written by this keeper.
func (k *leaseKeeper) ours() bool {
	return k.obs.rec != nil && k.obs.rec.Incarnation == k.incarnation && k.obs.rec.Leader == k.c.worker
}

// oursInDoubt reports whether the observed record is one of our writes
// whose outcome we did not learn: ours, and newer than our last confirmed
// write (an older record of ours is from a past leadership and must not be
// adopted as a current one).
func (k *leaseKeeper) oursInDoubt() bool {
	return k.ours() && !k.pendingSince.IsZero() && k.obs.rec.Seq > k.rec.Seq
}

// claimInDoubt reports whether the observed plugin lease is a claim of
// ours for the namespace term t whose outcome we did not learn: our
// incarnation, a sequence above our last confirmed write, delegated to
// t's epoch. The namespace term, not the claim, bounds the leadership it
// gives, so it is adopted however old it is while t lasts.
func (k *leaseKeeper) claimInDoubt(t *term) bool {
	r := k.obs.rec
	return k.oursInDoubt() && r.Delegated && !r.Released && r.NamespaceEpoch == t.epoch && r.Epoch > k.rec.Epoch
}

// freeAt judges the observation when the record is not delegated (the
// callers judge delegated plugin leases): see judgeFree.
func (k *leaseKeeper) freeAt() (at time.Time, jitter bool) {
	return judgeFree(k.obs, k.ours(), k.c.hub.epochs.get(k.key) > 0, k.c.cfg.LeaseTimeout)
}

// judgeFree is the judgement of a lease from one observation o: the time
// from which this process may write a takeover (zero: now), and whether a
// takeover should be jittered (several followers may see the same thing
// at once). ours: o is a record of this keeper's while it does not lead;
// seenBefore: this process has seen the key hold a record. Pure.
func judgeFree(o observation, ours, seenBefore bool, leaseTimeout time.Duration) (at time.Time, jitter bool) {
	switch {
	case !o.exists && seenBefore:
		// Records are never deleted; one deleted by hand while its holder
		// may still be acting is waited out like a silent holder.
		return o.seen.Add(leaseTimeout), true
	case !o.exists:
		return time.Time{}, false // a cold start: IfAbsent settles concurrent starts
	case o.rec == nil: // corrupt: held until unchanged for a whole lease
		return o.seen.Add(leaseTimeout), true
	case ours:
		// Our own record and we do not lead: nobody else can lead it
		// without changing it, and IfMatch proves nobody did.
		return time.Time{}, false
	case o.rec.gracefullyReleased():
		return time.Time{}, true
	default: // held, or released by an operator while the holder may still act
		return o.seen.Add(max(o.rec.lease(), leaseTimeout)), true
	}
}

// judgeNamespaceFree judges the namespace leadership with epoch e from an
// observation o of the namespace record: it is over once the record shows
// a later epoch (written by a successor, which only writes after the
// holder stepped down), a graceful release of epoch e, or stays unchanged
// for a lease (judged by its version, also when its content is
// unreadable). Pure.
func judgeNamespaceFree(o observation, e uint64, leaseTimeout time.Duration) (time.Time, bool) {
	switch {
	case !o.exists:
		// Never deleted by the engine; one deleted by hand is waited out.
		return o.seen.Add(leaseTimeout), true
	case o.rec != nil && o.rec.Epoch > e:
		return time.Time{}, true
	case o.rec != nil && o.rec.Epoch == e && o.rec.gracefullyReleased():
		return time.Time{}, true
	case o.rec != nil:
		return o.seen.Add(max(o.rec.lease(), leaseTimeout)), true
	default: // unreadable: unchanged for a lease
		return o.seen.Add(leaseTimeout), true
	}
}

// judgeDelegatedFree judges a plugin lease delegated to the namespace
// leadership with epoch e, from an observation ns of the namespace
// record: the delegating leader leads the plugin exactly as long as it
// leads the namespace in epoch e, and not once its record at epoch e no
// longer lists the plugin (it stopped leading it before writing that
// record, and leads it again only after a claim, which writes the plugin
// lease, so a takeover's IfMatch of the delegated version fails then).
// Pure.
func judgeDelegatedFree(ns observation, e uint64, plugin string, leaseTimeout time.Duration) (time.Time, bool) {
	if r := ns.rec; r != nil && r.Epoch == e && !r.lists(plugin) {
		return time.Time{}, true
	}
	return judgeNamespaceFree(ns, e, leaseTimeout)
}

// nextEpoch is the epoch of a takeover of the observed record: above the
// record's and above any this process has seen for the key. A corrupt
// record hides its epoch, so the takeover also jumps to at least the
// store's clock in milliseconds (the ServerTime of a LIST of the key: one
// clock for every process, unlike their own, which may be hours apart).
// That exceeds the small epochs of normal operation, and two jumps on one
// key are at least a lease apart, so later jumps are larger still.
func (k *leaseKeeper) nextEpoch(ctx context.Context) (uint64, error) {
	e := k.c.hub.epochs.get(k.key)
	if k.obs.rec != nil {
		e = max(e, k.obs.rec.Epoch)
	}
	e++
	if k.obs.exists && k.obs.rec == nil {
		res, err := k.c.store.List(ctx, k.key) // bounded by c.store's own deadline
		if err != nil {
			return 0, err
		}
		e = max(e, uint64(max(0, res.ServerTime.UnixMilli())))
	}
	return e, nil
}

// writeOutcome of a conditional write.
type writeOutcome int

const (
	wrote     writeOutcome = iota // confirmed
	lost                          // ErrPrecondition: someone else wrote
	uncertain                     // error: maybe applied (ambiguous), maybe not
)

// write puts rec under cond. On success it becomes our confirmed record.
func (k *leaseKeeper) write(ctx context.Context, rec leaseRecord, cond driver.Condition, timeout time.Duration) (writeOutcome, time.Time, error) {
	c := k.c
	k.seq++
	rec.Seq = k.seq
	rec.Incarnation = k.incarnation
	rec.Value = c.hub.proclaimed() // with every write (Hub.Proclaim)
	rec.Workers = c.member.recordCount(k.plugin)
	rec.Renewed = c.clock.Now().UTC().Truncate(time.Millisecond)
	start := c.clock.Now()
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout < c.requestTimeout() { // c.store's own deadline, whose timer is labelled by the key
		rctx, cancel = c.withTimeout(ctx, timeout)
	}
	v, err := c.store.Put(rctx, k.key, encodeLease(&rec), cond)
	cancel()
	switch {
	case err == nil:
		if was, ok := cond.Match(); ok && slices.Contains(k.replaced, was) {
			k.broke(RuleReplacedVersionStays, "a write conditioned on version "+was+" succeeded after it was replaced")
		}
		k.version, k.rec, k.pendingSince = v, rec, time.Time{}
		c.hub.epochs.see(k.key, rec.Epoch)
		k.noteHistory(&rec)
		return wrote, start, nil
	case errors.Is(err, driver.ErrPrecondition):
		return lost, start, err
	default:
		if !errors.Is(err, errCircuitOpen) && !errors.Is(err, driver.ErrInvalidKey) && (k.pendingSince.IsZero() || start.Before(k.pendingSince)) {
			k.pendingSince = start
		}
		return uncertain, start, err
	}
}

// acquire writes a takeover of the observed record. On success it returns
// the time the write started (the start of the new leadership).
func (k *leaseKeeper) acquire(ctx context.Context, rec leaseRecord) (bool, time.Time, error) {
	c := k.c
	c.elections.Add(1)
	rec.Format, rec.Namespace, rec.Plugin, rec.Leader = recordFormat, k.ns, k.plugin, c.worker
	epoch, err := k.nextEpoch(ctx)
	if err != nil {
		return false, c.clock.Now(), err
	}
	rec.Epoch = epoch
	rec.LeaseMillis = c.cfg.LeaseTimeout.Milliseconds()
	if k.obs.rec != nil {
		k.seq = max(k.seq, k.obs.rec.Seq)
	}
	k.acquiredCold = !k.obs.exists
	cond := driver.IfAbsent()
	if k.obs.exists {
		cond = driver.IfMatch(k.obs.version)
	}
	out, start, err := k.write(ctx, rec, cond, c.requestTimeout())
	if out != wrote {
		return false, start, err
	}
	k.held, k.renewStart = true, start
	k.observeOwn(start)
	return true, start, nil
}

// adoptIfOurs handles a read showing our own acquisition while we do not
// hold the lease and the write was in doubt: it was applied, no later than
// pendingSince. It returns the start of that leadership if it is still
// inside its renew deadline. A renewal in doubt found after stepping down
// is not adopted (that would start a second term with the same epoch):
// the record is then ours and free to take again with a new epoch.
func (k *leaseKeeper) adoptIfOurs(now time.Time) (time.Time, bool) {
	if !k.oursInDoubt() || k.obs.rec.Epoch <= k.rec.Epoch || now.Sub(k.pendingSince) >= k.c.cfg.RenewDeadline {
		return time.Time{}, false
	}
	start := k.pendingSince
	k.version, k.rec, k.pendingSince = k.obs.version, *k.obs.rec, time.Time{}
	k.held, k.renewStart = true, start
	return start, true
}

// renew extends our lease. It reports whether we still hold it and, when
// the write failed without losing, how soon to retry.
func (k *leaseKeeper) renew(ctx context.Context, mutate func(*leaseRecord)) (held, adopted bool, err error) {
	c := k.c
	deadline := k.renewStart.Add(c.cfg.RenewDeadline)
	rec := k.rec
	if mutate != nil {
		mutate(&rec)
	}
	rec.LeaseMillis = c.cfg.LeaseTimeout.Milliseconds()
	budget := func() time.Duration {
		return min(c.requestTimeout(), max(deadline.Sub(c.clock.Now()), time.Millisecond))
	}
	// Read the record back first (a GET). On a store that honours
	// conditions this changes nothing: if someone wrote since our last
	// write, our IfMatch would fail just the same. On a store that stopped
	// honouring them (it passed the store check, then turned) it is how a
	// leader learns within a heartbeat that another process wrote the
	// lease, and steps down (docs/safety.md, 4.9).
	err = k.readBack(ctx, budget)
	if err != nil {
		return true, false, err
	}
	out := lost
	var start time.Time
	if k.obs.exists && k.obs.version == k.version {
		out, start, err = k.write(ctx, rec, driver.IfMatch(k.version), budget())
	} else {
		err = fmt.Errorf("%w: the lease record changed since our last write", driver.ErrPrecondition)
	}
	switch out {
	case wrote:
		k.renewStart = start
		if k.term != nil {
			k.term.extend(start, start.Add(c.cfg.RenewDeadline))
		}
		k.observeOwn(start)
		return true, false, nil
	case lost:
		// Someone wrote. If it was our own earlier write whose answer we
		// missed, the record carries our incarnation: adopt it.
		if k.pendingSince.IsZero() || (!start.IsZero() && k.poll(ctx) != nil) || !k.oursInDoubt() {
			return false, false, err
		}
		k.version, k.rec = k.obs.version, *k.obs.rec
		k.renewStart, k.pendingSince = k.pendingSince, time.Time{}
		// The adopted write may be older than the deadline already set;
		// extend only moves deadlines forward.
		if k.term != nil {
			k.term.extend(k.renewStart, k.renewStart.Add(c.cfg.RenewDeadline))
		}
		return true, true, nil
	default:
		return true, false, err
	}
}

// lostCause says why a renewal lost the lease, from a read of the record
// made after it (one GET, only as a leadership ends): ErrOperatorRelease
// for an operator's release, otherwise ErrLeaseLost wrapped in what the
// record shows. A record of ours that is not the write we last confirmed
// is a write of ours applied late (given up on, applied after a later
// one: nobody else wrote); a record of another holder is a takeover.
func (k *leaseKeeper) lostCause(ctx context.Context) error {
	if err := k.poll(ctx); err != nil {
		return fmt.Errorf("%w: the record could not be read since (%v)", ErrLeaseLost, err)
	}
	o, r := k.obs, k.obs.rec
	switch {
	case !o.exists:
		return fmt.Errorf("%w: the record was deleted", ErrLeaseLost)
	case r == nil:
		return fmt.Errorf("%w: the record is unreadable (%v)", ErrLeaseLost, o.corrupt)
	case r.Released && r.ReleasedBy != r.Leader:
		return ErrOperatorRelease
	case k.ours() && o.version == k.version:
		return fmt.Errorf("%w: the store refused our renewal, yet the record is still our last write", ErrLeaseLost)
	case k.ours():
		return fmt.Errorf("%w: our own renewal applied late (epoch %d, write %d over our confirmed write %d); no other holder wrote",
			ErrLeaseLost, r.Epoch, r.Seq, k.rec.Seq)
	case r.Leader == k.c.worker:
		return fmt.Errorf("%w: taken over by another process with our WorkerID %s (epoch %d)", ErrLeaseLost, r.Leader, r.Epoch)
	default:
		return fmt.Errorf("%w: taken over by %s (epoch %d)", ErrLeaseLost, r.Leader, r.Epoch)
	}
}

// readBack reads our record back before a renewal: a GET (poll), or,
// when the worker count is due (membership.listDue), one LIST of the
// directory holding the record and the worker records, which counts the
// workers too. A LIST that shows our last write unchanged is the read; one
// that shows another version, or none, is followed by the GET, which reads
// what it is; one that fails is replaced by the GET, so that a store
// refusing LIST (a policy without s3:ListBucket) costs the count, not the
// leadership. The LIST gets a quarter of the budget left (a renewal's
// request budget), so that a slow or hung LIST leaves the GET and the
// renewal their time before the renew deadline, and a failed one puts
// the next count off (membership.listFailed).
func (k *leaseKeeper) readBack(ctx context.Context, budget func() time.Duration) error {
	c := k.c
	if prefix, ok := c.member.listDue(k, c.clock.Now()); ok {
		lctx, cancel := c.withTimeout(ctx, budget()/4)
		res, err := c.store.List(lctx, prefix)
		cancel()
		if err != nil {
			c.member.listFailed(c.clock.Now())
			c.log.Debug(c.prefix+" listing workers failed", "err", err)
		} else {
			c.member.counted(res)
			if k.obs.known && k.obs.exists && k.obs.version == k.version {
				for _, e := range res.Entries {
					if e.Key == k.key && e.Version == k.version {
						return nil // unchanged since our last write
					}
				}
			}
		}
	}
	rctx, cancel := c.withTimeout(ctx, budget())
	defer cancel()
	return k.poll(rctx)
}

// release marks our record released, after we stopped leading. It is a
// no-op when we never wrote or someone else wrote since.
func (k *leaseKeeper) release(ctx context.Context) error {
	if k.version == "" || k.rec.Released {
		return nil
	}
	// Read it back first, as a renewal does: on a store that stopped
	// honouring conditions a blind release would overwrite a successor's
	// record (a claim, say, which its holder never rewrites).
	if err := k.poll(ctx); err != nil {
		return err
	}
	if !k.obs.exists || k.obs.version != k.version {
		return nil // someone took over already
	}
	rec := k.rec
	rec.Released, rec.ReleasedBy = true, k.c.worker // Plugins stay: they carry plugin epochs
	out, _, err := k.write(ctx, rec, driver.IfMatch(k.version), k.c.requestTimeout())
	if out == lost {
		return nil // someone took over already
	}
	return err
}

// term is one leadership. Its context is cancelled by the watchdog at the
// renew deadline (start of the last successful renewal + RenewDeadline),
// whatever the loop is doing, or by stepDown.
type term struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	epoch   uint64
	started time.Time

	mu       sync.Mutex
	deadline time.Time
}

func newTerm(clock clock.Clock, epoch uint64, started, deadline time.Time) *term {
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &term{ctx: ctx, cancel: cancel, epoch: epoch, started: started, deadline: deadline}
	go t.watch(clock)
	return t
}

func (t *term) watch(clock clock.Clock) {
	for {
		t.mu.Lock()
		d := t.deadline
		t.mu.Unlock()
		wait := d.Sub(clock.Now())
		if wait <= 0 {
			t.cancel(ErrRenewDeadline)
			return
		}
		select {
		case <-clock.After(wait):
		case <-t.ctx.Done():
			return
		}
	}
}

// extend moves the renew deadline to d, after a write sent at sent. A
// write sent at or after the deadline extends nothing: the leadership
// had ended by then (the watchdog may not have run yet, after a pause),
// and what it held may have been taken over meanwhile (a plugin claim,
// which lapses with the renewals that carry it), so the term ends now.
func (t *term) extend(sent, d time.Time) {
	t.mu.Lock()
	lapsed := !sent.Before(t.deadline)
	if !lapsed && d.After(t.deadline) {
		t.deadline = d
	}
	t.mu.Unlock()
	if lapsed {
		t.cancel(ErrRenewDeadline)
	}
}

// alive reports whether the leadership holds at now.
func (t *term) alive(now time.Time) bool {
	if t == nil || t.ctx.Err() != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return now.Before(t.deadline)
}

// expired reports whether now is past the leadership's renew deadline
// (whether or not its context has ended yet).
func (t *term) expired(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !now.Before(t.deadline)
}
