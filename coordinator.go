package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/plugin"
)

// Coordinator runs one election: a namespace (Global mode, shared by the
// namespace's plugins) or one plugin (PerPlugin mode). It is created by a
// Hub and runs one loop goroutine; its methods are safe for concurrent use.
type Coordinator struct {
	hub      *Hub
	cfg      Config
	clock    clock.Clock
	mode     Mode
	ns       string
	plugin   string // PerPlugin only
	worker   string
	store    *meteredStore
	log      *slog.Logger
	prefix   string // "[coordinator:global] [default]"
	fallback bool

	rngMu sync.Mutex
	rng   *rand.Rand

	// Loop-owned state.
	lease      *leaseKeeper
	el         election // what the mode does differently
	slots      map[string]*slot
	fresh      bool // the lease observation was just read by start
	retries    int
	member     membership
	lastLeader string
	lastEpoch  uint64
	lastValue  string
	termGen    uint64    // the Hub's store-check generation when the lease was won
	noticeDue  time.Time // when a leader reads the unsafe-store notice next
	leaseView  atomic.Pointer[leaseView]

	// Shared state, under mu.
	mu       sync.Mutex
	subs     map[string]*slot
	term     *term // current leadership, nil when not leading
	watchers []*watcher
	latest   *plugin.Change // the last change emitted (Observe's first event)
	closed   bool

	heartbeats    atomic.Uint64
	elections     atomic.Uint64
	leaderChanges atomic.Uint64
	corrupt       atomic.Uint64
	dropped       atomic.Uint64
	workerCount   atomic.Int64
	lastBeatTime  atomic.Pointer[time.Time]
	latency       latencyRing
	unsafeSeen    atomic.Uint64
	ends          leadershipEnds
	leadReturns   atomic.Uint64
	leadErrors    atomic.Uint64

	wake       chan struct{}
	stopping   chan struct{}
	loopCtx    context.Context
	loopCancel context.CancelFunc
	done       chan struct{}
	closeCtx   context.Context // bounds the shutdown; set before stopping closes
	closeErr   error
	wg         sync.WaitGroup // plugin goroutines
}

// slot is one subscribed plugin.
type slot struct {
	name   string
	p      plugin.Plugin
	claim  *leaseKeeper // Global: the plugin lease (loop-owned)
	events chan plugin.Change
	gone   chan struct{} // closed once the loop has let go of the plugin

	// under Coordinator.mu
	run      *pluginRun
	lastRun  *pluginRun // the last run stopped (an unsubscription waits for it)
	resigned *pluginRun // a run whose Lead returned, for the loop to end
	// standIn (Global) leads the plugin in this process while the
	// namespace leader, another process, does not subscribe it: a
	// per-plugin coordinator over the plugin lease (see syncStandIns).
	standIn *Coordinator
	// standInGone is closed once the last stand-in stopped (nil: none
	// stopping). Loop-owned.
	standInGone  chan struct{}
	sharedEvents bool // events belongs to another slot (a stand-in's)
	// changes is signalled whenever this process starts or stops leading
	// the plugin (shared with the slot of a stand-in).
	changes *signal

	// note is what the plugin's observer was last told; shared with the
	// slot of a stand-in, so that whichever coordinator reports next
	// reports against what the observer last heard.
	note *noted
	// loop-owned: resignations (Lead returned while leading). The
	// back-off ends at backoffUntil; backoff is its length, to be counted
	// again from the release once the run has returned (see
	// slot.backoffFromRelease).
	backoffUntil time.Time
	backoff      time.Duration
	earlyReturns int
}

// noted is the last change an observer was told of.
type noted struct {
	mu     sync.Mutex
	told   bool
	leader string
	epoch  uint64
	value  string
}

// signal is a broadcast: Wait returns a channel closed at the next Fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// standInStopped reports whether no stand-in of s runs or is stopping.
func (s *slot) standInStopped() bool {
	if s.standIn != nil {
		return false
	}
	if s.standInGone == nil {
		return true
	}
	select {
	case <-s.standInGone:
		return true
	default:
		return false
	}
}

type pluginRun struct {
	cancel context.CancelCauseFunc
	term   plugin.Term
	parent *term
	done   chan struct{} // closed when the run's Lead and Tick have returned
	err    error         // what Lead returned (set before resigned)
	asked  bool          // resigned by Subscription.Resign, not by Lead returning
}

type watcher struct {
	ch     chan plugin.Change
	closed bool
}

