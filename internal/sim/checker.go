package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/plugin"
)

// The checker judges everything on the true time: the simulation's
// virtual, global clock (time.Now inside the testing/synctest bubble),
// never on a process's skewed clock.
//
// A process "believes it leads" a plugin from the moment Lead is called
// until Lead's context is cancelled. A paused process does nothing, so
// its beliefs are clipped to the times it runs: the GC-pause case is safe
// exactly when, on waking, the old leader gives up before acting (its
// context is cancelled at the instant it resumes) or its stale writes are
// fenced. A crashed process believes nothing after the crash.

// window is a half-open interval [from, to) of true time.
type window struct{ from, to time.Time }

// belief is one leadership of one plugin by one process instance, from
// Lead to the cancellation of its context.
type belief struct {
	inst   string
	plugin string
	epoch  uint64
	mode   string
	from   time.Time
	to     time.Time // zero while open
}

// holding is one delivery of a queue message, from Claim to the end of
// its handling (ack, or abandonment at the claim's deadline).
type holding struct {
	inst     string
	from, to time.Time
}

type recorder struct {
	start time.Time

	mu         sync.Mutex
	beliefs    []*belief
	stopped    map[string][]window // instance → paused or dead windows
	handled    map[string]bool     // queue bodies processed
	enqueued   map[string]bool     // queue bodies enqueued (confirmed)
	holdings   map[string][]holding
	slotRuns   map[string][]string // job/slot → instances
	sampled    map[string]map[uint64]string
	violations []string
	trace      []string
	samples    int
	alarms     int // the engine's reports of a store breaking a rule
	// unsafe: the store ignores conditions (Options.UnsafeStore), so
	// nothing may lead.
	unsafe bool
}

func newRecorder(start time.Time) *recorder {
	return &recorder{
		start:    start,
		stopped:  make(map[string][]window),
		handled:  make(map[string]bool),
		enqueued: make(map[string]bool),
		holdings: make(map[string][]holding),
		slotRuns: make(map[string][]string),
		sampled:  make(map[string]map[uint64]string),
	}
}

func (r *recorder) at(t time.Time) time.Duration { return t.Sub(r.start) }

// note appends a line to the trace (sorted by time at the end, so that
// goroutines recording at the same instant in either order give the same
// trace).
func (r *recorder) note(format string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	r.noteLocked(now, format, args...)
	r.mu.Unlock()
}

func (r *recorder) noteLocked(now time.Time, format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%012.3fs %s", r.at(now).Seconds(), fmt.Sprintf(format, args...)))
}

func (r *recorder) violate(format string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	r.violations = append(r.violations, fmt.Sprintf("t=%.3fs: %s", r.at(now).Seconds(), msg))
	r.noteLocked(now, "VIOLATION %s", msg)
}

func (r *recorder) leadStart(inst string, t plugin.Term) *belief {
	now := time.Now()
	b := &belief{inst: inst, plugin: t.Plugin, epoch: t.Epoch, mode: t.Mode, from: now}
	r.mu.Lock()
	r.beliefs = append(r.beliefs, b)
	r.noteLocked(now, "lead %s %s epoch=%d mode=%s", inst, t.Plugin, t.Epoch, t.Mode)
	r.mu.Unlock()
	if r.unsafe {
		r.violate("%s leads %s (epoch %d, %s) on a store that ignores conditions", inst, t.Plugin, t.Epoch, t.Mode)
	}
	return b
}

// leadReturned records that the plugin's Lead returned while its context
// was live (a resignation).
func (r *recorder) leadReturned(b *belief, err error) {
	r.note("lead returned %s %s epoch=%d: %v", b.inst, b.plugin, b.epoch, err)
}

// openBeliefs returns copies of inst's leaderships not ended yet.
func (r *recorder) openBeliefs(inst string) []belief {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []belief
	for _, b := range r.beliefs {
		if b.inst == inst && b.to.IsZero() {
			out = append(out, *b)
		}
	}
	return out
}

