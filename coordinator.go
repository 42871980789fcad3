package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
)

// Coordinator runs one election: a namespace (Global mode, shared by the
// namespace's plugins) or one plugin (PerPlugin mode). It is created by a
// Hub and runs one loop goroutine; its methods are safe for concurrent use.
type Coordinator struct {
	hub      *Hub
	cfg      Config
	clock    Clock
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
	lease       *leaseKeeper
	nsWatch     *leaseKeeper // PerPlugin: observer of the namespace lease
	nsFailSince time.Time    // first of the current run of failed reads of the namespace record
	slots       map[string]*slot
	fresh       bool // the lease observation was just read by start
	coldStart   bool // the namespace lease was absent when we won it
	retries     int
	cleanupDue  bool
	member      membership
	lastLeader  string
	lastEpoch   uint64
	quickPolled int // early reads since the leader we see changed (soonerIfUnlisted)

	// Shared state, under mu.
	mu       sync.Mutex
	subs     map[string]*slot
	term     *term // current leadership, nil when not leading
	watchers []*watcher
	closed   bool

	heartbeats    atomic.Uint64
	elections     atomic.Uint64
	leaderChanges atomic.Uint64
	corrupt       atomic.Uint64
	dropped       atomic.Uint64
	workerCount   atomic.Int64
	lastBeatTime  atomic.Pointer[time.Time]
	latency       latencyRing

	wake       chan struct{}
	stopping   chan struct{}
	loopCtx    context.Context
	loopCancel context.CancelFunc
	done       chan struct{}
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
	run *pluginRun

	// loop-owned: last change notified
	lastLeader string
	lastEpoch  uint64
	noted      bool
}

type pluginRun struct {
	cancel context.CancelFunc
	term   plugin.Term
	parent *term
}

type watcher struct {
	ch     chan plugin.Change
	closed bool
}

const observerBuffer = 64

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
	c.rng = rand.New(rand.NewPCG(h.seed(), h.seed()))
	c.store = newMeteredStore(h.store, c.clock, cfg.HeartbeatInterval)
	if mode == Global {
		c.prefix = fmt.Sprintf("[coordinator:global] [%s]", ns)
		c.lease = c.newKeeper(namespaceLeaseKey(cfg.Root, ns), "")
	} else {
		c.prefix = fmt.Sprintf("[coordinator:per-plugin] [%s/%s]", ns, pluginName)
		c.lease = c.newKeeper(pluginLeaseKey(cfg.Root, ns, pluginName), pluginName)
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
			c.shutdown(ctx)
			return
		default:
		}
		if c.syncSlots(ctx) && c.lease.held && c.mode == Global {
			// A plugin subscribed while we lead: list it in a renewal
			// now, then claim it (claims follow the listing).
			nextLease = c.clock.Now()
		}
		if now := c.clock.Now(); !now.Before(nextLease) {
			d := c.leaseCycle(ctx)
			end := c.clock.Now()
			c.heartbeats.Add(1)
			c.latency.add(end.Sub(now))
			c.lastBeatTime.Store(&end)
			c.diag("Heartbeat cycle executed")
			nextLease = end.Add(d)
		}
		nextBeat := c.member.cycle(ctx)
		next := nextLease
		if !nextBeat.IsZero() && nextBeat.Before(next) {
			next = nextBeat
		}
		var lost <-chan struct{}
		if c.lease.held {
			lost = c.lease.term.ctx.Done()
		}
		select {
		case <-c.stopping:
		case <-c.clock.After(next.Sub(c.clock.Now())):
		case <-c.wake:
		case <-lost:
			c.stepDown("renew deadline passed")
		}
	}
}

// shutdown: step down, release, deregister, let go of plugins.
func (c *Coordinator) shutdown(ctx context.Context) {
	var errs []error
	held := c.lease.held
	c.stepDown("stopping")
	c.store.probe()
	if held || c.lease.ours() {
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

// close stops the loop; ctx bounds the release and deregistration (a
// cancelled ctx stops without writing anything, as a crash would).
func (c *Coordinator) close(ctx context.Context) error {
	c.mu.Lock()
	if c.loopCancel == nil || c.isStopping() {
		c.mu.Unlock()
		<-c.doneOrNil()
		return nil
	}
	if ctx.Err() != nil {
		c.loopCancel() // before the loop sees stopping: nothing is written
	}
	stop := context.AfterFunc(ctx, c.loopCancel)
	close(c.stopping)
	c.mu.Unlock()
	<-c.done
	stop()
	c.loopCancel()
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		if c.closeErr == nil {
			return fmt.Errorf("%s: plugins still running: %w", c.prefix, ctx.Err())
		}
	}
	return c.closeErr
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
		if c.mode == PerPlugin && c.lease.held && c.lease.term.alive(c.clock.Now()) {
			c.startPlugin(s, c.lease.term, c.lease.term.epoch)
		}
	}
	if len(added) > 0 {
		c.quickPolled = 0
		c.observeLeader()
	}
	return len(added) > 0
}

