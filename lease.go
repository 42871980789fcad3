package coord

// The election state machine. The safety argument is in doc.go; this file
// implements it:
//
//   - leaseKeeper: one lease key as seen by one process (observation,
//     acquisition, renewal, release, ambiguous-write reconciliation);
//   - term: one leadership, with the watchdog that ends it at the renew
//     deadline whatever the loop is doing;
//   - the heartbeat of a Coordinator: global (namespace lease, then claims
//     of subscribed plugins' leases) or per-plugin (plugin lease, judging a
//     delegated lease by the namespace lease).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

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
func (k *leaseKeeper) broke(rule, detail string) {
	k.c.unsafeSeen.Add(1)
	k.c.hub.storeBroke(k.c.prefix, fmt.Errorf("%w: %s", &StoreCheckError{Rule: rule, Key: k.key}, detail))
}

func (c *Coordinator) newKeeper(key, plugin string) *leaseKeeper {
	return &leaseKeeper{c: c, key: key, ns: c.ns, plugin: plugin, incarnation: c.randomToken()}
}

// poll reads the record and updates the observation.
func (k *leaseKeeper) poll(ctx context.Context) error {
	c := k.c
	rctx, cancel := c.withTimeout(ctx, c.requestTimeout())
	obj, err := c.store.Get(rctx, k.key)
	cancel()
	end := c.clock.Now()
	var next observation
	switch {
	case errors.Is(err, driver.ErrNotFound):
		next = observation{known: true}
	case errors.Is(err, driver.ErrTooLarge):
		// Unreadable by design: a LIST tells its version, so that a
		// takeover can still be conditional.
		next = observation{known: true, exists: true, corrupt: fmt.Errorf("%w: %v", ErrCorruptRecord, err)}
		lctx, cancel := c.withTimeout(ctx, c.requestTimeout())
		res, lerr := c.store.List(lctx, k.key)
		cancel()
		if lerr != nil {
			return lerr
		}
		for _, e := range res.Entries {
			if e.Key == k.key {
				next.version = e.Version
			}
		}
		if next.version == "" {
			next = observation{known: true} // gone meanwhile
		}
	case err != nil:
		return err
	default:
		next = observation{known: true, exists: true, version: obj.Version, modified: obj.Modified}
		next.rec, next.corrupt = decodeLease(obj.Data, k.ns, k.plugin)
	}
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
// callers judge delegated plugin leases): the time from which this process
// may write a takeover (zero: now), and whether a takeover should be
// jittered (several followers may see the same thing at once).
func (k *leaseKeeper) freeAt() (at time.Time, jitter bool) {
	o := k.obs
	switch {
	case !o.exists && k.c.hub.epochs.get(k.key) > 0:
		// Records are never deleted; one deleted by hand while its holder
		// may still be acting is waited out like a silent holder.
		return o.seen.Add(k.c.cfg.LeaseTimeout), true
	case !o.exists:
		return time.Time{}, false // a cold start: IfAbsent settles concurrent starts
	case o.rec == nil: // corrupt: held until unchanged for a whole lease
		return o.seen.Add(k.c.cfg.LeaseTimeout), true
	case k.ours():
		// Our own record and we do not lead: nobody else can lead it
		// without changing it, and IfMatch proves nobody did.
		return time.Time{}, false
	case o.rec.gracefullyReleased():
		return time.Time{}, true
	default: // held, or released by an operator while the holder may still act
		return o.seen.Add(max(o.rec.lease(), k.c.cfg.LeaseTimeout)), true
	}
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
		lctx, cancel := k.c.withTimeout(ctx, k.c.requestTimeout())
		res, err := k.c.store.List(lctx, k.key)
		cancel()
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
	rec.Renewed = c.clock.Now().UTC().Truncate(time.Millisecond)
	start := c.clock.Now()
	rctx, cancel := c.withTimeout(ctx, timeout)
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
		if !errors.Is(err, ErrCircuitOpen) && !errors.Is(err, driver.ErrInvalidKey) && (k.pendingSince.IsZero() || start.Before(k.pendingSince)) {
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
	now := c.clock.Now()
	deadline := k.renewStart.Add(c.cfg.RenewDeadline)
	rec := k.rec
	if mutate != nil {
		mutate(&rec)
	}
	rec.LeaseMillis = c.cfg.LeaseTimeout.Milliseconds()
	out, start, err := k.write(ctx, rec, driver.IfMatch(k.version), min(c.requestTimeout(), max(deadline.Sub(now), time.Millisecond)))
	switch out {
	case wrote:
		k.renewStart = start
		if k.term != nil {
			k.term.extend(start.Add(c.cfg.RenewDeadline))
		}
		k.observeOwn(start)
		return true, false, nil
	case lost:
		// Someone wrote. If it was our own earlier write whose answer we
		// missed, the record carries our incarnation: adopt it.
		if k.pendingSince.IsZero() || k.poll(ctx) != nil || !k.oursInDoubt() {
			return false, false, err
		}
		k.version, k.rec = k.obs.version, *k.obs.rec
		k.renewStart, k.pendingSince = k.pendingSince, time.Time{}
		// The adopted write may be older than the deadline already set;
		// extend only moves deadlines forward.
		if k.term != nil {
			k.term.extend(k.renewStart.Add(c.cfg.RenewDeadline))
		}
		return true, true, nil
	default:
		return true, false, err
	}
}

// release marks our record released, after we stopped leading. It is a
// no-op when we never wrote or someone else wrote since.
func (k *leaseKeeper) release(ctx context.Context) error {
	if k.version == "" || k.rec.Released {
		return nil
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

func newTerm(clock Clock, epoch uint64, started, deadline time.Time) *term {
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &term{ctx: ctx, cancel: cancel, epoch: epoch, started: started, deadline: deadline}
	go t.watch(clock)
	return t
}

func (t *term) watch(clock Clock) {
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

func (t *term) extend(d time.Time) {
	t.mu.Lock()
	if d.After(t.deadline) {
		t.deadline = d
	}
	t.mu.Unlock()
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

// ---- the heartbeat ----

// leaseCycle runs one heartbeat of the election and returns the delay to
// the next one.
func (c *Coordinator) leaseCycle(ctx context.Context) time.Duration {
	k := c.lease
	if k.held && !k.term.alive(c.clock.Now()) {
		c.stepDown(ErrRenewDeadline)
	}
	if gen, _ := c.hub.storeGen(); k.held && gen != c.termGen {
		c.stepDown(c.hub.storeErr())
	}
	if k.held {
		return c.leaderCycle(ctx)
	}
	return c.followerCycle(ctx)
}

func (c *Coordinator) leaderCycle(ctx context.Context) time.Duration {
	k := c.lease
	start := c.clock.Now()
	if due := c.renewDue; c.mode == Global && start.Before(due) {
		return c.afterClaims(ctx, due) // claims only: a stand-in hands a plugin back
	}
	c.renewDue = time.Time{}
	var mutate func(*leaseRecord)
	if c.mode == Global {
		claimed, names := c.claimedEpochs(), c.claimNames()
		mutate = func(r *leaseRecord) { r.Plugins, r.Claims = claimed, names }
	}
	held, adopted, err := k.renew(ctx, mutate)
	if !held {
		cause := ErrLeaseLost
		if k.pendingSince.IsZero() && k.poll(ctx) == nil { // who took it (a store breaking conditions shows here too)
			if r := k.obs.rec; r != nil && r.Released && r.ReleasedBy != r.Leader {
				cause = ErrOperatorRelease
			}
			if gen, _ := c.hub.storeGen(); gen != c.termGen {
				cause = c.hub.storeErr()
			}
		}
		c.stepDown(fmt.Errorf("%w: %w", cause, err))
		return c.followerDelay()
	}
	if err != nil {
		return c.retryDelay()
	}
	c.retries = 0
	if adopted {
		if c.mode == Global {
			c.claimPlugins(ctx, c.clock.Now().Add(c.cfg.HeartbeatInterval/2))
		}
		return c.leaderDelayAfterAdopt()
	}
	return c.untilNextRenewal(ctx, start)
}

// untilNextRenewal runs the claims of a namespace leader (after a renewal
// or acquisition that started at start) and returns the delay to the next
// renewal, due HeartbeatInterval plus jitter after start: claims do not
// push renewals back, except that they always get HeartbeatInterval/2.
func (c *Coordinator) untilNextRenewal(ctx context.Context, start time.Time) time.Duration {
	return c.afterClaims(ctx, start.Add(c.cfg.HeartbeatInterval+c.jitter(c.cfg.HeartbeatJitter)))
}

// afterClaims runs the claims of a namespace leader whose next renewal is
// due at next, and returns the delay to its next cycle.
func (c *Coordinator) afterClaims(ctx context.Context, next time.Time) time.Duration {
	if c.mode != Global {
		return max(next.Sub(c.clock.Now()), 0)
	}
	handingBack := c.claimPlugins(ctx, later(next, c.clock.Now().Add(c.cfg.HeartbeatInterval/2)))
	if c.claimsUnlisted() {
		// Followers learn who leads a plugin from Plugins in the
		// namespace record: list the claims just confirmed by renewing
		// now (the ordinary renewal: IfMatch, seq+1, a new renew start)
		// instead of a heartbeat later. Once per batch of claims, never
		// in steady state.
		c.renewDue = time.Time{}
		return 0
	}
	wait := max(next.Sub(c.clock.Now()), 0)
	if handingBack {
		// A stand-in holds a plugin we list: it releases it once its
		// process reads our record; read it again in a quarter heartbeat
		// (a GET), not a heartbeat later, so the plugin is not left
		// without a leader for a heartbeat.
		if quick := c.cfg.HeartbeatInterval / 4; quick < wait {
			c.renewDue = next
			return quick
		}
	}
	c.renewDue = time.Time{}
	return wait
}

// claimsUnlisted reports whether we lead a plugin that our last confirmed
// write of the namespace record does not list in Plugins with its epoch.
func (c *Coordinator) claimsUnlisted() bool {
	if !c.lease.held {
		return false
	}
	listed := c.lease.rec.Plugins
	for name, e := range c.claimedEpochs() {
		if listed[name] != e {
			return true
		}
	}
	return false
}

func (c *Coordinator) followerCycle(ctx context.Context) time.Duration {
	k := c.lease
	if c.fresh {
		c.fresh = false // start() has just read it
	} else if err := k.poll(ctx); err != nil {
		c.log.Debug(c.prefix+" lease read failed", "key", k.key, "err", err)
		return c.retryDelay()
	}
	c.retries = 0
	now := c.clock.Now()
	if start, ok := k.adoptIfOurs(now); ok {
		c.startTerm(start)
		return c.leaderDelayAfterAdopt()
	}
	c.observeLeader()
	at, jitter := k.freeAt()
	if c.mode == PerPlugin {
		switch r := k.obs.rec; {
		case r != nil && r.Delegated && !r.Released && !k.ours():
			at, jitter = c.delegatedFreeAt(ctx, r.NamespaceEpoch)
		case r == nil:
			// Missing or unreadable. An unreadable record may be a
			// delegated lease whose namespace leader still leads the
			// plugin (it never rewrites it), so the namespace record
			// must show the plugin free as well. One more read, only in
			// this state.
			nat, nj, err := c.namespaceAllows(ctx)
			switch {
			case err == nil:
				at, jitter = later(at, nat), jitter || nj
			case k.obs.exists || c.hub.epochs.get(k.key) > 0:
				// Unreadable, or deleted after we saw it: never taken
				// without a good read of the namespace record.
				return c.followerDelay()
			default:
				// Missing and never seen: no namespace leader has claimed
				// it (claims are written before a plugin is led, and
				// plugin leases are never deleted), so IfAbsent is safe.
				// Wait until every read of the namespace record has failed
				// for a whole lease (no permission on it: a fallback), so
				// that a passing read error does not decide it.
				failing := !c.nsFailSince.IsZero() && now.Sub(c.nsFailSince) >= c.cfg.LeaseTimeout
				if !failing || now.Sub(k.obs.seen) < c.cfg.LeaseTimeout {
					return c.followerDelay()
				}
			}
		}
	}
	if c.mode == PerPlugin && now.Before(c.notBefore) {
		at = later(at, c.notBefore) // the plugin resigned: its back-off
	}
	if wait := at.Sub(now); wait > 0 {
		// Poll again at the regular time, or when the lease would expire
		// if that comes first (the takeover is jittered then), or sooner
		// while a new leader has yet to list our plugins.
		return c.soonerIfUnlisted(min(c.followerDelay(), wait), false)
	}
	if jitter {
		if !c.sleep(ctx, c.jitter(c.cfg.HeartbeatJitter/2)) {
			return 0
		}
	}
	gen, _ := c.hub.storeGen()
	if err := c.hub.ensureStoreChecked(ctx); err != nil {
		return c.followerDelay() // not on a store that breaks conditions
	}
	cold := !k.obs.exists
	rec := leaseRecord{Mode: string(c.mode), StandIn: c.standsIn}
	if c.mode == Global {
		rec.Claims = c.claimNames() // listed before they are claimed
	}
	won, start, err := k.acquire(ctx, rec)
	c.termGen = gen
	switch {
	case won && !c.startTerm(start):
		return c.followerDelay()
	case won:
		c.coldStart = cold
		return c.afterAcquire(ctx, start)
	case err != nil && !errors.Is(err, driver.ErrPrecondition):
		c.log.Debug(c.prefix+" takeover write failed", "key", k.key, "err", err)
		return c.retryDelay()
	}
	return c.soonerIfUnlisted(c.followerDelay(), true) // lost the race: someone else leads now
}

// quickPolls bounds the early reads a global follower makes per observed
// leadership (and per batch of plugins it subscribes) while it waits for
// the leader to list its plugins.
const quickPolls = 4

// soonerIfUnlisted returns the delay to a global follower's next read:
// d, or less while the namespace has a new leader (lostRace: one whose
// record we have not read yet) that does not list, in Plugins, every
// plugin we subscribe. Such a leader lists its claims in a renewal right
// after making them, so an early read learns the plugins' leaders a
// heartbeat sooner. The early reads back off (HeartbeatInterval/20 from
// the first, doubling, jittered) and are at most quickPolls per leader
// (the count restarts when the leader or epoch we see changes, or when
// plugins subscribe), so they cost a few GETs per election and nothing
// in steady state. A read only refreshes the observation: an unchanged
// version keeps the time it was first seen, so expiry is judged as
// before.
func (c *Coordinator) soonerIfUnlisted(d time.Duration, lostRace bool) time.Duration {
	if c.mode != Global || c.lease.held || len(c.slots) == 0 || c.quickPolled >= quickPolls {
		return d
	}
	if !lostRace {
		r := c.lease.obs.rec
		if r == nil || r.Released || c.lease.ours() {
			return d
		}
		unlisted := false
		for name := range c.slots {
			if r.Plugins[name] == 0 {
				unlisted = true
				break
			}
		}
		if !unlisted {
			return d
		}
	}
	step := max(c.cfg.HeartbeatInterval/20, time.Millisecond) << c.quickPolled
	c.quickPolled++
	return min(d, step/2+c.jitter(step/2))
}

// afterAcquire runs right after winning (the acquisition started at
// start): claims plugins (global) and schedules the first renewal.
func (c *Coordinator) afterAcquire(ctx context.Context, start time.Time) time.Duration {
	c.member.askCleanup()
	return c.untilNextRenewal(ctx, start)
}

func (c *Coordinator) leaderDelayAfterAdopt() time.Duration {
	return c.cfg.HeartbeatInterval / 10 // renew soon: the adopted write is old
}

func (c *Coordinator) followerDelay() time.Duration {
	return c.cfg.HeartbeatInterval + c.jitter(c.cfg.HeartbeatJitter/2)
}

// retryDelay is the bounded backoff after a failed request.
func (c *Coordinator) retryDelay() time.Duration {
	c.retries++
	d := max(c.cfg.HeartbeatInterval/20, time.Millisecond) << min(c.retries-1, 6)
	d = min(d, c.cfg.HeartbeatInterval/2)
	if open := c.store.openFor(); open > d {
		d = open
	}
	return d + c.jitter(d/4)
}

// delegatedFreeAt judges, for a per-plugin coordinator, a plugin lease
// delegated to the namespace lease with epoch E: the delegating leader
// leads the plugin exactly as long as it leads the namespace in epoch E.
// It reads the namespace record; when that fails the lease is held.
func (c *Coordinator) delegatedFreeAt(ctx context.Context, e uint64) (time.Time, bool) {
	w := c.namespaceWatch()
	if err := w.poll(ctx); err != nil {
		return c.clock.Now().Add(c.cfg.LeaseTimeout), false // cannot judge: held
	}
	if r := w.obs.rec; r != nil && r.Epoch == e && !r.lists(c.plugin) {
		// The delegating leader's current record no longer lists the
		// plugin: it stopped leading it before writing that record, and
		// leads it again only after a claim, which writes the plugin
		// lease (so our IfMatch of the delegated version fails then).
		return time.Time{}, true
	}
	return c.namespaceFreeAt(e)
}

// namespaceFreeAt judges the namespace leadership with epoch e from the
// last read of the namespace record: it is over once the record shows a
// later epoch (written by a successor, which only writes after the holder
// stepped down), a graceful release of epoch e, or stays unchanged for a
// lease (judged by its version, also when its content is unreadable).
func (c *Coordinator) namespaceFreeAt(e uint64) (time.Time, bool) {
	o := c.namespaceWatch().obs
	switch {
	case !o.exists:
		// Never deleted by the engine; one deleted by hand is waited out.
		return o.seen.Add(c.cfg.LeaseTimeout), true
	case o.rec != nil && o.rec.Epoch > e:
		return time.Time{}, true
	case o.rec != nil && o.rec.Epoch == e && o.rec.gracefullyReleased():
		return time.Time{}, true
	case o.rec != nil:
		return o.seen.Add(max(o.rec.lease(), c.cfg.LeaseTimeout)), true
	default: // unreadable: unchanged for a lease
		return o.seen.Add(c.cfg.LeaseTimeout), true
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (c *Coordinator) namespaceWatch() *leaseKeeper {
	if c.nsWatch == nil {
		c.nsWatch = c.newKeeper(namespaceLeaseKey(c.cfg.Root, c.ns), "")
	}
	return c.nsWatch
}

// namespaceAllows reads the namespace record and judges, for a missing
// or unreadable plugin lease, from when the namespace side lets this
// per-plugin coordinator take it: at once when the record is missing or
// its leader does not list the plugin (a leader lists a plugin in a
// confirmed write before it claims it, and until it stops leading it),
// otherwise once that leadership is over (namespaceFreeAt). An unreadable
// namespace record is judged by its version: unchanged for a lease. It
// returns an error only when the read itself failed.
func (c *Coordinator) namespaceAllows(ctx context.Context) (time.Time, bool, error) {
	w := c.namespaceWatch()
	if err := w.poll(ctx); err != nil {
		if c.nsFailSince.IsZero() {
			c.nsFailSince = c.clock.Now()
		}
		return time.Time{}, false, err
	}
	c.nsFailSince = time.Time{}
	o := w.obs
	switch r := o.rec; {
	case !o.exists:
		if c.hub.epochs.get(w.key) > 0 {
			at, j := c.namespaceFreeAt(0) // deleted by hand: waited out
			return at, j, nil
		}
		return time.Time{}, false, nil
	case r == nil:
		at, j := c.namespaceFreeAt(0)
		return at, j, nil
	case r.lists(c.plugin):
		if e := r.Plugins[c.plugin]; e != 0 {
			c.hub.epochs.see(c.lease.key, e) // the plugin's epoch survives here
		}
		at, j := c.namespaceFreeAt(r.Epoch)
		return at, j, nil
	default:
		return time.Time{}, false, nil
	}
}

// startTerm begins a leadership of the coordinator's lease, which started
// at start. It reports false, leaving the lease unheld, when that
// leadership is over already: the write's answer came after the renew
// deadline (a process paused during the write), and a successor may have
// taken over with a later epoch meanwhile.
func (c *Coordinator) startTerm(start time.Time) bool {
	k := c.lease
	if now := c.clock.Now(); !now.Before(start.Add(c.cfg.RenewDeadline)) {
		k.held = false
		k.observeOwn(now)
		c.log.Debug(c.prefix+" acquisition confirmed after its renew deadline; not leading", "key", k.key, "epoch", k.rec.Epoch)
		return false
	}
	t := newTerm(c.clock, k.rec.Epoch, start, start.Add(c.cfg.RenewDeadline))
	k.term = t
	c.mu.Lock()
	c.term = t
	c.mu.Unlock()
	c.changes.fire()
	c.observeLeader()
	if c.mode == PerPlugin {
		for _, s := range c.sortedSlots() {
			c.startPlugin(s, t, t.epoch)
		}
	}
	return true
}

// stepDown ends our leadership at once: cancels every plugin context with
// cause (one of the Err… sentinels of why a leadership ends, perhaps
// wrapped), notifies, and forgets plugin claims.
func (c *Coordinator) stepDown(cause error) {
	k := c.lease
	if !k.held {
		return
	}
	k.held, c.renewDue = false, time.Time{}
	if k.term != nil {
		// The first cause stays: the watchdog may have ended the term
		// already (ErrRenewDeadline).
		k.term.cancel(cause)
		cause = context.Cause(k.term.ctx)
	}
	for _, s := range c.sortedSlots() {
		c.stopPlugin(s, cause)
		if s.claim != nil {
			s.claim.held = false
		}
	}
	c.mu.Lock()
	c.term = nil
	c.mu.Unlock()
	c.changes.fire()
	c.ends.count(cause)
	level := slog.LevelWarn
	if errors.Is(cause, ErrResigned) {
		level = slog.LevelInfo
	}
	c.log.Log(context.Background(), level, c.prefix+" stepped down", c.attrs("", "leader", c.worker, "epoch", k.rec.Epoch, "cause", cause)...)
	// What we know of the record: our last write (so that a later read of
	// it counts as "ours", free to take again by IfMatch).
	k.observeOwn(c.clock.Now())
	c.observeLeader()
}

// claimedEpochs lists the plugins we lead and their plugin epochs, for the
// namespace record.
func (c *Coordinator) claimedEpochs() map[string]uint64 {
	var m map[string]uint64
	for name, s := range c.slots {
		if s.claim != nil && s.claim.held {
			if m == nil {
				m = make(map[string]uint64)
			}
			m[name] = s.claim.rec.Epoch
		}
	}
	return m
}

// slotNames lists the subscribed plugins, sorted: the Claims of the
// namespace record.
func (c *Coordinator) slotNames() []string {
	var names []string
	for name := range c.slots {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// claimNames lists the plugins a namespace leader may lead now, sorted:
// the subscribed ones, less those resigned and still in their back-off.
func (c *Coordinator) claimNames() []string {
	now := c.clock.Now()
	var names []string
	for _, name := range c.slotNames() {
		if !now.Before(c.slots[name].backoffUntil) {
			names = append(names, name)
		}
	}
	return names
}

// sortedSlots lists the loop's plugins in name order. The loop iterates
// them in this order wherever it acts (draws random tokens, starts or
// stops plugins), never in map order, so that a run on one seed replays
// exactly (internal/sim).
func (c *Coordinator) sortedSlots() []*slot {
	out := make([]*slot, 0, len(c.slots))
	for _, name := range c.slotNames() {
		out = append(out, c.slots[name])
	}
	return out
}

// claimPlugins makes the namespace leader the leader of every subscribed
// plugin whose lease it does not hold yet in this term, in parallel. A
// claim costs requests only once per election (and when a plugin
// subscribes), or every heartbeat while a per-plugin holder is waited out.
func (c *Coordinator) claimPlugins(ctx context.Context, deadline time.Time) (handingBack bool) {
	t := c.lease.term
	if !c.lease.held || !t.alive(c.clock.Now()) {
		return false
	}
	if gen, ok := c.hub.storeGen(); !ok || gen != c.termGen {
		return false // the store broke a rule: the next cycle steps down
	}
	var todo []*slot
	for _, s := range c.sortedSlots() { // name order: keepers draw from the rng
		if s.claim == nil {
			s.claim = c.newKeeper(pluginLeaseKey(c.cfg.Root, c.ns, s.name), s.name)
		}
		// Only plugins listed in our last confirmed write (see Claims),
		// and not while a stand-in of ours may still hold the lease.
		if !s.claim.held && slices.Contains(c.lease.rec.Claims, s.name) && s.standInStopped() {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return false
	}
	// Each request of a claim has the usual request timeout, but claims
	// end by deadline (when the next renewal is due). They are not
	// jittered: only one process (the namespace leader) claims, and a
	// per-plugin worker racing for the same lease loses or wins by
	// IfMatch. A claim cut short is in doubt and adopted next time.
	ctx, cancel := c.withTimeout(ctx, max(deadline.Sub(c.clock.Now()), time.Millisecond))
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range todo {
		wg.Go(func() { c.claim(ctx, s.claim, t, c.coldStart) })
	}
	wg.Wait()
	for _, s := range todo {
		switch r := s.claim.obs.rec; {
		case s.claim.held && t.alive(c.clock.Now()):
			c.startPlugin(s, t, s.claim.rec.Epoch)
		case r != nil && !r.Released && !r.Delegated && !s.claim.ours():
			s.claim.held = false
			c.notePlugin(s, r.Leader, r.Epoch, r.Value) // a per-plugin process leads it (being waited out)
			handingBack = handingBack || r.StandIn
		default:
			s.claim.held = false
		}
	}
	return handingBack
}

// claim tries to take one plugin lease for the namespace term t. It runs in
// its own goroutine and touches only k. A per-plugin holder (or a foreign
// namespace term) is waited out like any follower: the lease is read again
// at every heartbeat of ours until it is free.
func (c *Coordinator) claim(ctx context.Context, k *leaseKeeper, t *term, coldNamespace bool) {
	cold := coldNamespace && !k.obs.known
	if cold {
		k.obs = observation{known: true} // a cold namespace: try IfAbsent, no read
	} else if err := k.poll(ctx); err != nil {
		return
	}
	if k.claimInDoubt(t) {
		// Our own claim in this namespace term, applied although its
		// answer was lost: adopt it rather than claim again with a new
		// epoch (which could be lost the same way, forever).
		k.version, k.rec, k.pendingSince, k.held = k.obs.version, *k.obs.rec, time.Time{}, true
		return
	}
	var at time.Time
	if r := k.obs.rec; r != nil && r.Delegated && !r.Released && !k.ours() {
		// Delegated by an earlier namespace term, which ended before ours
		// began: free now. An equal or later one: wait it out.
		if r.NamespaceEpoch >= t.epoch {
			at = k.obs.seen.Add(max(r.lease(), c.cfg.LeaseTimeout))
		}
	} else {
		at, _ = k.freeAt()
	}
	if at.After(c.clock.Now()) || !t.alive(c.clock.Now()) {
		return
	}
	won, _, err := k.acquire(ctx, leaseRecord{Mode: string(Global), Delegated: true, NamespaceEpoch: t.epoch})
	if !won && cold && errors.Is(err, driver.ErrPrecondition) {
		k.obs = observation{}
		c.claim(ctx, k, t, false) // not cold after all: read it
	}
}