// stillLeads reports a violation for each leadership of inst (of plugin,
// or of any plugin for "") not ended once it must be: after what
// happened.
func (r *recorder) stillLeads(inst, plugin, what string) {
	for _, b := range r.openBeliefs(inst) {
		if plugin == "" || b.plugin == plugin {
			r.violate("%s still leads %s (epoch %d, %s) after %s", inst, b.plugin, b.epoch, b.mode, what)
		}
	}
}

// alarm counts an engine report that the store broke a rule.
func (r *recorder) alarm(inst string) {
	now := time.Now()
	r.mu.Lock()
	r.alarms++
	r.noteLocked(now, "unsafe-store alarm %s", inst)
	r.mu.Unlock()
}

// counts returns the number of samples and of unsafe-store alarms.
func (r *recorder) counts() (samples, alarms int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.samples, r.alarms
}

func (r *recorder) leadEnd(b *belief) {
	now := time.Now()
	r.mu.Lock()
	if b.to.IsZero() {
		b.to = now
		r.noteLocked(now, "unlead %s %s epoch=%d", b.inst, b.plugin, b.epoch)
	}
	r.mu.Unlock()
}

// stop records that inst does not run from now on (until resumed; a
// crash is never resumed).
func (r *recorder) stop(inst, why string) {
	now := time.Now()
	r.mu.Lock()
	r.stopped[inst] = append(r.stopped[inst], window{from: now})
	r.noteLocked(now, "%s %s", why, inst)
	r.mu.Unlock()
}

func (r *recorder) resume(inst string) {
	now := time.Now()
	r.mu.Lock()
	w := r.stopped[inst]
	if n := len(w); n > 0 && w[n-1].to.IsZero() {
		w[n-1].to = now
	}
	r.noteLocked(now, "resume %s", inst)
	r.mu.Unlock()
}

// sample records that inst reported leading plugin at epoch (Subscription
// Term) at the current instant; leaders holds the plugins' leaders seen at
// this instant so far.
func (r *recorder) sample(now time.Time, inst, name string, epoch uint64, leaders map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples++
	if r.unsafe {
		msg := fmt.Sprintf("%s reports leading %s (epoch %d, Subscription.Term) on a store that ignores conditions", inst, name, epoch)
		r.violations = append(r.violations, fmt.Sprintf("t=%.3fs: %s", r.at(now).Seconds(), msg))
		r.noteLocked(now, "VIOLATION %s", msg)
	}
	if other, ok := leaders[name]; ok && other != inst {
		msg := fmt.Sprintf("two leaders of %s sampled at once: %s and %s", name, other, inst)
		r.violations = append(r.violations, fmt.Sprintf("t=%.3fs: %s", r.at(now).Seconds(), msg))
		r.noteLocked(now, "VIOLATION %s", msg)
	}
	leaders[name] = inst
	m := r.sampled[name]
	if m == nil {
		m = make(map[uint64]string)
		r.sampled[name] = m
	}
	if other, ok := m[epoch]; ok && other != inst {
		msg := fmt.Sprintf("epoch %d of %s held by %s and %s (Subscription.Term)", epoch, name, other, inst)
		r.violations = append(r.violations, fmt.Sprintf("t=%.3fs: %s", r.at(now).Seconds(), msg))
		r.noteLocked(now, "VIOLATION %s", msg)
	}
	m[epoch] = inst
}

func (r *recorder) enqueue(body string) {
	r.mu.Lock()
	r.enqueued[body] = true
	r.mu.Unlock()
}

func (r *recorder) hold(id, inst string, from, to time.Time, body string, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holdings[id] = append(r.holdings[id], holding{inst: inst, from: from, to: to})
	if done {
		r.handled[body] = true
	}
}

func (r *recorder) slotRun(job string, slot int64, inst string, epoch uint64) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	k := fmt.Sprintf("%s/%d", job, slot)
	r.slotRuns[k] = append(r.slotRuns[k], inst)
	r.noteLocked(now, "run %s %s epoch=%d", k, inst, epoch)
}