// dropSlot lets go of an unsubscribed plugin: stops it, and in global mode
// releases its lease if we hold it, so that a per-plugin worker may take
// it over at once.
func (c *Coordinator) dropSlot(ctx context.Context, name string, s *slot, release bool) {
	c.stopPlugin(s)
	if s.claim != nil && s.claim.held {
		s.claim.held = false
		if release {
			if err := s.claim.release(ctx); err != nil {
				c.log.Warn(c.prefix+" releasing plugin lease", "plugin", name, "err", err)
			}
		}
	}
	delete(c.slots, name)
	if s.events != nil {
		close(s.events)
	}
	close(s.gone)
}

// startPlugin begins the leadership of one plugin under term t with the
// plugin's epoch.
func (c *Coordinator) startPlugin(s *slot, t *term, epoch uint64) {
	c.mu.Lock()
	if s.run != nil || c.subs[s.name] != s {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	pt := plugin.Term{Namespace: c.ns, Plugin: s.name, Leader: c.worker, Epoch: epoch, Mode: string(c.mode), Started: c.clock.Now()}
	s.run = &pluginRun{cancel: cancel, term: pt, parent: t}
	c.mu.Unlock()
	c.notePlugin(s, c.worker, epoch)
	if l, ok := s.p.(plugin.Leader); ok {
		c.wg.Go(func() {
			if err := l.Lead(ctx, pt); err != nil && ctx.Err() == nil {
				c.log.Warn(c.prefix+" plugin Lead returned an error", "plugin", s.name, "err", err)
			}
		})
	}
	if p, ok := s.p.(plugin.Periodic); ok && p.Interval() > 0 {
		every := p.Interval()
		c.wg.Go(func() {
			for ctx.Err() == nil {
				if err := p.Tick(ctx, pt); err != nil && ctx.Err() == nil {
					c.log.Warn(c.prefix+" plugin Tick returned an error", "plugin", s.name, "err", err)
				}
				select {
				case <-ctx.Done():
				case <-c.clock.After(every):
				}
			}
		})
	}
}

func (c *Coordinator) stopPlugin(s *slot) {
	c.mu.Lock()
	r := s.run
	s.run = nil
	c.mu.Unlock()
	if r != nil {
		r.cancel()
		c.notePlugin(s, "", r.term.Epoch)
	}
}

// observeLeader turns the current view of the lease into notifications.
func (c *Coordinator) observeLeader() {
	k := c.lease
	leader, epoch := "", c.lastEpoch
	switch {
	case k.held:
		leader, epoch = c.worker, k.rec.Epoch
	case k.obs.rec != nil && !k.obs.rec.Released && !k.ours():
		// (a record of ours while we do not lead: nobody leads)
		leader, epoch = k.obs.rec.Leader, k.obs.rec.Epoch
	}
	if leader != c.lastLeader || (leader != "" && epoch != c.lastEpoch) {
		from := c.lastLeader
		c.lastLeader, c.lastEpoch = leader, epoch
		c.quickPolled = 0
		if from != leader {
			c.leaderChanges.Add(1)
		}
		c.diag(fmt.Sprintf("Leader changed: %s → %s (epoch: %d)", orNone(from), orNone(leader), epoch))
		c.emit(plugin.Change{Namespace: c.ns, Plugin: c.plugin, From: from, To: leader, Epoch: epoch, Self: leader == c.worker && leader != ""})
	}
	for _, s := range c.sortedSlots() {
		switch {
		case c.mode == PerPlugin:
			c.notePlugin(s, leader, epoch)
		case k.held: // our own claims notify from startPlugin/stopPlugin
		case k.obs.rec != nil && !k.obs.rec.Released && !k.ours() && k.obs.rec.Plugins[s.name] != 0:
			c.notePlugin(s, k.obs.rec.Leader, k.obs.rec.Plugins[s.name])
		default:
			c.notePlugin(s, "", s.lastEpoch)
		}
	}
}

func orNone(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// notePlugin sends a plugin's observer a change, once per change.
func (c *Coordinator) notePlugin(s *slot, leader string, epoch uint64) {
	if s.noted && leader == s.lastLeader && (leader == "" || epoch == s.lastEpoch) {
		return
	}
	if !s.noted && leader == "" {
		s.noted = true
		return
	}
	ch := plugin.Change{Namespace: c.ns, Plugin: s.name, From: s.lastLeader, To: leader, Epoch: epoch, Self: leader != "" && leader == c.worker}
	s.noted, s.lastLeader, s.lastEpoch = true, leader, epoch
	if s.events == nil {
		return
	}
	select {
	case s.events <- ch:
	default:
		c.dropped.Add(1)
	}
}

func (c *Coordinator) emit(ch plugin.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watchers {
		select {
		case w.ch <- ch:
		default:
			c.dropped.Add(1)
		}
	}
}

func (c *Coordinator) diag(msg string) {
	level := slog.LevelDebug
	if c.cfg.Diagnostics {
		level = slog.LevelInfo
	}
	c.log.Log(context.Background(), level, c.prefix+" "+msg)
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
	if c.clock == RealClock {
		return context.WithTimeout(ctx, d)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	fired := c.clock.After(d) // before the goroutine: timers are made in program order
	go func() {
		select {
		case <-fired:
			cancel(context.DeadlineExceeded)
		case <-tctx.Done():
		}
	}()
	return tctx, func() { cancel(context.Canceled) }
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

// Namespace returns the coordinator's namespace.
func (c *Coordinator) Namespace() string { return c.ns }

// Mode returns Global or PerPlugin.
func (c *Coordinator) Mode() Mode { return c.mode }

// Plugin returns the plugin of a PerPlugin coordinator ("" for Global).
func (c *Coordinator) Plugin() string { return c.plugin }

// WorkerID returns this process's worker id in the namespace.
func (c *Coordinator) WorkerID() string { return c.worker }

// IsLeader reports whether this process leads the election right now.
func (c *Coordinator) IsLeader() bool {
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	return t.alive(c.clock.Now())
}

// Epoch returns the epoch of the leader this process last knew of (its own
// when leading): the namespace epoch in Global mode, the plugin's epoch in
// PerPlugin mode.
func (c *Coordinator) Epoch() uint64 {
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

// Subscribe adds a plugin to a Global coordinator. The plugin is led by
// the namespace leader once that leader has claimed the plugin's lease.
func (c *Coordinator) Subscribe(name string, p plugin.Plugin) error {
	if err := ValidateName("plugin", name); err != nil {
		return err
	}
	if c.mode != Global {
		return fmt.Errorf("%w: %s runs one plugin", ErrWrongMode, c.prefix)
	}
	if _, err := c.subscribe(name, p); err != nil {
		return err
	}
	return nil
}

func (c *Coordinator) subscribe(name string, p plugin.Plugin) (*slot, error) {
	s := &slot{name: name, p: p, gone: make(chan struct{})}
	if o, ok := p.(plugin.Observer); ok {
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

// Unsubscribe removes a plugin. Its leadership context is cancelled at
// once; the loop then releases the plugin's lease if this process held it.
func (c *Coordinator) Unsubscribe(name string) error {
	_, err := c.unsubscribe(name)
	return err
}

func (c *Coordinator) unsubscribe(name string) (*slot, error) {
	c.mu.Lock()
	s := c.subs[name]
	if s == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrNotSubscribed, name)
	}
	delete(c.subs, name)
	if s.run != nil {
		s.run.cancel()
	}
	c.mu.Unlock()
	c.poke()
	return s, nil
}

// Plugins lists the subscribed plugins, sorted.
func (c *Coordinator) Plugins() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.subs))
	for n := range c.subs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Watch returns a channel of leader changes of this coordinator's
// election, with room for buffer events (at least 1); events that do not
// fit are dropped and counted in Metrics.DroppedEvents, so a slow reader
// never blocks the loop. Call stop to end the watch; the channel is closed
// then, or when the coordinator stops.
func (c *Coordinator) Watch(buffer int) (<-chan plugin.Change, func()) {
	w := &watcher{ch: make(chan plugin.Change, max(buffer, 1))}
	c.mu.Lock()
	if c.closed {
		close(w.ch)
		w.closed = true
	} else {
		c.watchers = append(c.watchers, w)
	}
	c.mu.Unlock()
	return w.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.closed {
			return
		}
		w.closed = true
		close(w.ch)
		c.watchers = slices.DeleteFunc(c.watchers, func(x *watcher) bool { return x == w })
	}
}

// Metrics returns a snapshot of the coordinator's counters.
func (c *Coordinator) Metrics() Metrics {
	state, trips := c.store.breaker()
	m := Metrics{
		HeartbeatCount:    c.heartbeats.Load(),
		ElectionCount:     c.elections.Load(),
		LeaderChanges:     c.leaderChanges.Load(),
		WorkerCount:       int(c.workerCount.Load()),
		Epoch:             c.Epoch(),
		IsLeader:          c.IsLeader(),
		Requests:          c.store.Requests(),
		PreconditionsLost: c.store.preconditions.Load(),
		Errors:            c.store.errors.Load() + c.corrupt.Load(),
		CorruptRecords:    c.corrupt.Load(),
		HeartbeatLatency:  c.latency.summary(),
		Breaker:           state,
		BreakerTrips:      trips,
		FallbackActive:    c.fallback,
		DroppedEvents:     c.dropped.Load(),
		Subscribed:        len(c.Plugins()),
	}
	if t := c.lastBeatTime.Load(); t != nil {
		m.LastHeartbeatTime = *t
	}
	return m
}