const observerBuffer = 64

// end cancels the run's context with cause, unless its term was over at
// now: then the cause is ErrRenewDeadline (a process that resumes after a
// pause learns its term is over, whatever asked it to stop), so that a
// plugin never takes a leadership that ended by its deadline for a
// graceful resignation.
func (r *pluginRun) end(now time.Time, cause error) {
	if r.parent != nil && r.parent.expired(now) {
		cause = ErrRenewDeadline
	}
	r.cancel(cause)
}

func newCoordinator(h *Hub, mode Mode, ns, pluginName string) *Coordinator {
	cfg := h.cfg
	c := &Coordinator{
		hub: h, cfg: cfg, clock: cfg.Clock, mode: mode, ns: ns, plugin: pluginName,
		worker: h.workerID(ns),
		log:    cfg.Logger,
		slots:  make(map[string]*slot),
		subs:   make(map[string]*slot),
		wake:   make(chan struct{}, 1), stopping: make(chan struct{}), done: make(chan struct{}),
	}
	seed := h.seedFor(fmt.Sprintf("coordinator/%s/%s/%s", mode, ns, pluginName))
	c.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c.store = newMeteredStore(h.store, c.clock, c.deadlineClock(), c.requestTimeout(), cfg.HeartbeatInterval)
	if mode == Global {
		c.prefix = fmt.Sprintf("[coordinator:global] [%s]", ns)
		c.lease = c.newKeeper(namespaceLeaseKey(cfg.Root, ns), "")
		c.el = &namespaceElection{c: c}
	} else {
		c.el = &pluginElection{c: c}
		c.prefix = fmt.Sprintf("[coordinator:per-plugin] [%s/%s]", ns, pluginName)
		c.lease = c.newKeeper(pluginLeaseKey(cfg.Root, ns, pluginName), pluginName)
	}
	c.store.onBreaker = func(from, to string, failures int) {
		if to == breakerOpen {
			c.log.Warn(c.prefix+" circuit breaker open: storage requests paused after consecutive failures",
				c.attrs("", "failures", failures, "cooldown", cfg.HeartbeatInterval)...)
		} else {
			c.log.Info(c.prefix+" circuit breaker closed: the store answers again", c.attrs("")...)
		}
	}
	c.member.init(c)
	return c
}

// probeAttempts bounds the reads a global coordinator makes at start
// before it is declared unavailable.
const probeAttempts = 3

