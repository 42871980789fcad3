package coord

import (
	"context"
	"fmt"
	"time"
)

// The election of one plugin (PerPlugin mode): over the plugin's lease,
// which a namespace leader may hold by delegation (a Global claim), so
// taking it over also asks the namespace record.

// pluginElection is the PerPlugin election (see election).
type pluginElection struct {
	c           *Coordinator
	nsWatch     *leaseKeeper // observer of the namespace lease
	nsFailSince time.Time    // first of the current run of failed reads of the namespace record
	notBefore   time.Time    // no acquisition before (a resignation's back-off)
	standsIn    bool         // a stand-in's election (its plugin lease says so)
	replaced    *leaseRecord // the last record not ours that a takeover replaced (nil: missing or unreadable)
}

// takeover: the record replaced, unless it is our own (taken again, it
// keeps the record before it, which a claim overwritten by ours follows).
func (p *pluginElection) takeover() leaseRecord {
	if r := p.c.lease.obs.rec; r == nil || r.Leader != p.c.worker || p.replaced == nil {
		p.replaced = r
	}
	return leaseRecord{Mode: string(PerPlugin), StandIn: p.standsIn}
}

func (p *pluginElection) renewal() func(*leaseRecord) { return nil }

func (p *pluginElection) between(context.Context, time.Time) (time.Duration, bool) {
	return 0, false
}

// leading: for a lease after a takeover, read the namespace record too
// (a GET at the takeover and at each renewal within LeaseTimeout of it).
// A namespace leader that lists the plugin at an epoch our takeover could
// not have followed on an honest store (claimedOver) still holds a claim
// while we lead it: on a store that stopped honouring conditions, two
// takeovers of one version (a claim and ours) both succeed, or the claim
// was overwritten and we took the overwriting record again; the claim,
// which its holder never rewrites, would otherwise not show in our
// read-backs (docs/safety.md, 4.9).
func (p *pluginElection) leading(ctx context.Context, next time.Time) time.Duration {
	c, k := p.c, p.c.lease
	if k.held && k.term != nil && c.clock.Now().Sub(k.term.started) < c.cfg.LeaseTimeout {
		w := p.namespaceWatch()
		if w.poll(ctx) == nil {
			if r := w.obs.rec; r != nil && !r.Released && r.Leader != c.worker && p.claimedOver(r) {
				k.broke(RuleOneHolderPerEpoch, fmt.Sprintf("epoch %d of %s held by %s and claimed by namespace leader %s at epoch %d",
					k.rec.Epoch, c.plugin, c.worker, r.Leader, r.Plugins[c.plugin]))
				return 0 // the next cycle steps down
			}
		}
	}
	return max(next.Sub(c.clock.Now()), 0)
}

// claimedOver reports whether namespace record r lists the plugin at an
// epoch that, on an honest store, no claim held after our takeover has:
// at our epoch or later, or later than the record we replaced (epochs only
// grow along the key's history, so that claim was written after it), or
// at its epoch by another record than that claim itself (one holder per
// epoch). A stale record listing the claim we took over is none of these.
func (p *pluginElection) claimedOver(r *leaseRecord) bool {
	e := r.Plugins[p.c.plugin]
	switch prev := p.replaced; {
	case e == 0:
		return false
	case e >= p.c.lease.rec.Epoch:
		return true
	case prev == nil:
		return false
	case e > prev.Epoch:
		return true
	default:
		return e == prev.Epoch && !(prev.Delegated && prev.Leader == r.Leader)
	}
}

// retakeBlocked: our own record is not taken again while a namespace
// leader lists a claim that our last takeover overwrote (claimedOver), or
// while the namespace record cannot be read to tell (4.9). One GET, only
// when retaking our own unreleased record after a takeover.
func (p *pluginElection) retakeBlocked(ctx context.Context) bool {
	c, k := p.c, p.c.lease
	if r := k.obs.rec; r == nil || r.Released || !k.ours() || p.replaced == nil {
		return false
	}
	w := p.namespaceWatch()
	if w.poll(ctx) != nil {
		return true
	}
	n := w.obs.rec
	return n != nil && !n.Released && n.Leader != c.worker && p.claimedOver(n)
}

