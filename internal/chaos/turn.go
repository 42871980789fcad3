package chaos

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/s3coord/coord/internal/chaos/turnproxy"
)

// Close is a fault of turn runs: SIGTERM, so that the leader's Hub closes
// and releases its leases (free to every follower at once); the worker is
// restarted after the spell.
const Close FaultKind = "close"

// A turn run (RunTurn) is the chaos run on a store that turns: the workers
// reach the server through a turnproxy.Proxy (behind their FaultProxies),
// which forwards faithfully while the Hubs start and check the store. In
// each round, once every plugin has one leader that has led a while, the
// proxy starts stripping If-Match and If-None-Match (a spell), the leader
// of a random plugin is partitioned or closed, the followers take over on
// the lying store (several may win), the spell lasts TurnOptions.Hold
// after the first successor started, then the proxy is honest again and
// the victim healed or restarted. Every overlap must begin in a spell (or
// within the bound after it) and last at most the bound,
// 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s; after each spell
// every plugin must have one leader again within FailoverTimeout.

// TurnOptions configure the spells of RunTurn.
type TurnOptions struct {
	// Hold is how long the store keeps lying after the first successor
	// started. Default twice the bound.
	Hold time.Duration
}

// Spell is one span during which the proxy stripped conditions.
type Spell struct {
	Kind     FaultKind
	Victim   string
	From, To int64 // Unix ns
}

// Overlap is two leaderships of one plugin at once: Second started while
// First was believed (interval ends, not last actions: the stricter
// measure), and the overlap lasted until the earlier of their ends.
type Overlap struct {
	Plugin                  string
	First, Second           string // workers
	FirstEpoch, SecondEpoch uint64
	Start, End              int64
}

// Length is how long the overlap lasted.
func (o Overlap) Length() time.Duration { return time.Duration(o.End - o.Start) }

func (o Overlap) String() string {
	return fmt.Sprintf("%s: %s (epoch %d) and %s (epoch %d) from %s for %v", o.Plugin, o.First, o.FirstEpoch,
		o.Second, o.SecondEpoch, Wall(o.Start), o.Length().Round(time.Millisecond))
}