// probe is the first heartbeat's read of the lease (a cold namespace then
// has its leader after one more write). When the store does not answer
// after probeAttempts reads, or at once when it refuses the credentials
// (driver.ErrAccessDenied) or has no such bucket (driver.ErrBucketNotFound),
// which retrying does not change, it returns an error for which
// errors.Is(err, ErrStoreUnavailable) holds.
func (c *Coordinator) probe(ctx context.Context) error {
	var err error
	for i := range probeAttempts {
		if err = c.lease.poll(ctx); err == nil || ctx.Err() != nil || errors.Is(err, driver.ErrClosed) ||
			errors.Is(err, driver.ErrAccessDenied) || errors.Is(err, driver.ErrBucketNotFound) {
			break
		}
		if i < probeAttempts-1 && !c.sleepCtx(ctx, c.cfg.HeartbeatInterval/20<<i) {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if noFallbackCures(err) {
			return fmt.Errorf("%s: %w", c.prefix, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, c.prefix, err)
	}
	c.fresh = true
	return nil
}

// start starts the loop; its first heartbeat runs at once.
func (c *Coordinator) start() {
	c.loopCtx, c.loopCancel = context.WithCancel(context.Background())
	c.diag("Service started")
	go c.run()
}

func (c *Coordinator) run() {
	defer close(c.done)
	ctx := c.loopCtx
	nextLease := c.clock.Now() // first heartbeat at once
	for {
		select {
		case <-c.stopping:
			c.shutdown(c.closeCtx)
			return
		default:
		}
		nextLease = c.turn(ctx, nextLease)
		next := nextLease
		if beat := c.member.cycle(ctx); !beat.IsZero() && beat.Before(next) {
			next = beat
		}
		c.await(next)
	}
}

// turn runs what is due in one turn of the loop: subscriptions and
// resignations, the heartbeat of the election if due at nextLease, and
// the mode's own work. It returns when the next heartbeat is due.
func (c *Coordinator) turn(ctx context.Context, nextLease time.Time) time.Time {
	renew := c.syncSlots(ctx)
	renew = c.el.ended() || renew
	if c.endResignations(ctx) || renew {
		nextLease = c.clock.Now() // a renewal is due now (see election)
	}
	if now := c.clock.Now(); !now.Before(nextLease) {
		d := c.leaseCycle(ctx)
		end := c.clock.Now()
		c.heartbeats.Add(1)
		c.latency.add(end.Sub(now))
		c.lastBeatTime.Store(&end)
		c.publishLease()
		c.diag("Heartbeat cycle executed")
		nextLease = end.Add(d)
	}
	c.el.cycled(ctx)
	return nextLease
}

// await blocks until next, a poke, the start of a close or the end of
// the term, and steps down if the term has ended.
func (c *Coordinator) await(next time.Time) {
	var lost <-chan struct{}
	if c.lease.held {
		lost = c.lease.term.ctx.Done()
	}
	select {
	case <-c.stopping:
	case <-c.clock.After(next.Sub(c.clock.Now())):
	case <-c.wake:
	case <-lost:
	}
	// Decide by precedence, not by the case the select took: several
	// may be ready at one instant (a run replays exactly only so).
	select {
	case <-c.wake: // the loop's top looks at everything a poke may mean
	default:
	}
	if c.lease.held && c.lease.term.ctx.Err() != nil {
		c.stepDown(ErrRenewDeadline)
	}
}

// shutdown: step down, wait for the plugins to return, release,
// deregister, let go of plugins. ctx is the close's own bounded context.
func (c *Coordinator) shutdown(ctx context.Context) {
	var errs []error
	held := c.lease.held
	c.stepDown(ErrResigned)
	for _, s := range c.sortedSlots() {
		c.stopStandIn(ctx, s)
	}
	c.store.probe()
	if err := c.waitPlugins(ctx); err != nil {
		// A plugin still runs: leave the lease to expire rather than let
		// a successor start beside it.
		errs = append(errs, err)
	} else if held || c.lease.ours() {
		if err := c.lease.release(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s releasing lease: %w", c.prefix, err))
		}
	}
	if err := c.member.deregister(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s removing worker record: %w", c.prefix, err))
	}
	c.mu.Lock()
	c.closed = true
	for name, s := range c.subs {
		if c.slots[name] == nil {
			c.slots[name] = s // subscribed, not yet seen by the loop: let go of it too
		}
	}
	clear(c.subs)
	for _, w := range c.watchers {
		if !w.closed {
			w.closed = true
			close(w.ch)
		}
	}
	c.watchers = nil
	c.mu.Unlock()
	for _, s := range c.sortedSlots() {
		c.dropSlot(ctx, s.name, s, false)
	}
	c.closeErr = errors.Join(errs...)
}

// waitPlugins waits until every plugin goroutine has returned, or ctx is
// done.
func (c *Coordinator) waitPlugins(ctx context.Context) error {
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: plugins still running: %w", c.prefix, deadline.Cause(ctx))
	}
}

// closeContext is the context of a close: ctx's values, not its
// cancellation, and a deadline of the close's own (HeartbeatInterval), or
// ctx's deadline when that comes sooner. So a graceful stop still releases
// when the caller's ctx is already cancelled (a signal.NotifyContext), and
// returns in bounded time whatever the store does.
func (c *Coordinator) closeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bound := c.cfg.HeartbeatInterval
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left > 0 && left < bound {
			bound = left
		}
	}
	return c.withTimeout(context.WithoutCancel(ctx), bound)
}

// close stops the loop: it steps down, waits for its plugins to return,
// releases the lease and deletes the worker record, all within
// closeContext's bound; requests still in flight then are abandoned.
func (c *Coordinator) close(ctx context.Context) error {
	cctx, cancel := c.closeContext(ctx)
	defer cancel()
	return c.closeWithin(cctx)
}

// closeWithin is close within cctx, a close's own bounded context (see
// closeContext). Every plugin run of the coordinator and of its stand-ins
// ends at once: the loop may be waiting for a request, and get to its
// shutdown only at the bound.
func (c *Coordinator) closeWithin(cctx context.Context) error {
	c.mu.Lock()
	if c.loopCancel == nil || c.isStopping() {
		c.mu.Unlock()
		select {
		case <-c.doneOrNil():
		case <-cctx.Done():
		}
		return nil
	}
	c.closeCtx = cctx
	close(c.stopping)
	c.mu.Unlock()
	c.endRuns()
	select {
	case <-c.done:
	case <-cctx.Done():
		c.loopCancel() // abandon what the loop is waiting for
		<-c.done
	}
	c.loopCancel()
	return c.closeErr
}

