package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/s3coord/coord/driver"
)

// election is what the namespace election (Global mode:
// namespaceElection, global.go) and a plugin's election (PerPlugin mode:
// pluginElection, perplugin.go) do differently. The Coordinator runs the
// cycle both share (this file) over one lease (leaseKeeper, lease.go).
// Every method runs on the Coordinator's loop.
type election interface {
	// takeover is the record an acquisition writes (the keeper adds the
	// lease's own fields).
	takeover() leaseRecord
	// renewal is what a renewal changes in the record (nil: nothing).
	renewal() func(*leaseRecord)
	// between runs at a leader's cycle instead of a renewal while none is
	// due, reporting the delay to the next cycle; false: renew now.
	between(ctx context.Context, now time.Time) (time.Duration, bool)
	// leading runs after a confirmed acquisition or renewal whose next
	// renewal is due at next, and returns the delay to the next cycle.
	leading(ctx context.Context, next time.Time) time.Duration
	// adopted runs after a write in doubt was found applied.
	adopted(ctx context.Context)
	// judge refines a follower's judgement of the observed lease: from
	// when it may take it over, and whether jittered; false: not in this
	// cycle.
	judge(ctx context.Context, at time.Time, jitter bool) (time.Time, bool, bool)
	// waitFor adjusts the delay d to a follower's next read (lostRace:
	// it has just lost a takeover race).
	waitFor(d time.Duration, lostRace bool) time.Duration
	// started runs as a term begins, steppedDown as it ends.
	started(t *term)
	steppedDown()
	// leaderChanged runs when the leader or epoch seen changes.
	leaderChanged()
	// subscribed runs for plugins just subscribed, and claimsChanged when
	// a plugin resigned; both report whether a renewal is due now.
	subscribed(added []*slot) bool
	claimsChanged() bool
	// resign ends the run r of s, whose Lead returned (why), leading
	// reporting whether it still led.
	resign(ctx context.Context, s *slot, r *pluginRun, leading bool, why string)
	// note tells the observer of s who leads its plugin, given the lease
	// as observed (leader, epoch, value of the election).
	note(s *slot, leader string, epoch uint64, value string)
	// stopped runs for a plugin's run stopped because it was
	// unsubscribed; ended reports whether stopped runs returned so that a
	// renewal is due now.
	stopped(name string, r *pluginRun)
	ended() bool
	// cycled runs after every turn of the loop.
	cycled(ctx context.Context)
}

// leaseCycle runs one heartbeat of the election and returns the delay to
// the next one.
func (c *Coordinator) leaseCycle(ctx context.Context) time.Duration {
	k := c.lease
	if k.held && !k.term.alive(c.clock.Now()) {
		c.stepDown(ErrRenewDeadline)
	}
	if k.held {
		c.hub.checkNotice(ctx, c.store, c.prefix, &c.noticeDue) // what other processes saw
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
	if d, ok := c.el.between(ctx, start); ok {
		return d
	}
	held, adopted, err := k.renew(ctx, c.el.renewal())
	if !held {
		cause := k.lostCause(ctx) // a store breaking conditions shows here too
		if gen, _ := c.hub.storeGen(); gen != c.termGen {
			cause = c.hub.storeErr()
		}
		c.stepDown(fmt.Errorf("%w: %w", cause, err))
		return c.followerDelay()
	}
	if err != nil {
		return c.retryDelay()
	}
	c.retries = 0
	if adopted {
		c.el.adopted(ctx)
		return c.leaderDelayAfterAdopt()
	}
	return c.el.leading(ctx, c.nextRenewal(start))
}

// nextRenewal is when the renewal after a write that started at start is
// due: HeartbeatInterval plus jitter later.
func (c *Coordinator) nextRenewal(start time.Time) time.Time {
	return start.Add(c.cfg.HeartbeatInterval + c.jitter(c.cfg.HeartbeatJitter))
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
	if start, ok := c.adoptInDoubt(now); ok {
		c.startTerm(start)
		return c.leaderDelayAfterAdopt()
	}
	c.observeLeader()
	at, jitter := k.freeAt()
	at, jitter, ok := c.el.judge(ctx, at, jitter)
	if !ok {
		return c.followerDelay()
	}
	if wait := at.Sub(now); wait > 0 {
		// Poll again at the regular time, or when the lease would expire
		// if that comes first (the takeover is jittered then), or sooner
		// while a new leader has yet to list our plugins.
		return c.el.waitFor(min(c.followerDelay(), wait), false)
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
	won, start, err := k.acquire(ctx, c.el.takeover())
	c.termGen = gen
	switch {
	case won && !c.startTerm(start):
		return c.followerDelay()
	case won:
		c.member.askCleanup()
		return c.el.leading(ctx, c.nextRenewal(start))
	case err != nil && !errors.Is(err, driver.ErrPrecondition):
		c.log.Debug(c.prefix+" takeover write failed", "key", k.key, "err", err)
		return c.retryDelay()
	}
	return c.el.waitFor(c.followerDelay(), true) // lost the race: someone else leads now
}

// adoptInDoubt adopts our own acquisition in doubt (adoptIfOurs) only
// under the store check it was written under: after a broken rule, not
// before the check passes again and a new takeover is written.
func (c *Coordinator) adoptInDoubt(now time.Time) (time.Time, bool) {
	if gen, ok := c.hub.storeGen(); !ok || gen != c.termGen {
		return time.Time{}, false
	}
	return c.lease.adoptIfOurs(now)
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

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
	c.observeLeader()
	c.el.started(t)
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
	k.held = false
	c.el.steppedDown()
	if k.term != nil {
		if errors.Is(cause, ErrResigned) && k.term.expired(c.clock.Now()) {
			// Over by its deadline already (a process resuming from a
			// pause): not a graceful end (see pluginRun.end).
			cause = ErrRenewDeadline
		}
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