// Overlaps returns every pair of intervals of one plugin, by different
// workers or epochs, where the later started before the earlier ended.
func Overlaps(intervals []Interval) []Overlap {
	byPlugin := make(map[string][]Interval)
	for _, iv := range intervals {
		byPlugin[iv.Plugin] = append(byPlugin[iv.Plugin], iv)
	}
	var out []Overlap
	for _, ivs := range byPlugin {
		slices.SortStableFunc(ivs, func(a, b Interval) int { return cmp.Compare(a.Start, b.Start) })
		for i, a := range ivs {
			for _, b := range ivs[i+1:] {
				if b.Start >= a.End {
					continue
				}
				if a.Worker == b.Worker && a.Epoch == b.Epoch {
					continue
				}
				out = append(out, Overlap{Plugin: a.Plugin, First: a.Worker, Second: b.Worker,
					FirstEpoch: a.Epoch, SecondEpoch: b.Epoch, Start: b.Start, End: min(a.End, b.End)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Overlap) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// TurnReport is what a turn run found.
type TurnReport struct {
	Spells   []Spell
	Overlaps []Overlap
	// Worst is the longest overlap; Bound the longest allowed.
	Worst, Bound time.Duration
	// SameEpoch counts overlaps of two leaders at one epoch (fencing by
	// epoch cannot tell them apart: allowed during a spell only).
	SameEpoch int
	// Overlapped counts the spells in which an overlap began.
	Overlapped int
	// Violations: overlaps that began outside every spell or lasted
	// longer than Bound, and epoch errors outside spells. Must be empty.
	Violations []string
	// Stripped counts the requests forwarded without their conditions;
	// Decoded those whose aws-chunked body was decoded; ResignFailed those
	// the proxy could not sign again.
	Stripped, Decoded, ResignFailed int64
}

// Summary is a one-paragraph account of the turns.
func (t TurnReport) Summary() string {
	return fmt.Sprintf("%d spells, %d requests stripped (%d aws-chunked bodies decoded, %d not re-signed); overlaps %d in %d spells (same epoch %d), longest %v, bound %v; violations %d",
		len(t.Spells), t.Stripped, t.Decoded, t.ResignFailed, len(t.Overlaps), t.Overlapped, t.SameEpoch,
		t.Worst.Round(time.Millisecond), t.Bound, len(t.Violations))
}

// turnRun is the state of a turn run shared with Run's rounds.
type turnRun struct {
	proxy  *turnproxy.Proxy
	hold   time.Duration
	spells []Spell
}

// TurnBound is the longest overlap a store that turns may cause:
// 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s.
func TurnBound(o Options) time.Duration {
	return 2*(o.HeartbeatInterval+o.HeartbeatJitter) + time.Second
}

// RunTurn is Run with a store that turns in every round (see Spell):
// Kinds default to Partition and Close, Failovers counts the spells, and
// the returned report judges the overlaps. Noise is off.
func RunTurn(ctx context.Context, o Options, t TurnOptions) (Result, TurnReport, error) {
	if len(o.Kinds) == 0 {
		o.Kinds = []FaultKind{Partition, Close}
	}
	o.Noise = false
	o.defaults()
	bound := TurnBound(o)
	if t.Hold == 0 {
		t.Hold = 2 * bound
	}
	p, err := turnproxy.New(o.Server.Endpoint, turnproxy.Credentials{AccessKey: o.Server.AccessKey, SecretKey: o.Server.SecretKey, Region: o.Server.Region})
	if err != nil {
		return Result{}, TurnReport{}, err
	}
	defer p.Close()
	tr := &turnRun{proxy: p, hold: t.Hold}
	o.Server.Endpoint, o.turn = p.URL(), tr
	res, err := Run(ctx, o)
	rep := judgeTurns(res.Intervals, tr.spells, bound)
	rep.Stripped, rep.Decoded, rep.ResignFailed = p.Stripped.Load(), p.Decoded.Load(), p.Failed.Load()
	return res, rep, err
}

// judgeTurns measures the overlaps of intervals and checks them, and the
// epochs, against the spells.
func judgeTurns(intervals []Interval, spells []Spell, bound time.Duration) TurnReport {
	rep := TurnReport{Spells: spells, Overlaps: Overlaps(intervals), Bound: bound}
	inSpell := func(at int64) bool {
		for _, s := range spells {
			if s.From <= at && at <= s.To+int64(bound) {
				return true
			}
		}
		return false
	}
	// An overlap belongs to the last spell that began before it (the
	// windows of two spells may meet: the next can begin within the bound
	// after the last ended).
	overlapped := make(map[int]bool)
	for _, o := range rep.Overlaps {
		for i := len(spells) - 1; i >= 0; i-- {
			if spells[i].From <= o.Start {
				if o.Start <= spells[i].To+int64(bound) {
					overlapped[i] = true
				}
				break
			}
		}
	}
	rep.Overlapped = len(overlapped)
	for _, o := range rep.Overlaps {
		rep.Worst = max(rep.Worst, o.Length())
		if o.FirstEpoch == o.SecondEpoch {
			rep.SameEpoch++
		}
		switch {
		case !inSpell(o.Start):
			rep.Violations = append(rep.Violations, "overlap outside every spell: "+o.String())
		case o.Length() > bound:
			rep.Violations = append(rep.Violations, fmt.Sprintf("overlap longer than %v: %s", bound, o))
		}
	}
	// Epochs, as Check has them, but a leadership that began in a spell
	// may repeat an epoch or fall behind one.
	byPlugin := make(map[string][]Interval)
	for _, iv := range intervals {
		byPlugin[iv.Plugin] = append(byPlugin[iv.Plugin], iv)
	}
	for p, ivs := range byPlugin {
		slices.SortStableFunc(ivs, func(a, b Interval) int { return cmp.Compare(a.Start, b.Start) })
		for i := 1; i < len(ivs); i++ {
			prev, iv := ivs[i-1], ivs[i]
			if prev.Worker != iv.Worker && iv.Epoch <= prev.Epoch && !inSpell(iv.Start) {
				rep.Violations = append(rep.Violations, fmt.Sprintf("%s: epoch %d of %s (started %s, outside every spell) does not exceed epoch %d of the previous leader %s",
					p, iv.Epoch, iv.Worker, Wall(iv.Start), prev.Epoch, prev.Worker))
			}
		}
	}
	return rep
}

// turnRound is one spell: the store turns, the leader of a random plugin
// is partitioned or closed, the followers take over on the lying store,
// the store turns honest again after the hold, and the victim is healed.
func (r *run) turnRound(ctx context.Context) error {
	o, tr := r.o, r.o.turn
	if ok, err := r.settle(ctx); !ok || err != nil {
		return err
	}
	// Leaders that have led a while, at a random phase of their renewals.
	time.Sleep(2 * o.HeartbeatInterval)
	r.sleepRand(2 * o.HeartbeatInterval)
	if err := r.poll(); err != nil {
		return err
	}
	ls := r.leaders()
	target := o.Plugins[r.rng.IntN(len(o.Plugins))]
	if len(ls[target]) != 1 {
		return nil
	}
	victim := r.slotOf(ls[target][0])
	if victim == nil {
		return nil
	}
	var led []string
	for p := range r.open[victim.proc.id] {
		led = append(led, p)
	}
	slices.Sort(led)
	kind := r.nextKind()
	p := victim.proc
	spell := Spell{Kind: kind, Victim: p.id, From: time.Now().UnixNano()}
	tr.proxy.Strip(true)
	r.event("the store turns: conditions stripped from %s", Wall(spell.From))
	r.sleepRand(o.HeartbeatInterval + o.HeartbeatJitter) // renewals on the lying store
	at := time.Now().UnixNano()
	switch kind {
	case Partition:
		victim.proxy.SetFault(Fault{Blackhole: true})
	case Close:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.killed = true
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
		if err := r.closeDead(p, EndShutdown); err != nil {
			return err
		}
	default:
		return fmt.Errorf("turn runs take partition and close faults, not %s", kind)
	}
	r.res.Faults[string(kind)]++
	r.event("%s of %s (leads %v) injected at %s, on the lying store", kind, p.id, led, Wall(at))
	took, moved, err := r.waitFailover(ctx, p.id, led, at)
	if err != nil {
		return err
	}
	time.Sleep(tr.hold) // the overlaps must end while the store still lies
	tr.proxy.Strip(false)
	spell.To = time.Now().UnixNano()
	tr.spells = append(tr.spells, spell)
	r.event("the store is honest again at %s", Wall(spell.To))
	switch kind {
	case Partition:
		victim.proxy.SetFault(Fault{})
		r.event("healed %s", p.id)
	case Close:
		victim.gen++
		r.res.Restarts++
		if err := r.start(victim); err != nil {
			return err
		}
	}
	if !moved {
		r.res.Missed = append(r.res.Missed, fmt.Sprintf("%s of %s at %s on the lying store: no takeover of %v within %v",
			kind, p.id, Wall(at), led, o.FailoverTimeout))
		return nil
	}
	r.res.Failovers = append(r.res.Failovers, Failover{Kind: kind, Victim: p.id, Plugins: led, At: at, Took: took})
	o.Logf("%s: spell %d: %s of %s (led %v) on the lying store -> new leaders after %v",
		o.Server.Name, len(tr.spells), kind, p.id, led, took.Round(time.Millisecond))
	return nil
}