// endRuns ends every plugin run of c as a close begins (no run starts
// once c is stopping: startPlugin), and unsubscribes the plugins of its
// stand-ins, which then lead nothing until the loop stops them.
func (c *Coordinator) endRuns() {
	now := c.clock.Now()
	var standIns []*Coordinator
	c.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(c.subs)) {
		s := c.subs[name]
		if s.run != nil {
			s.run.end(now, ErrResigned)
		}
		if s.standIn != nil {
			standIns = append(standIns, s.standIn)
		}
	}
	c.mu.Unlock()
	for _, sc := range standIns {
		for _, name := range sc.plugins() {
			_, _ = sc.unsubscribe(name)
		}
	}
}

// endTerm ends the leadership of c and of its stand-ins now, with cause,
// from any goroutine: their plugins' contexts are cancelled at once, and
// each loop steps down when it next looks (as at the renew deadline).
func (c *Coordinator) endTerm(cause error) {
	c.mu.Lock()
	t := c.term
	var standIns []*Coordinator
	for _, name := range slices.Sorted(maps.Keys(c.subs)) {
		if sc := c.subs[name].standIn; sc != nil {
			standIns = append(standIns, sc)
		}
	}
	c.mu.Unlock()
	if t != nil {
		t.cancel(cause)
	}
	for _, sc := range standIns {
		sc.endTerm(cause)
	}
	c.poke()
}

func (c *Coordinator) isStopping() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

func (c *Coordinator) doneOrNil() <-chan struct{} {
	if c.loopCancel == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.done
}

// syncSlots applies Subscribe/Unsubscribe to the loop's view and reports
// whether plugins were added.
func (c *Coordinator) syncSlots(ctx context.Context) bool {
	c.mu.Lock()
	var added, removed []*slot
	for name, s := range c.subs {
		if c.slots[name] == nil {
			added = append(added, s)
		}
	}
	for name, s := range c.slots {
		if c.subs[name] != s {
			removed = append(removed, s)
		}
	}
	c.mu.Unlock()
	bySlotName := func(a, b *slot) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(added, bySlotName) // in name order: runs replay exactly (internal/sim)
	slices.SortFunc(removed, bySlotName)
	for _, s := range removed {
		c.dropSlot(ctx, s.name, s, true)
	}
	for _, s := range added {
		c.slots[s.name] = s
	}
	if len(added) == 0 {
		return false
	}
	renew := c.el.subscribed(added)
	c.observeLeader()
	return renew
}

// dropSlot lets go of an unsubscribed plugin: stops it, and in global mode
// (release) releases its lease if we hold it, once the plugin has
// returned, so that a per-plugin worker may take it over at once. gone is
// closed when that is done.
func (c *Coordinator) dropSlot(ctx context.Context, name string, s *slot, release bool) {
	r := c.stopPlugin(s, ErrResigned)
	c.el.stopped(name, r)
	c.stopStandIn(ctx, s)
	delete(c.slots, name)
	c.closeEvents(s)
	k := s.claim
	s.claim = nil
	releasing := release && k != nil && k.held
	if k != nil {
		k.held = false
	}
	standIn := s.standInGone
	if r == nil {
		c.mu.Lock()
		r = s.lastRun // stopped already (a step-down): still to return, perhaps
		c.mu.Unlock()
	}
	if !releasing && standIn == nil && r == nil {
		close(s.gone)
		return
	}
	c.wg.Go(func() {
		defer close(s.gone)
		switch {
		case releasing:
			c.releaseAfter(context.WithoutCancel(ctx), name, k, r)
		case r != nil:
			// Not ours to release (any more), but the unsubscription
			// ends once the plugin has returned, as releases do: within
			// HeartbeatInterval.
			select {
			case <-r.done:
			case <-c.clock.After(c.cfg.HeartbeatInterval):
			}
		}
		if standIn != nil {
			<-standIn
		}
	})
}

// closeEvents closes the observer channel of s, a slot let go of, unless
// it is another slot's; once its stand-in, which shares it, has stopped.
func (c *Coordinator) closeEvents(s *slot) {
	if s.events == nil || s.sharedEvents {
		return
	}
	if gone := s.standInGone; gone != nil {
		events := s.events
		c.wg.Go(func() {
			<-gone
			close(events)
		})
		return
	}
	close(s.events)
}

