package coord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// The namespace election (Global mode): its leader leads every plugin it
// lists in the namespace record and claims, each over the plugin's own
// lease, delegated to the namespace term; followers learn who leads
// which plugin from the record; stand-ins lead the plugins the leader
// does not subscribe.

// namespaceElection is the Global election (see election).
type namespaceElection struct {
	c           *Coordinator
	quickPolled int // early reads since the leader we see changed (waitFor)
	// A stand-in is handing back a plugin we list, so the claims are
	// tried again before the next renewal, which is due at renewDue
	// (zero: a renewal is due at the next cycle).
	renewDue time.Time
	// draining: plugins this leader stopped leading (resigned or
	// unsubscribed) whose Lead or Tick may still run; they stay in Claims
	// until the run returns or HeartbeatInterval has passed (see
	// claimNames), so no other process leads them beside it.
	draining map[string]drain
	// listedAt: when the Claims last written (or being written) were
	// drawn up; a back-off that ends after it is relisted at its end
	// (relistAt).
	listedAt time.Time
}

// drain is a stopped run still listed (see namespaceElection.draining).
type drain struct {
	done  <-chan struct{}
	until time.Time
}

// stopped lists the plugin of the run r, just stopped, until r returns
// (bounded by HeartbeatInterval, as releaseAfter is), and pokes the loop
// then so that the next renewal drops it.
func (g *namespaceElection) stopped(name string, r *pluginRun) {
	c := g.c
	if r == nil || !c.lease.held {
		return
	}
	if g.draining == nil {
		g.draining = make(map[string]drain)
	}
	until := c.clock.Now().Add(c.cfg.HeartbeatInterval)
	g.draining[name] = drain{done: r.done, until: until}
	c.wg.Go(func() {
		select {
		case <-r.done:
		case <-c.clock.After(until.Sub(c.clock.Now())):
		}
		c.poke()
	})
}

// listedWhileDraining reports whether name is a stopped plugin still to
// be listed at now.
func (g *namespaceElection) listedWhileDraining(name string, now time.Time) bool {
	d, ok := g.draining[name]
	if !ok {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return now.Before(d.until)
	}
}

// drained forgets the stopped runs that have returned (or timed out) and
// reports whether the Claims must be written again without them.
func (g *namespaceElection) drained() bool {
	now := g.c.clock.Now()
	changed := false
	for name := range g.draining {
		if !g.listedWhileDraining(name, now) {
			delete(g.draining, name)
			if s := g.c.slots[name]; s != nil {
				s.backoffFromRelease(g.c.clock.Now()) // resigned: its back-off starts now
			}
			changed = true
		}
	}
	return changed && g.claimsChanged()
}

// takeover lists the plugins subscribed: they are listed before they are
// claimed.
func (g *namespaceElection) takeover() leaseRecord {
	g.listedAt = g.c.clock.Now()
	return leaseRecord{Mode: string(Global), Claims: g.claimNames()}
}

// renewal lists the plugins led (Plugins) and claimable (Claims).
func (g *namespaceElection) renewal() func(*leaseRecord) {
	g.renewDue, g.listedAt = time.Time{}, g.c.clock.Now()
	claimed, names := g.c.claimedEpochs(), g.claimNames()
	return func(r *leaseRecord) { r.Plugins, r.Claims = claimed, names }
}

// between: claims only, while a stand-in hands a plugin back, or until a
// back-off ends that the Claims must list again (then: renew now).
func (g *namespaceElection) between(ctx context.Context, now time.Time) (time.Duration, bool) {
	if due := g.renewDue; now.Before(due) && !g.relistDue(now) {
		return g.leading(ctx, due), true
	}
	return 0, false
}

func (g *namespaceElection) adopted(ctx context.Context) {
	g.c.claimPlugins(ctx, g.c.clock.Now().Add(g.c.cfg.HeartbeatInterval/2))
}

// judge: the observation decides (plugin leases are judged by claims).
func (g *namespaceElection) judge(_ context.Context, at time.Time, jitter bool) (time.Time, bool, bool) {
	return at, jitter, true
}

func (g *namespaceElection) waitFor(d time.Duration, lostRace bool) time.Duration {
	return g.soonerIfUnlisted(d, lostRace)
}

func (g *namespaceElection) started(*term)  {} // plugins lead by claims
func (g *namespaceElection) steppedDown()   { g.renewDue, g.draining = time.Time{}, nil }
func (g *namespaceElection) leaderChanged() { g.quickPolled = 0 }

// subscribed: list the new plugins in a renewal now, then claim them
// (claims follow the listing).
func (g *namespaceElection) subscribed([]*slot) bool {
	g.quickPolled = 0
	return g.claimsChanged()
}

// claimsChanged: a leader lists its Claims at once.
func (g *namespaceElection) claimsChanged() bool {
	if !g.c.lease.held {
		return false
	}
	g.renewDue = time.Time{}
	return true
}