// running returns w minus the times inst was stopped.
func (r *recorder) running(inst string, w window) []window {
	out := []window{w}
	for _, s := range r.stopped[inst] {
		to := s.to
		if to.IsZero() {
			to = farFuture
		}
		var next []window
		for _, x := range out {
			if s.from.After(x.from) {
				next = append(next, window{x.from, minTime(x.to, s.from)})
			}
			if to.Before(x.to) {
				next = append(next, window{maxTime(x.from, to), x.to})
			}
		}
		out = slices.DeleteFunc(next, func(x window) bool { return !x.from.Before(x.to) })
	}
	return out
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// verdict is what the checker concludes from a finished run.
type verdict struct {
	violations []string
	overlaps   int
	terms      int
	failovers  int
	// ttl: per plugin, true time from heal to the first leader.
	ttl map[string]time.Duration
}

// check judges the recorded run. heal is when every fault stopped; end
// is the end of the run; bounds are the liveness bounds after heal, by
// plugin: a plugin without one (no live process subscribes it, or the
// store ignores conditions) need not have a leader. subscribers, by
// plugin, name the processes subscribing it at the end, and under "" the
// namespace's leader (for the messages).
func (r *recorder) check(plugins []string, heal, end time.Time, bounds map[string]time.Duration, subscribers map[string][]string) verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := verdict{violations: slices.Clone(r.violations), ttl: make(map[string]time.Duration)}
	bad := func(format string, args ...any) { v.violations = append(v.violations, fmt.Sprintf(format, args...)) }
	secs := func(t time.Time) float64 { return r.at(t).Seconds() }

	for _, name := range plugins {
		var bs []*belief
		for _, b := range r.beliefs {
			if b.plugin == name {
				bs = append(bs, b)
			}
		}
		sort.SliceStable(bs, func(i, j int) bool { return bs[i].from.Before(bs[j].from) })
		v.terms += len(bs)
		// Running segments of each belief.
		type seg struct {
			b *belief
			w window
		}
		var segs []seg
		for _, b := range bs {
			to := b.to
			if to.IsZero() {
				to = end
			}
			for _, w := range r.running(b.inst, window{b.from, to}) {
				segs = append(segs, seg{b, w})
			}
		}
		// Never two leaders at the same time.
		for i := range segs {
			for j := i + 1; j < len(segs); j++ {
				a, b := segs[i], segs[j]
				if a.b.inst == b.b.inst {
					continue
				}
				if a.w.from.Before(b.w.to) && b.w.from.Before(a.w.to) {
					v.overlaps++
					bad("%s: %s (epoch %d, %s) and %s (epoch %d, %s) both led during [%.3fs, %.3fs)",
						name, a.b.inst, a.b.epoch, a.b.mode, b.b.inst, b.b.epoch, b.b.mode,
						secs(maxTime(a.w.from, b.w.from)), secs(minTime(a.w.to, b.w.to)))
				}
			}
		}
		// Epochs strictly increasing; exactly one leader per epoch.
		owner := make(map[uint64]string)
		for i, b := range bs {
			if o, ok := owner[b.epoch]; ok && o != b.inst {
				bad("%s: epoch %d led by %s and %s", name, b.epoch, o, b.inst)
			}
			owner[b.epoch] = b.inst
			if i > 0 {
				p := bs[i-1]
				if p.inst != b.inst && b.epoch <= p.epoch || p.inst == b.inst && b.epoch < p.epoch {
					bad("%s: epoch went from %d (%s, at %.3fs) to %d (%s, at %.3fs)", name, p.epoch, p.inst, secs(p.from), b.epoch, b.inst, secs(b.from))
				}
				if p.inst != b.inst {
					v.failovers++
				}
			}
		}
		for e, inst := range r.sampled[name] {
			if o, ok := owner[e]; ok && o != inst {
				bad("%s: epoch %d led by %s (Lead) and reported by %s (Subscription.Term)", name, e, o, inst)
			}
		}
		// Liveness: a leader within bound after heal, still there at the
		// end, for a plugin that a live process subscribes.
		bound, wanted := bounds[name]
		if !wanted {
			continue
		}
		subs := strings.Join(subscribers[name], " ")
		if l := subscribers[""]; len(l) > 0 {
			subs += "; namespace led by " + l[0]
			if needsStandIn(subscribers[name], l[0]) {
				subs += ", which does not subscribe it: " + StandInMark
			}
		}
		first := time.Time{}
		leadsAtEnd := false
		for _, s := range segs {
			if s.w.to.After(heal) {
				f := maxTime(s.w.from, heal)
				if first.IsZero() || f.Before(first) {
					first = f
				}
			}
			if !s.w.to.Before(end) {
				leadsAtEnd = true
			}
		}
		switch {
		case first.IsZero():
			bad("%s: no leader after the faults healed at %.3fs (subscribed by %s)", name, secs(heal), subs)
			v.ttl[name] = end.Sub(heal)
		default:
			v.ttl[name] = first.Sub(heal)
			if first.Sub(heal) > bound {
				bad("%s: first leader %v after the faults healed, bound %v (subscribed by %s)", name, first.Sub(heal), bound, subs)
			}
		}
		if !leadsAtEnd {
			bad("%s: no leader at the end of the run (subscribed by %s)", name, subs)
		}
	}

	// Queue: no message lost, no message held by two consumers at once.
	//
	// Every message confirmed by Enqueue (producers stop at heal) must be
	// handled by the end of the run. The tail leaves room for the worst
	// case after heal: a leader within bound (about 31s on the slowest
	// clock), a claim abandoned by a crashed or paused holder expiring
	// (Visibility+Grace = 13s of server time), the leader's next Tick (3s
	// on its clock, 3.5s true), a consumer's next poll (1s) and its work
	// (up to 4.2s on its clock, 5s true): about 54s of the 75s tail, with
	// the rest for the backlog. A message missing at the end is therefore
	// lost (or delivered wrong), not late.
	for body := range r.enqueued {
		if !r.handled[body] {
			bad("queue: message %s enqueued but never handled", body)
		}
	}
	for id, hs := range r.holdings {
		var segs []holding
		for _, h := range hs {
			for _, w := range r.running(h.inst, window{h.from, h.to}) {
				segs = append(segs, holding{h.inst, w.from, w.to})
			}
		}
		for i := range segs {
			for j := i + 1; j < len(segs); j++ {
				a, b := segs[i], segs[j]
				if a.inst != b.inst && a.from.Before(b.to) && b.from.Before(a.to) {
					bad("queue: message %s handled by %s and %s at once during [%.3fs, %.3fs)", id, a.inst, b.inst,
						secs(maxTime(a.from, b.from)), secs(minTime(a.to, b.to)))
				}
			}
		}
	}
	// Scheduler: no slot run twice.
	for k, runs := range r.slotRuns {
		if len(runs) > 1 {
			bad("scheduler: slot %s ran %d times (%s)", k, len(runs), strings.Join(runs, ", "))
		}
	}
	slices.Sort(v.violations)
	return v
}

// needsStandIn reports whether a plugin subscribed by subs (inst(mode))
// only in global mode has a namespace leader, leader, that does not
// subscribe it: only a global follower standing in for the leader can
// lead it then.
func needsStandIn(subs []string, leader string) bool {
	if leader == "none" || len(subs) == 0 {
		return false
	}
	for _, s := range subs {
		if !strings.HasSuffix(s, "(global)") || strings.TrimSuffix(s, "(global)") == leader {
			return false
		}
	}
	return true
}

// StandInMark ends the liveness violations of a plugin that only a
// global follower standing in for the namespace leader could lead.
const StandInMark = "a global follower must stand in"

// digest hashes the trace, sorted, so that a replay can be compared.
func (r *recorder) digest() (uint64, []string) {
	r.mu.Lock()
	lines := slices.Clone(r.trace)
	r.mu.Unlock()
	slices.Sort(lines)
	h := fnv.New64a()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return h.Sum64(), lines
}