// releaseAfter releases the lease k once the run r of its plugin has
// returned, both within HeartbeatInterval (and ctx). When the plugin does
// not return in time the lease is left to expire (a delegated one with the
// namespace leadership, or once the namespace record no longer lists the
// plugin). A goroutine of its own calls it with a detached ctx and a keeper
// the loop has handed over; the loop, with its own lease.
func (c *Coordinator) releaseAfter(ctx context.Context, name string, k *leaseKeeper, r *pluginRun) {
	rctx, cancel := c.withTimeout(ctx, c.cfg.HeartbeatInterval)
	defer cancel()
	if r != nil {
		select {
		case <-r.done:
		case <-rctx.Done():
			c.log.Warn(c.prefix+" plugin still running after its leadership ended; its lease is not released", "plugin", name)
			return
		}
	}
	if err := k.release(rctx); err != nil {
		c.log.Warn(c.prefix+" releasing plugin lease", "plugin", name, "err", err)
	}
}

// startPlugin begins the leadership of one plugin under term t with the
// plugin's epoch.
func (c *Coordinator) startPlugin(s *slot, t *term, epoch uint64) {
	c.mu.Lock()
	if s.run != nil || c.subs[s.name] != s || c.isStopping() {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancelCause(t.ctx)
	pt := plugin.Term{Namespace: c.ns, Plugin: s.name, Leader: c.worker, Epoch: epoch, Mode: string(c.mode), Started: c.clock.Now()}
	r := &pluginRun{cancel: cancel, term: pt, parent: t, done: make(chan struct{})}
	s.run = r
	c.mu.Unlock()
	s.changes.fire()
	c.notePlugin(s, c.worker, epoch, c.hub.proclaimed())
	lead, _, tick := plugin.Abilities(s.p)
	// done closes when the last of the run's goroutines returns (no
	// goroutine of its own: a virtual clock's cost grows with them).
	var left atomic.Int32
	left.Store(1)
	finish := func() {
		if left.Add(-1) == 0 {
			close(r.done)
		}
	}
	if lead != nil {
		left.Add(1)
		c.wg.Go(func() {
			defer finish()
			err := lead.Lead(ctx, pt)
			if ctx.Err() == nil {
				c.resign(s, r, err, false)
			}
		})
	}
	if tick != nil {
		every := tick.Interval()
		left.Add(1)
		c.wg.Go(func() {
			defer finish()
			for ctx.Err() == nil {
				if err := tick.Tick(ctx, pt); err != nil && ctx.Err() == nil {
					c.log.Warn(c.prefix+" plugin Tick returned an error", c.attrs(s.name, "err", err)...)
				}
				select {
				case <-ctx.Done():
				case <-c.clock.After(every):
				}
			}
		})
	}
	finish()
}

// resign hands the loop a run whose Lead returned while it still led (or
// that Subscription.Resign ends: asked).
func (c *Coordinator) resign(s *slot, r *pluginRun, err error, asked bool) {
	c.mu.Lock()
	if s.run == r && s.resigned == nil {
		r.err, r.asked = err, asked
		s.resigned = r
	}
	c.mu.Unlock()
	c.poke()
}

// endResignations ends the leaderships whose Lead returned (see
// plugin.Leader): the plugin stops, its lease is released once it has
// returned, and this process does not lead it again before a back-off.
// It reports whether a global leader must list its claims anew.
func (c *Coordinator) endResignations(ctx context.Context) bool {
	type ended struct {
		s *slot
		r *pluginRun
	}
	var todo []ended
	c.mu.Lock()
	for _, name := range c.slotNames() {
		s := c.slots[name]
		if r := s.resigned; r != nil {
			// Also when the leadership has ended meanwhile (the renew
			// deadline, say): the back-off holds either way.
			s.resigned = nil
			todo = append(todo, ended{s, r})
		}
	}
	c.mu.Unlock()
	now := c.clock.Now()
	for _, e := range todo {
		s, r := e.s, e.r
		why := "Lead returned"
		if r.asked {
			why = "Resign"
		} else {
			c.leadReturns.Add(1)
		}
		if r.err != nil {
			c.leadErrors.Add(1)
		}
		if now.Sub(r.term.Started) >= c.cfg.LeaseTimeout {
			s.earlyReturns = 0
		}
		s.earlyReturns++
		backoff := min(2*c.cfg.HeartbeatInterval<<min(s.earlyReturns-1, 16), 4*c.cfg.LeaseTimeout)
		s.backoff, s.backoffUntil = backoff, now.Add(backoff)
		c.log.Warn(c.prefix+" resigning the plugin: "+why, c.attrs(s.name, "epoch", r.term.Epoch,
			"err", r.err, "backoff", backoff)...)
		c.mu.Lock()
		leading := s.run == r
		c.mu.Unlock()
		c.el.resign(ctx, s, r, leading, why)
	}
	return len(todo) > 0 && c.el.claimsChanged()
}

// backoffFromRelease starts the back-off of a resigned plugin again now,
// when its run has returned and its lease is released (or left to
// expire): a run slow to stop must not use up the back-off while it
// still holds the plugin, or the resigning process takes the plugin back
// before any other candidate could. It reports when the back-off ends
// (zero: no back-off pending).
func (s *slot) backoffFromRelease(now time.Time) time.Time {
	if s.backoff == 0 {
		return time.Time{}
	}
	s.backoffUntil = later(s.backoffUntil, now.Add(s.backoff))
	s.backoff = 0
	return s.backoffUntil
}

// stopPlugin ends the plugin's run, if any, with cause, and returns it.
func (c *Coordinator) stopPlugin(s *slot, cause error) *pluginRun {
	c.mu.Lock()
	r := s.run
	s.run = nil
	if r != nil {
		s.lastRun = r
	}
	c.mu.Unlock()
	if r != nil {
		r.end(c.clock.Now(), cause)
		s.changes.fire()
		c.notePlugin(s, "", r.term.Epoch, "")
	}
	return r
}

// observeLeader turns the current view of the lease into notifications.
func (c *Coordinator) observeLeader() {
	k := c.lease
	leader, epoch, value := "", c.lastEpoch, ""
	switch {
	case k.held:
		leader, epoch, value = c.worker, k.rec.Epoch, k.rec.Value
	case k.obs.rec != nil && !k.obs.rec.Released && !k.ours():
		// (a record of ours while we do not lead: nobody leads)
		leader, epoch, value = k.obs.rec.Leader, k.obs.rec.Epoch, k.obs.rec.Value
	}
	if leader != "" && leader == c.lastLeader && epoch == c.lastEpoch && value != c.lastValue {
		c.lastValue = value // the leader proclaimed a new value: news for watchers
		c.emit(plugin.Change{Namespace: c.ns, Plugin: c.plugin, From: leader, To: leader, Epoch: epoch, Value: value, Self: leader == c.worker})
	}
	if leader != c.lastLeader || (leader != "" && epoch != c.lastEpoch) {
		from := c.lastLeader
		c.lastLeader, c.lastEpoch, c.lastValue = leader, epoch, value
		c.el.leaderChanged()
		if from != leader {
			c.leaderChanges.Add(1)
		}
		// Always at Info: the line operators look for in an incident.
		c.log.Info(fmt.Sprintf("%s Leader changed: %s → %s (epoch: %d)", c.prefix, orNone(from), orNone(leader), epoch),
			c.attrs("", "from", from, "leader", leader, "epoch", epoch)...)
		c.emit(plugin.Change{Namespace: c.ns, Plugin: c.plugin, From: from, To: leader, Epoch: epoch, Value: value, Self: leader == c.worker && leader != ""})
	}
	for _, s := range c.sortedSlots() {
		c.el.note(s, leader, epoch, value)
	}
}

func orNone(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// notePlugin sends a plugin's observer a change (of leader, epoch or the
// leader's proclaimed value), once per change. A change to no leader
// with epoch 0 keeps the last epoch.
func (c *Coordinator) notePlugin(s *slot, leader string, epoch uint64, value string) {
	n := s.note
	n.mu.Lock()
	defer n.mu.Unlock()
	if leader == "" && epoch == 0 {
		epoch = n.epoch
	}
	if n.told && leader == n.leader && (leader == "" || (epoch == n.epoch && value == n.value)) {
		return
	}
	if !n.told && leader == "" {
		n.told = true
		return
	}
	from := n.leader
	ch := plugin.Change{Namespace: c.ns, Plugin: s.name, From: from, To: leader, Epoch: epoch, Value: value, Self: leader != "" && leader == c.worker}
	n.told, n.leader, n.epoch, n.value = true, leader, epoch, value
	if from != leader {
		c.hub.history.add(HistoryEntry{At: c.clock.Now(), Namespace: c.ns, Plugin: s.name, From: from, To: leader, Epoch: epoch, Self: ch.Self})
	}
	if s.events == nil {
		return
	}
	c.sendLatest(s.events, ch)
}

// sendLatest sends ch on a buffered channel without blocking: when the
// channel is full its oldest event is dropped (and counted) to make room,
// so a slow reader always gets the latest state last.
func (c *Coordinator) sendLatest(out chan plugin.Change, ch plugin.Change) {
	for {
		select {
		case out <- ch:
			return
		default:
		}
		select {
		case <-out:
			c.dropped.Add(1)
		default:
		}
	}
}

func (c *Coordinator) emit(ch plugin.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latest = &ch
	for _, w := range c.watchers {
		c.sendLatest(w.ch, ch)
	}
}

// attrs are the slog attributes of a line about this election: namespace
// and plugin (the coordinator's, or name when not empty), then kv.
func (c *Coordinator) attrs(name string, kv ...any) []any {
	a := []any{"namespace", c.ns}
	if name == "" {
		name = c.plugin
	}
	if name != "" {
		a = append(a, "plugin", name)
	}
	return append(a, kv...)
}

func (c *Coordinator) diag(msg string) {
	level := slog.LevelDebug
	if c.cfg.Diagnostics {
		level = slog.LevelInfo
	}
	if ctx := context.Background(); c.log.Enabled(ctx, level) { // no line built for nothing
		c.log.Log(ctx, level, c.prefix+" "+msg)
	}
}

func (c *Coordinator) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return time.Duration(c.rng.Int64N(int64(d)))
}

func (c *Coordinator) randomToken() string {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return fmt.Sprintf("%016x", c.rng.Uint64())
}

func (c *Coordinator) requestTimeout() time.Duration { return c.cfg.HeartbeatInterval }

// withTimeout is context.WithTimeout on the coordinator's Clock, so that a
// request slowed down in virtual time times out in virtual time too. The
// context's cause is context.DeadlineExceeded when the time ran out.
func (c *Coordinator) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return deadline.WithTimeout(ctx, c.deadlineClock(), d)
}