// resign ends the plugin's run and releases its lease once the run has
// returned; the namespace leadership goes on. The back-off starts again
// once the run has returned (drained), so the plugin stays out of Claims
// for a whole back-off after its release.
func (g *namespaceElection) resign(ctx context.Context, s *slot, r *pluginRun, leading bool, why string) {
	c := g.c
	if !leading {
		s.backoffFromRelease(c.clock.Now())
		return
	}
	c.stopPlugin(s, fmt.Errorf("%w: %s", ErrResigned, why))
	g.stopped(s.name, r)
	if k := s.claim; k != nil && k.held {
		s.claim = nil // the loop claims with a new keeper after the back-off
		k.held = false
		c.wg.Go(func() { c.releaseAfter(context.WithoutCancel(ctx), s.name, k, r) })
	}
}

// note: a follower learns who leads each plugin from Plugins of the
// namespace record; a leader's own claims and stand-ins notify for
// themselves.
func (g *namespaceElection) note(s *slot, _ string, _ uint64, value string) {
	c, k := g.c, g.c.lease
	switch {
	case s.standIn != nil: // the stand-in notifies
	case k.held: // our own claims notify from startPlugin/stopPlugin
	case k.obs.rec != nil && !k.obs.rec.Released && !k.ours() && k.obs.rec.Plugins[s.name] != 0:
		c.notePlugin(s, k.obs.rec.Leader, k.obs.rec.Plugins[s.name], value)
	default:
		c.notePlugin(s, "", 0, "")
	}
}

func (g *namespaceElection) cycled(ctx context.Context) { g.c.syncStandIns(ctx) }

func (g *namespaceElection) ended() bool { return g.drained() }

// leading runs the claims of a namespace leader whose next renewal is due
// at next, and returns the delay to its next cycle: claims do not push
// renewals back, except that they always get HeartbeatInterval/2.
func (g *namespaceElection) leading(ctx context.Context, next time.Time) time.Duration {
	c := g.c
	handingBack := c.claimPlugins(ctx, later(next, c.clock.Now().Add(c.cfg.HeartbeatInterval/2)))
	if c.claimsUnlisted() {
		// Followers learn who leads a plugin from Plugins in the
		// namespace record: list the claims just confirmed by renewing
		// now (the ordinary renewal: IfMatch, seq+1, a new renew start)
		// instead of a heartbeat later. Once per batch of claims, never
		// in steady state.
		g.renewDue = time.Time{}
		return 0
	}
	now := c.clock.Now()
	wait := max(next.Sub(now), 0)
	early := wait
	if handingBack {
		// A stand-in holds a plugin we list: it releases it once its
		// process reads our record; read it again in a quarter heartbeat
		// (a GET), not a heartbeat later, so the plugin is not left
		// without a leader for a heartbeat.
		early = min(early, c.cfg.HeartbeatInterval/4)
	}
	if at := g.relistAt(); !at.IsZero() {
		// A resigned plugin's back-off ends before the next renewal:
		// list it again then (between renews), not up to a heartbeat
		// later, in case no other process took it meanwhile.
		early = min(early, max(at.Sub(now), 0))
	}
	if early < wait {
		g.renewDue = next
		return early
	}
	g.renewDue = time.Time{}
	return wait
}

// relistAt is the end of the first back-off of a subscribed plugin that
// ends after the Claims last written were drawn up (zero: none).
func (g *namespaceElection) relistAt() time.Time {
	var at time.Time
	for _, s := range g.c.slots {
		if u := s.backoffUntil; u.After(g.listedAt) && (at.IsZero() || u.Before(at)) {
			at = u
		}
	}
	return at
}

