package sim

// A store that turns: honest while the processes start (their store
// checks pass), then ignoring every failing condition (IfMatch and
// IfAbsent) for a spell, then honest again. Some seeds draw one turn
// (turnPlan, from a stream of its own, so that the other draws of a seed
// do not change). The engine cannot prevent overlaps while the store lies
// (two takeovers of one version both succeed); it promises that each one
// ends within turnBound: a leader reads its lease back before every
// renewal and steps down when another process wrote it. excuseTurn lets
// exactly those overlaps through the checker, and no other.

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"

	"github.com/s3coord/coord/internal/faultstore"
)

// turnOdds: one seed in turnOdds draws a turn.
const turnOdds = 8

// turnBound is the longest overlap a turn may cause, in true time:
// 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s on the slowest clock
// (rates down to 1 - maxDrift).
var turnBound = time.Duration(float64(2*(engineConfig.HeartbeatInterval+engineConfig.HeartbeatJitter)+time.Second) / (1 - maxDrift))

// turnPlan draws the turn of the run, if any, and records its spell in w.
func (w *world) turnPlan() []action {
	rng := rand.New(rand.NewPCG(w.opts.Seed, 0x7e57_0f_7a1e))
	if w.opts.UnsafeStore || rng.IntN(turnOdds) != 0 {
		return nil
	}
	F := w.opts.FaultPhase
	at := 20*time.Second + time.Duration(rng.Int64N(int64(F/2)))
	d := 5*time.Second + time.Duration(rng.Int64N(int64(40*time.Second)))
	set := func(rate float64) {
		w.ignoreIfAbsent, w.ignoreIfMatch = rate, rate // views booted during the spell lie too
		for _, s := range w.slots {
			if p := s.cur.Load(); p != nil {
				p.view.Update(func(f *faultstore.Faults) { f.IgnoreIfAbsentRate, f.IgnoreIfMatchRate = rate, rate })
			}
		}
	}
	return []action{{at: at, name: "store turns", do: func() {
		w.count("store turns")
		w.turnFrom, w.turnTo = w.start.Add(at), w.start.Add(at+d)
		set(1)
		w.rec.note("the store ignores conditions for %v", d)
		w.later(d, func() { set(0); w.rec.note("the store honours conditions again") })
	}}}
}

var (
	overlapRe = regexp.MustCompile(`both led during \[([0-9.]+)s, ([0-9.]+)s\)$`)
	sampledRe = regexp.MustCompile(`^t=([0-9.]+)s: two leaders of \S+ sampled at once`)
	// Epochs: two takeovers of one version may pick the same epoch, and
	// both succeed while the store lies.
	epochRe = regexp.MustCompile(`epoch \d+ (led by|of \S+ held by) |epoch went from `)
	// The queue's own conditional writes go to the same store.
	handledRe = regexp.MustCompile(`handled by \S+ and \S+ at once during \[([0-9.]+)s, ([0-9.]+)s\)$`)
	// A process booted while the store lies: its store check fails.
	refusedRe = regexp.MustCompile(`^t=([0-9.]+)s: \S+: Use\(\S+\): coord: unsafe store: `)
)

// excuseTurn drops from v the violations a turn may cause: overlaps that
// began during the spell (or within turnBound after it, a takeover
// written during it) and lasted at most turnBound, two leaders sampled
// within them, repeated epochs, a Use refused by the store check during
// the spell, and a queue message handled twice from then (the queue's
// claims are conditional writes to the same store). Every other violation
// stays.
func (w *world) excuseTurn(v *verdict) {
	if w.turnFrom.IsZero() {
		return
	}
	secs := func(s string) time.Time {
		f, _ := strconv.ParseFloat(s, 64)
		return w.start.Add(time.Duration(f * float64(time.Second)))
	}
	from, to := w.turnFrom, w.turnTo.Add(turnBound)
	in := func(t time.Time) bool { return !t.Before(from) && !t.After(to) }
	var out []string
	overlaps := 0
	for _, v := range v.violations {
		if m := overlapRe.FindStringSubmatch(v); m != nil {
			a, b := secs(m[1]), secs(m[2])
			if in(a) && b.Sub(a) <= turnBound {
				w.count("overlap while the store lied")
				overlaps++
				continue
			}
		} else if m := sampledRe.FindStringSubmatch(v); m != nil && in(secs(m[1])) {
			continue
		} else if m := handledRe.FindStringSubmatch(v); m != nil && in(secs(m[1])) {
			continue // the queue's claims are conditional writes too
		} else if epochRe.MatchString(v) {
			continue
		} else if m := refusedRe.FindStringSubmatch(v); m != nil && !secs(m[1]).Before(w.turnFrom) && !secs(m[1]).After(w.turnTo) {
			continue
		}
		out = append(out, v)
	}
	v.violations, v.overlaps = out, v.overlaps-overlaps
}

func init() { SimKinds = append(SimKinds, "store turns", "overlap while the store lied") }