// deadlineClock is the clock of request deadlines (see deadlineClockOf).
func (c *Coordinator) deadlineClock() deadline.Clock { return deadlineClockOf(c.clock) }

// deadlineClockOf is the clock of request deadlines for clock: nil (the
// time package, whose contexts carry real deadlines) for clock.Real.
func deadlineClockOf(clock clock.Clock) deadline.Clock {
	if clock == realClock {
		return nil
	}
	return clock
}

// sleep waits d unless the coordinator stops (false).
func (c *Coordinator) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-c.clock.After(d):
		return true
	case <-c.stopping:
		return false
	case <-ctx.Done():
		return false
	}
}

func (c *Coordinator) sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-c.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Coordinator) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ---- public API ----

// isLeader reports whether this process leads the election right now.
func (c *Coordinator) isLeader() bool {
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	return t.alive(c.clock.Now())
}

// epoch returns the epoch of the leader this process last knew of (its own
// when leading): the namespace epoch in Global mode, the plugin's epoch in
// PerPlugin mode.
func (c *Coordinator) epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.term != nil {
		return c.term.epoch
	}
	return c.hub.epochs.get(c.lease.key)
}

// Leader reads the lease record and reports who holds it. A missing
// record gives a zero LeaderInfo and no error. A single read cannot tell
// a live holder from a crashed one: Released and Renewed (the holder's
// clock) are the hints.
func (c *Coordinator) Leader(ctx context.Context) (LeaderInfo, error) {
	return readLeader(ctx, c.store, c.lease.key, c.ns, c.plugin)
}