// relistDue reports whether a back-off has ended that the Claims do not
// reflect yet: a renewal is due now.
func (g *namespaceElection) relistDue(now time.Time) bool {
	at := g.relistAt()
	return !at.IsZero() && !now.Before(at)
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
// version keeps the time it was first seen, so an early read never
// shortens the wait for expiry.
func (g *namespaceElection) soonerIfUnlisted(d time.Duration, lostRace bool) time.Duration {
	c := g.c
	if c.lease.held || len(c.slots) == 0 || g.quickPolled >= quickPolls {
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
	step := max(c.cfg.HeartbeatInterval/20, time.Millisecond) << g.quickPolled
	g.quickPolled++
	return min(d, step/2+c.jitter(step/2))
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

// claimNames lists the plugins a namespace leader may lead now, sorted:
// the subscribed ones, less those resigned and still in their back-off,
// plus those stopped whose run may still be running (draining).
func (g *namespaceElection) claimNames() []string {
	c := g.c
	now := c.clock.Now()
	var names []string
	for _, name := range c.slotNames() {
		if !now.Before(c.slots[name].backoffUntil) || g.listedWhileDraining(name, now) {
			names = append(names, name)
		}
	}
	for name := range g.draining {
		if c.slots[name] == nil && g.listedWhileDraining(name, now) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
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
	todo := c.claimable()
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
		wg.Go(func() { c.claim(ctx, s.claim, t, c.lease.acquiredCold) })
	}
	wg.Wait()
	for _, s := range todo {
		handingBack = c.claimed(s, t) || handingBack
	}
	return handingBack
}

// claimable returns the plugins to claim, in name order (their keepers
// draw from the rng): those listed in our last confirmed write (see
// Claims) that we do not hold, and not while a stand-in of ours may
// still hold the lease.
func (c *Coordinator) claimable() []*slot {
	now := c.clock.Now()
	var todo []*slot
	for _, s := range c.sortedSlots() {
		if s.claim == nil {
			s.claim = c.newKeeper(pluginLeaseKey(c.cfg.Root, c.ns, s.name), s.name)
		}
		if !s.claim.held && slices.Contains(c.lease.rec.Claims, s.name) && s.standInStopped() && !now.Before(s.backoffUntil) {
			todo = append(todo, s)
		}
	}
	return todo
}

// claimed acts on the outcome of a claim of s in term t: the plugin
// leads, or its holder is told to its observer. It reports whether the
// holder is a stand-in (it hands the plugin back soon).
func (c *Coordinator) claimed(s *slot, t *term) bool {
	switch r := s.claim.obs.rec; {
	case s.claim.held && t.alive(c.clock.Now()):
		c.startPlugin(s, t, s.claim.rec.Epoch)
	case r != nil && !r.Released && !r.Delegated && !s.claim.ours():
		s.claim.held = false
		c.notePlugin(s, r.Leader, r.Epoch, r.Value) // a per-plugin process leads it (being waited out)
		return r.StandIn
	default:
		s.claim.held = false
	}
	return false
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

// syncStandIns starts a stand-in for each subscribed plugin that the
// namespace leader, another live process, does not list in its Claims
// (it does not subscribe the plugin, or resigned it), and stops the
// stand-ins of plugins it lists, and all of them once this process leads
// the namespace. A stand-in is a per-plugin coordinator over the plugin
// lease: the plugin lease is the one authority in every mode, so it
// leads only while no namespace leader holds the plugin by delegation,
// and a namespace leader that claims the plugin waits for its release
// (which stopping it writes). It costs nothing while every process
// subscribes the same plugins; it reads the namespace record it already
// has.
func (c *Coordinator) syncStandIns(ctx context.Context) {
	k := c.lease
	r := k.obs.rec
	foreign := !k.held && r != nil && !r.Released && !k.ours()
	if foreign {
		if at, _ := k.freeAt(); !at.After(c.clock.Now()) {
			foreign = false // expired: this process may take the namespace over
		}
	}
	for _, s := range c.sortedSlots() {
		switch want := foreign && !slices.Contains(r.Claims, s.name); {
		case k.held || (foreign && !want):
			c.stopStandIn(ctx, s)
		case want && s.standIn == nil:
			c.startStandIn(s)
		}
	}
}

// startStandIn starts a stand-in for the plugin of s (see syncStandIns).
// It shares this coordinator's metered store (counts and breaker), writes
// no worker record, and reports leader changes on s's observer.
func (c *Coordinator) startStandIn(s *slot) {
	if !s.standInStopped() || c.isStopping() {
		return // the last one is still stopping, or we are
	}
	s.standInGone = nil
	sc := newCoordinator(c.hub, PerPlugin, c.ns, s.name)
	sc.cfg.DisableMembership = true
	sc.el.(*pluginElection).standsIn = true
	sc.store = c.store
	sc.prefix = fmt.Sprintf("%s [stand-in %s]", c.prefix, s.name)
	ss := &slot{name: s.name, p: s.p, gone: make(chan struct{}), events: s.events, sharedEvents: true, changes: s.changes, note: s.note}
	sc.subs[s.name] = ss
	c.mu.Lock()
	s.standIn = sc
	c.mu.Unlock()
	c.log.Info(c.prefix+" the namespace leader does not subscribe this plugin: leading it as a stand-in", c.attrs(s.name)...)
	sc.start()
}

// stopStandIn stops the stand-in of s, if any, in a goroutine of its own
// (its close releases the plugin lease); s.standInGone is closed when it
// has stopped. Claims of the plugin wait for that.
func (c *Coordinator) stopStandIn(ctx context.Context, s *slot) {
	sc := s.standIn
	if sc == nil {
		return
	}
	c.mu.Lock()
	s.standIn = nil
	c.mu.Unlock()
	// Its leadership ends now, not once its loop gets to the close (it may
	// be waiting for a request): the plugin's context is cancelled.
	_, _ = sc.unsubscribe(s.name)
	gone := make(chan struct{})
	s.standInGone = gone
	c.wg.Go(func() {
		defer close(gone)
		if err := sc.close(context.WithoutCancel(ctx)); err != nil {
			c.log.Warn(c.prefix+" stopping stand-in", c.attrs(s.name, "err", err)...)
		}
	})
}