func (p *pluginElection) adopted(context.Context) {}

func (p *pluginElection) waitFor(d time.Duration, _ bool) time.Duration { return d }

// started: the plugin leads with the term.
func (p *pluginElection) started(t *term) {
	for _, s := range p.c.sortedSlots() {
		p.c.startPlugin(s, t, t.epoch)
	}
}

func (p *pluginElection) steppedDown()   {}
func (p *pluginElection) leaderChanged() {}

// subscribed: a plugin subscribed while we lead (after a fallback's
// unsubscribe and subscribe) leads at once.
func (p *pluginElection) subscribed(added []*slot) bool {
	c := p.c
	for _, s := range added {
		if c.lease.held && c.lease.term.alive(c.clock.Now()) {
			c.startPlugin(s, c.lease.term, c.lease.term.epoch)
		}
	}
	return false
}

func (p *pluginElection) claimsChanged() bool { return false }

// resign: the plugin is the election, so its resignation ends the
// leadership and releases the lease; no acquisition until the back-off,
// counted from the release, is over.
func (p *pluginElection) resign(ctx context.Context, s *slot, r *pluginRun, leading bool, why string) {
	c := p.c
	if leading {
		c.stepDown(fmt.Errorf("%w: %s", ErrResigned, why))
		c.releaseAfter(ctx, s.name, c.lease, r)
	} // else the leadership ended already; its lease is not ours to release now
	p.notBefore = s.backoffFromRelease(c.clock.Now())
}

func (p *pluginElection) note(s *slot, leader string, epoch uint64, value string) {
	p.c.notePlugin(s, leader, epoch, value)
}

func (p *pluginElection) cycled(context.Context) {}

func (p *pluginElection) ended() bool { return false }

func (p *pluginElection) stopped(string, *pluginRun) {}

// judge: a lease delegated to a namespace leader is free only once that
// leadership is; a missing or unreadable one only once the namespace
// record allows it; and not before a resignation's back-off is over.
func (p *pluginElection) judge(ctx context.Context, at time.Time, jitter bool) (time.Time, bool, bool) {
	c, k := p.c, p.c.lease
	now := c.clock.Now()
	switch r := k.obs.rec; {
	case r != nil && r.Delegated && !r.Released && !k.ours():
		at, jitter = p.delegatedFreeAt(ctx, r.NamespaceEpoch)
	case p.retakeBlocked(ctx):
		return at, jitter, false
	case r == nil:
		// Missing or unreadable. An unreadable record may be a delegated
		// lease whose namespace leader still leads the plugin (it never
		// rewrites it), so the namespace record must show the plugin
		// free as well. One more read, only in this state.
		nat, nj, err := p.namespaceAllows(ctx)
		switch {
		case err == nil:
			at, jitter = later(at, nat), jitter || nj
		case k.obs.exists || c.hub.epochs.get(k.key) > 0:
			// Unreadable, or deleted after we saw it: never taken
			// without a good read of the namespace record.
			return at, jitter, false
		default:
			// Missing and never seen: no namespace leader has claimed it
			// (claims are written before a plugin is led, and plugin
			// leases are never deleted), so IfAbsent is safe. Wait until
			// every read of the namespace record has failed for a whole
			// lease (no permission on it: a fallback), so that a passing
			// read error does not decide it.
			failing := !p.nsFailSince.IsZero() && now.Sub(p.nsFailSince) >= c.cfg.LeaseTimeout
			if !failing || now.Sub(k.obs.seen) < c.cfg.LeaseTimeout {
				return at, jitter, false
			}
		}
	}
	return p.finally(ctx, at, jitter, now)
}

// finally: what holds for every takeover judged free from at: not before
// a resignation's back-off is over, and not while a namespace leader
// lists a claim of the plugin it still holds (claimListed).
func (p *pluginElection) finally(ctx context.Context, at time.Time, jitter bool, now time.Time) (time.Time, bool, bool) {
	if now.Before(p.notBefore) {
		at = later(at, p.notBefore) // the plugin resigned: its back-off
	}
	if !at.After(now) && p.claimListed(ctx) {
		return at, jitter, false
	}
	return at, jitter, true
}