func (c *Coordinator) subscribe(name string, p plugin.Plugin) (*slot, error) {
	s := &slot{name: name, p: p, gone: make(chan struct{}), changes: newSignal(), note: &noted{}}
	if _, o, _ := plugin.Abilities(p); o != nil {
		s.events = make(chan plugin.Change, observerBuffer)
		go func() {
			for ch := range s.events {
				o.LeaderChanged(ch)
			}
		}()
	}
	c.mu.Lock()
	if c.closed || c.isStopping() {
		c.mu.Unlock()
		if s.events != nil {
			close(s.events)
		}
		return nil, ErrClosed
	}
	if c.subs[name] != nil {
		c.mu.Unlock()
		if s.events != nil {
			close(s.events)
		}
		return nil, fmt.Errorf("%w: %q in namespace %q", ErrAlreadySubscribed, name, c.ns)
	}
	c.subs[name] = s
	c.mu.Unlock()
	c.diag("Plugin subscribed: " + name)
	c.poke()
	return s, nil
}

// unsubscribe removes a plugin. Its leadership context is cancelled at
// once; the loop then releases the plugin's lease if this process held it.
func (c *Coordinator) unsubscribe(name string) (*slot, error) {
	c.mu.Lock()
	s := c.subs[name]
	if s == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("coord: plugin %q not subscribed", name)
	}
	delete(c.subs, name)
	if s.run != nil {
		s.run.end(c.clock.Now(), ErrResigned)
	}
	sc := s.standIn
	c.mu.Unlock()
	if sc != nil {
		_, _ = sc.unsubscribe(name) // its run ends now too; the loop stops the stand-in
	}
	c.poke()
	return s, nil
}

// plugins lists the subscribed plugins, sorted.
func (c *Coordinator) plugins() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.subs))
	for n := range c.subs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Observe returns a channel of the leader changes of this coordinator's
// election (the namespace's in Global mode, the plugin's in PerPlugin
// mode), a change to no leader included, as etcd's Election.Observe: its
// first event is the last change seen before the call (the current
// leader, as this process knows it; none when no change was seen yet),
// and it is closed when ctx is done or the coordinator stops. A slow
// reader never blocks the loop and never keeps a stale leader: when the
// channel's buffer (64 events) is full its oldest event is dropped
// (counted in Metrics.DroppedEvents), so the last event read is the
// latest state. Change.Self marks this process's own leadership.
func (c *Coordinator) Observe(ctx context.Context) <-chan plugin.Change {
	w := &watcher{ch: make(chan plugin.Change, observerBuffer)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		w.closed = true
		close(w.ch)
		return w.ch
	}
	c.watchers = append(c.watchers, w)
	if c.latest != nil {
		w.ch <- *c.latest // the buffer is empty
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-c.done:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !w.closed {
			w.closed = true
			close(w.ch)
			c.watchers = slices.DeleteFunc(c.watchers, func(x *watcher) bool { return x == w })
		}
	}()
	return w.ch
}

// Metrics returns a snapshot of the coordinator's counters and of the
// state of its loop and store (no request: it answers in an outage too).
func (c *Coordinator) Metrics() Metrics {
	state, trips := c.store.breaker()
	lat := c.latency.summary()
	m := Metrics{
		Namespace: c.ns, Mode: c.mode, Plugin: c.plugin, WorkerID: c.worker, Plugins: c.plugins(),
		HeartbeatCount:     c.heartbeats.Load(),
		ElectionCount:      c.elections.Load(),
		LeaderChanges:      c.leaderChanges.Load(),
		WorkerCount:        int(c.workerCount.Load()),
		DuplicateWorkerIDs: c.member.duplicates.Load(),
		Epoch:              c.epoch(),
		Requests:           c.store.Requests(),
		PreconditionsLost:  c.store.preconditions.Load(),
		Errors:             c.store.errors.Load() + c.corrupt.Load(),
		CorruptRecords:     c.corrupt.Load(),
		HeartbeatP50:       lat.p50,
		HeartbeatP95:       lat.p95,
		HeartbeatP99:       lat.p99,
		Breaker:            state,
		BreakerTrips:       trips,
		FallbackActive:     c.fallback,
		UnsafeStore:        c.unsafeSeen.Load(),
		Ends:               c.ends.snapshot(),
		LeadReturns:        c.leadReturns.Load(),
		LeadErrors:         c.leadErrors.Load(),
		DroppedEvents:      c.dropped.Load(),
	}
	if t := c.lastBeatTime.Load(); t != nil {
		m.LastHeartbeatTime = *t
	}
	c.store.mu.Lock()
	m.ConsecutiveFailures = c.store.failures
	c.store.mu.Unlock()
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	if t.alive(c.clock.Now()) {
		t.mu.Lock()
		m.LeadsUntil = t.deadline
		t.mu.Unlock()
		m.IsLeader, m.RenewedAt = true, m.LeadsUntil.Add(-c.cfg.RenewDeadline)
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