// claimListed reports, before a takeover of the observed record (not
// delegated, not ours) with epoch e, whether a live namespace leader lists
// the plugin in Plugins at e or below: a claim it still holds. On an honest store that claim ended
// before the record was written, and a namespace leader's renewal drops
// a claim as it ends, so this waits a request at most; on a store that
// let a takeover overwrite the claim (4.9) the claim's holder never
// rewrites it and still leads: no takeover then, until that namespace
// leadership is over. One GET, only when a takeover is due; a failed read
// blocks the takeover.
func (p *pluginElection) claimListed(ctx context.Context) bool {
	c, k := p.c, p.c.lease
	r := k.obs.rec
	if r == nil || r.Delegated || k.ours() {
		return false
	}
	e := r.Epoch
	w := p.namespaceWatch()
	if w.poll(ctx) != nil {
		return true
	}
	n := w.obs.rec
	if n == nil || n.Released || n.Leader == c.worker {
		return false
	}
	if l := n.Plugins[c.plugin]; l == 0 || l > e {
		return false
	}
	at, _ := p.namespaceFreeAt(n.Epoch)
	return at.After(c.clock.Now())
}

// delegatedFreeAt judges a plugin lease delegated to the namespace lease
// with epoch e (judgeDelegatedFree) from a fresh read of the namespace
// record; when that read fails the lease is held.
func (p *pluginElection) delegatedFreeAt(ctx context.Context, e uint64) (time.Time, bool) {
	c := p.c
	w := p.namespaceWatch()
	if err := w.poll(ctx); err != nil {
		return c.clock.Now().Add(c.cfg.LeaseTimeout), false // cannot judge: held
	}
	return judgeDelegatedFree(w.obs, e, c.plugin, c.cfg.LeaseTimeout)
}

// namespaceFreeAt judges the namespace leadership with epoch e from the
// last read of the namespace record (judgeNamespaceFree).
func (p *pluginElection) namespaceFreeAt(e uint64) (time.Time, bool) {
	return judgeNamespaceFree(p.namespaceWatch().obs, e, p.c.cfg.LeaseTimeout)
}

func (p *pluginElection) namespaceWatch() *leaseKeeper {
	c := p.c
	if p.nsWatch == nil {
		p.nsWatch = c.newKeeper(namespaceLeaseKey(c.cfg.Root, c.ns), "")
	}
	return p.nsWatch
}

// namespaceAllows reads the namespace record and judges, for a missing
// or unreadable plugin lease, from when the namespace side lets this
// per-plugin coordinator take it: at once when the record is missing or
// its leader does not list the plugin (a leader lists a plugin in a
// confirmed write before it claims it, and until it stops leading it),
// otherwise once that leadership is over (namespaceFreeAt). An unreadable
// namespace record is judged by its version: unchanged for a lease. It
// returns an error only when the read itself failed.
func (p *pluginElection) namespaceAllows(ctx context.Context) (time.Time, bool, error) {
	c := p.c
	w := p.namespaceWatch()
	if err := w.poll(ctx); err != nil {
		if p.nsFailSince.IsZero() {
			p.nsFailSince = c.clock.Now()
		}
		return time.Time{}, false, err
	}
	p.nsFailSince = time.Time{}
	o := w.obs
	switch r := o.rec; {
	case !o.exists:
		if c.hub.epochs.get(w.key) > 0 {
			at, j := p.namespaceFreeAt(0) // deleted by hand: waited out
			return at, j, nil
		}
		return time.Time{}, false, nil
	case r == nil:
		at, j := p.namespaceFreeAt(0)
		return at, j, nil
	case r.lists(c.plugin):
		if e := r.Plugins[c.plugin]; e != 0 {
			c.hub.epochs.see(c.lease.key, e) // the plugin's epoch survives here
		}
		at, j := p.namespaceFreeAt(r.Epoch)
		return at, j, nil
	default:
		return time.Time{}, false, nil
	}
}
