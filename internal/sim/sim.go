package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// Namespace is the namespace every simulated process coordinates in.
const Namespace = "sim"

// Root is the engine's key prefix in the simulated store.
const Root = "plg_coordinator_global/"

// Options configure one run. The zero value, with a Seed, is a full run.
type Options struct {
	// Seed drives every random choice of the run.
	Seed uint64
	// Processes is the number of process slots (0: 3 to 5, by seed).
	Processes int
	// FaultPhase is how long faults are injected (default 3m); then every
	// fault heals and the run goes on for Tail (default 75s).
	FaultPhase, Tail time.Duration
	// NoPlugins leaves out the queue, scheduler and ttl workloads (plain
	// leadership plugins only).
	NoPlugins bool
	// UnsafeStore makes every process's view ignore failing conditions
	// (IfAbsent and IfMatch, only IfMatch or only IfAbsent, by seed), with
	// no other store fault and no workload: the engine must refuse it
	// (every Use fails with coord.ErrUnsafeStore, nothing ever leads).
	UnsafeStore bool
	// Trace keeps the sorted timeline in Result.Trace.
	Trace bool
}

// Result is what one run saw.
type Result struct {
	Seed      uint64
	Processes int
	// Plugins is the number of plugins; Heterogeneous is set when the
	// processes do not all subscribe every one of them.
	Plugins       int
	Heterogeneous bool
	// Lies names the conditions the store ignored (Options.UnsafeStore),
	// "" for an honest store; Refused counts the Uses that failed with
	// coord.ErrUnsafeStore.
	Lies    string
	Refused int
	// Violations of safety or liveness, empty when the run passed.
	Violations []string
	// Injected faults: the fault stores' counts by kind, plus the
	// simulation's own (pauses, crashes, restarts, garbage writes, clock
	// offsets and drifts) in Sim.
	Injected faultstore.Counts
	Sim      map[string]int
	// Terms is the number of plugin leaderships seen; Failovers the
	// changes of leading process; Overlaps the pairs of leaderships of one
	// plugin that overlapped in true time (must be 0).
	Terms, Failovers, Overlaps int
	// TimeToLeader is the worst time, over the plugins, from the healing
	// of every fault to a leader; Bound the allowed one.
	TimeToLeader, Bound time.Duration
	// Garbage at heal: the plugins whose lease record (or whose
	// namespace's) still held garbage when the other faults healed. Such
	// a record is waited out for a lease from when the process that takes
	// it first reads it, which may be only once it has won the namespace
	// election, so their bound is twice Bound. Stale at heal: the plugins
	// subscribed only in global mode whose lease (not a delegated one),
	// and the namespace's, were held at heal by processes gone: the new
	// namespace leader first waits out the namespace lease, then reads
	// the plugin's and waits it out too; twice Bound as well.
	// TimeToLeaderDoubled is the worst time to a leader of both kinds.
	GarbageAtHeal, StaleAtHeal int
	TimeToLeaderDoubled        time.Duration
	// Samples is how many Subscription.Term readings the sampler checked.
	Samples int
	// UnsafeAlarms counts the engine's reports, while running, that the
	// store broke a rule of conditional writes (on an honest store, a
	// false alarm: its leaders step down for nothing).
	UnsafeAlarms int
	// StoreDigest hashes every store request in the order the store
	// served it, with its time, arguments and answer; StoreRequests is
	// their number. Digest hashes StoreDigest and the sorted timeline
	// (which holds the engine's logs when Trace is set): equal digests,
	// equal runs.
	Digest, StoreDigest uint64
	StoreRequests       uint64
	Trace               []string
	// StoreLog is every store request as StoreDigest hashed it, when
	// Trace is set.
	StoreLog []string
}

// Failed reports whether the run broke a property.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

// timings of every simulated process (the engine's defaults).
var engineConfig = coord.Config{
	HeartbeatInterval: 5 * time.Second,
	HeartbeatJitter:   time.Second,
	LeaseTimeout:      15 * time.Second,
	RenewDeadline:     10 * time.Second,
	WorkerTimeout:     20 * time.Second,
}

// maxDrift is the largest clock rate error of a process: two processes'
// rates then differ by a factor of at most 1.15/0.85 ≈ 1.35, inside the
// documented tolerance LeaseTimeout/RenewDeadline = 1.5.
const maxDrift = 0.15

// maxOffset is the largest clock offset of a process.
const maxOffset = 3 * time.Hour

// world is one run.
type world struct {
	opts   Options
	rng    *rand.Rand
	start  time.Time
	rec    *recorder
	shared *ledger
	slots  []*slot
	procs  []*proc // every process booted
	plugs  []string

	counts   map[string]int
	countsMu sync.Mutex
	injected faultstore.Counts // of closed views
	pending  []action          // scheduled by the action being run
	garbage  map[string]string // lease key → version of the garbage written
	bg       sync.WaitGroup
	q        *sequencer
	// lies are the conditions every view ignores (Options.UnsafeStore).
	lies                          string
	ignoreIfAbsent, ignoreIfMatch float64
	// turnFrom, turnTo: the spell of a store that turns (turn.go).
	turnFrom, turnTo time.Time
}

// baseFaults is what a view injects outside the fault schedule: nothing,
// or the lies of Options.UnsafeStore.
func (w *world) baseFaults() faultstore.Faults {
	return faultstore.Faults{IgnoreIfAbsentRate: w.ignoreIfAbsent, IgnoreIfMatchRate: w.ignoreIfMatch}
}

func (w *world) addInjected(c faultstore.Counts) {
	w.countsMu.Lock()
	w.injected = w.injected.Add(c)
	w.countsMu.Unlock()
}

func (w *world) count(kind string) {
	w.countsMu.Lock()
	w.counts[kind]++
	w.countsMu.Unlock()
}

// Run runs one seeded simulation. It must run inside a testing/synctest
// bubble (synctest.Test): time is then virtual, and a run of minutes takes
// milliseconds. Properties are checked at the end (Result.Violations).
func Run(opts Options) Result {
	if opts.FaultPhase == 0 {
		opts.FaultPhase = 3 * time.Minute
	}
	if opts.Tail == 0 {
		opts.Tail = 75 * time.Second
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed5eed5eed5eed))
	if opts.Processes == 0 {
		opts.Processes = 3 + rng.IntN(3)
	}
	start := time.Now()
	w := &world{opts: opts, rng: rng, start: start, rec: newRecorder(start), counts: make(map[string]int), q: startSequencer(mix(opts.Seed ^ 0x5e9e4ce5))}
	w.shared = &ledger{
		Store:      mem.New(mem.Options{MaxRead: 64 << 10}),
		keep:       opts.Trace,
		ttlEntries: appPrefix + "ttl/entries/",
		onEarly: func(key string, early time.Duration) {
			w.rec.violate("ttl: %s swept %v before it expired", key, early)
		},
	}
	w.plugs = []string{"alpha", "beta", "gamma"}
	if !opts.NoPlugins {
		w.plugs = append(w.plugs, "queue", "scheduler", "ttl")
	}
	w.rec.unsafe = opts.UnsafeStore
	if opts.UnsafeStore {
		switch rng.IntN(3) {
		case 0:
			w.lies, w.ignoreIfAbsent, w.ignoreIfMatch = "IfAbsent and IfMatch", 1, 1
		case 1:
			w.lies, w.ignoreIfMatch = "IfMatch", 1
		default:
			w.lies, w.ignoreIfAbsent = "IfAbsent", 1
		}
	}
	for i := range opts.Processes {
		w.slots = append(w.slots, &slot{w: w, index: i})
	}
	heterogeneous := w.choosePlugins()
	plan := append(w.plan(), w.turnPlan()...)
	heal := start.Add(opts.FaultPhase)
	end := heal.Add(opts.Tail)

	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	go func() { defer close(samplerDone); w.sample(stopSampler) }()
	w.q.Turn("~sim") // the sampler waits for its first event

	for _, s := range w.slots {
		at := time.Duration(rng.Int64N(int64(3 * time.Second)))
		plan = append(plan, action{at: at, name: "start", do: func() { s.boot(rng.Uint64()) }})
	}
	w.execute(plan, heal)
	w.sleepUntil(heal)
	w.heal()
	bound, bounds, doubled := w.bounds()
	// A call that drew a hang before the healing but was still in its
	// request delay then hangs only after it (on a new release): release
	// once more when no such call can be left.
	w.sleepUntil(heal.Add(lastHang))
	w.releaseHangs()
	w.sleepUntil(end)
	close(stopSampler)
	<-samplerDone
	w.rec.note("end")

	v := w.rec.check(w.plugs, heal, end, bounds, w.subscribers())
	w.excuseTurn(&v)
	res := Result{
		Seed: opts.Seed, Processes: opts.Processes, Violations: v.violations,
		Plugins: len(w.plugs), Heterogeneous: heterogeneous, Lies: w.lies,
		Terms: v.terms, Failovers: v.failovers, Overlaps: v.overlaps, Bound: bound,
	}
	for _, why := range doubled {
		if why == "garbage" {
			res.GarbageAtHeal++
		} else {
			res.StaleAtHeal++
		}
	}
	for name, d := range v.ttl {
		if doubled[name] != "" {
			res.TimeToLeaderDoubled = max(res.TimeToLeaderDoubled, d)
		} else {
			res.TimeToLeader = max(res.TimeToLeader, d)
		}
	}
	// Stop everything (gracefully) and collect counts.
	for _, s := range w.slots {
		if p := s.cur.Load(); p != nil && !p.isDead() {
			p.shutdown()
		}
	}
	for _, p := range w.procs {
		if p.isDead() && !p.stopping && !p.shut {
			p.closeAbandoned()
		}
	}
	w.bg.Wait()
	w.q.close()
	res.Injected = w.injected
	res.Sim = w.counts
	res.Refused = w.counts["Use refused: unsafe store"]
	res.Samples, res.UnsafeAlarms = w.rec.counts()
	res.Digest, res.Trace = w.rec.digest()
	res.StoreRequests, res.StoreDigest = w.shared.digest()
	res.StoreLog = w.shared.lines
	res.Digest = res.Digest*31 ^ res.StoreDigest
	if !opts.Trace {
		res.Trace = nil
	}
	return res
}

// bound is the liveness bound: LeaseTimeout + 2 heartbeats (interval +
// jitter), on the slowest clock among the processes alive at heal.
func (w *world) bound() time.Duration {
	rate := 1.0
	for _, s := range w.slots {
		if p := s.cur.Load(); p != nil && !p.isDead() {
			rate = min(rate, p.clock.rate)
		}
	}
	c := engineConfig
	d := c.LeaseTimeout + 2*(c.HeartbeatInterval+c.HeartbeatJitter)
	return time.Duration(float64(d) / rate)
}

// sleepUntil waits, on the sequencer, until true time t.
func (w *world) sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		w.q.Sleep("~sim", d)
	}
}

// action is one step of the fault schedule.
type action struct {
	at   time.Duration
	name string
	do   func()
}

// execute runs the schedule in time order; actions may schedule more
// (the end of a fault) through w.later.
func (w *world) execute(plan []action, heal time.Time) {
	queue := plan
	sort.SliceStable(queue, func(i, j int) bool { return queue[i].at < queue[j].at })
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		if w.start.Add(a.at).After(heal) {
			continue // faults end at heal; heal() undoes what is left
		}
		w.sleepUntil(w.start.Add(a.at))
		a.do()
		for _, l := range w.pending {
			i := sort.Search(len(queue), func(i int) bool { return queue[i].at > l.at })
			queue = slices.Insert(queue, i, l)
		}
		w.pending = w.pending[:0]
	}
}

// leaseKey is the lease record of a plugin, or of the namespace for "".
func leaseKey(plugin string) string {
	if plugin == "" {
		return Root + Namespace + "/state.json"
	}
	return Root + Namespace + "/plugins/" + plugin + "/state.json"
}

// bounds returns the liveness bound, the bound of each plugin that a
// live process subscribes after the healing (every slot's process then
// subscribes its plugins), and the plugins whose bound is twice that (see
// Result.GarbageAtHeal), with why: "garbage" when its lease record, or
// its namespace's, still holds the garbage written into it, "stale" when
// it is subscribed only in global mode and its lease (not a delegated
// one) and its namespace's are both held by processes gone. On a store
// that ignores conditions no plugin has a bound: none may lead.
func (w *world) bounds() (time.Duration, map[string]time.Duration, map[string]string) {
	bound := w.bound()
	out := make(map[string]time.Duration)
	doubled := make(map[string]string)
	still := func(key string) bool {
		v, ok := w.garbage[key]
		if !ok {
			return false
		}
		obj, err := w.shared.Store.Get(context.Background(), key)
		if errors.Is(err, driver.ErrTooLarge) {
			// Garbage over the read cap: its version from a listing.
			res, lerr := w.shared.Store.List(context.Background(), key)
			if lerr != nil {
				return false
			}
			for _, e := range res.Entries {
				if e.Key == key {
					return e.Version == v
				}
			}
			return false
		}
		return err == nil && obj.Version == v
	}
	// gone reports whether the lease at key is held, not delegated, by no
	// running process that was already running when it was last written
	// (a process booted since has read it at boot at the earliest).
	gone := func(key string) bool {
		obj, err := w.shared.Store.Get(context.Background(), key)
		if err != nil {
			return false
		}
		var rec struct {
			Leader    string `json:"leader"`
			Released  bool   `json:"released"`
			Delegated bool   `json:"delegated"`
		}
		if json.Unmarshal(obj.Data, &rec) != nil || rec.Released || rec.Delegated {
			return false
		}
		for _, s := range w.slots {
			if p := s.current(); p != nil && p.id == rec.Leader && !p.booted.After(obj.Modified) {
				return false
			}
		}
		return true
	}
	subscribed := make(map[string]bool)
	global := make(map[string]bool)
	for _, name := range w.plugs {
		global[name] = true
	}
	for _, s := range w.slots {
		for _, name := range s.plugs {
			subscribed[name] = true
			if p := s.cur.Load(); p == nil || p.modes[name] != coord.Global {
				global[name] = false
			}
		}
	}
	for _, name := range w.plugs {
		if !subscribed[name] || w.opts.UnsafeStore {
			continue // no live subscriber, or no leader wanted
		}
		out[name] = bound
		switch {
		case still(leaseKey("")) || still(leaseKey(name)):
			doubled[name] = "garbage"
		case global[name] && gone(leaseKey("")) && gone(leaseKey(name)):
			doubled[name] = "stale"
		default:
			continue
		}
		out[name] = 2 * bound
	}
	return bound, out, doubled
}

// heal ends every fault: faults off, partitions healed, hung calls
// released, pauses resumed, crashed and stopped processes restarted,
// closed subscriptions opened again.
func (w *world) heal() {
	w.rec.note("heal")
	for _, s := range w.slots {
		p := s.cur.Load()
		if p == nil || p.isDead() {
			if p != nil && p.stillClosing() {
				s.sameID = false
			}
			s.boot(w.rng.Uint64())
			continue
		}
		p.view.Set(w.baseFaults())
		p.view.FailNext(0)
		p.view.HangNext(0)
		p.view.Heal()
		if p.isPaused() {
			p.resume()
		}
		p.resubscribe(s.plugs...)
	}
}

// lastHang is how long after the healing a call may still begin to hang:
// the longest request delay of a latency spell (1.3 leases), and a second.
var lastHang = 13*engineConfig.LeaseTimeout/10 + time.Second

// releaseHangs releases the hung calls of every running process.
func (w *world) releaseHangs() {
	for _, s := range w.slots {
		if p := s.current(); p != nil {
			p.view.ReleaseHangs()
		}
	}
}

// choosePlugins draws the plugins each slot's processes subscribe, and
// reports whether they differ: in a third of the seeds every process
// subscribes every plugin; otherwise each slot takes each plugin with odds
// of 2 in 3, at least one, and every plugin is taken by a slot at least
// (so that after the healing each has a live subscriber).
func (w *world) choosePlugins() bool {
	rng := w.rng
	if rng.IntN(3) == 0 {
		for _, s := range w.slots {
			s.plugs = slices.Clone(w.plugs)
		}
		return false
	}
	taken := make(map[string]bool)
	for _, s := range w.slots {
		for _, name := range w.plugs {
			if rng.IntN(3) != 0 {
				s.plugs = append(s.plugs, name)
				taken[name] = true
			}
		}
		if len(s.plugs) == 0 {
			name := w.plugs[rng.IntN(len(w.plugs))]
			s.plugs = append(s.plugs, name)
			taken[name] = true
		}
	}
	for _, name := range w.plugs {
		if !taken[name] {
			s := w.slots[rng.IntN(len(w.slots))]
			s.plugs = append(s.plugs, name)
		}
	}
	heterogeneous := false
	for _, s := range w.slots {
		slices.SortFunc(s.plugs, func(a, b string) int { return slices.Index(w.plugs, a) - slices.Index(w.plugs, b) })
		heterogeneous = heterogeneous || len(s.plugs) < len(w.plugs)
	}
	return heterogeneous
}

// subscribers describes, by plugin, the live processes subscribing it and
// their modes, and under "" the namespace's leader (for the checker's
// messages).
func (w *world) subscribers() map[string][]string {
	out := make(map[string][]string)
	for _, s := range w.slots {
		p := s.cur.Load()
		if p == nil || p.isDead() {
			continue
		}
		for name, sub := range p.subscriptions() {
			out[name] = append(out[name], fmt.Sprintf("%s(%s)", p.name, sub.Metrics().Mode))
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	// And the namespace's leader, as its lease record says.
	leader := "none"
	if obj, err := w.shared.Store.Get(context.Background(), leaseKey("")); err == nil {
		var rec struct {
			Leader   string `json:"leader"`
			Released bool   `json:"released"`
		}
		if json.Unmarshal(obj.Data, &rec) == nil && !rec.Released {
			leader = rec.Leader
			for _, s := range w.slots {
				if p := s.cur.Load(); p != nil && !p.isDead() && p.id == rec.Leader {
					leader = p.name
				}
			}
		}
	}
	out[""] = []string{leader}
	return out
}

// handedOver checks, after a graceful stop of p on a calm view, that
// every lease p led when it stopped (held: its leaderships then) was
// released or taken over: a plugin's own lease (per-plugin mode, or a
// global follower standing in), and the namespace lease for a plugin led
// in global mode (its delegated plugin lease lives as long as that).
func (w *world) handedOver(p *proc, held []belief) {
	type record struct {
		Leader    string `json:"leader"`
		Epoch     uint64 `json:"epoch"`
		Released  bool   `json:"released"`
		Delegated bool   `json:"delegated"`
	}
	read := func(key string) (record, bool) {
		var rec record
		obj, err := w.shared.Store.Get(context.Background(), key)
		return rec, err == nil && json.Unmarshal(obj.Data, &rec) == nil
	}
	for _, b := range held {
		key := leaseKey(b.plugin)
		if rec, ok := read(key); ok && rec.Leader == p.id && rec.Epoch == b.epoch && !rec.Released && !rec.Delegated {
			w.rec.violate("%s: stopped gracefully on a calm store but did not hand %s over (its lease %s still names it, epoch %d, not released)",
				p.name, b.plugin, key, rec.Epoch)
		}
		if b.mode != string(coord.Global) {
			continue
		}
		if rec, ok := read(leaseKey("")); ok && rec.Leader == p.id && !rec.Released {
			w.rec.violate("%s: stopped gracefully on a calm store but did not hand %s over (the namespace lease still names it, epoch %d, not released)",
				p.name, b.plugin, rec.Epoch)
		}
	}
}

// sample reads every live process's Subscription.Term every 500ms of true
// time and checks that no two processes report leading a plugin at once.
func (w *world) sample(stop <-chan struct{}) {
	next := time.Now()
	for {
		next = next.Add(500 * time.Millisecond)
		select {
		case <-stop:
			return
		case <-w.q.After("~sample", time.Until(next)):
		}
		now := time.Now()
		leaders := make(map[string]string)
		for _, s := range w.slots {
			p := s.current()
			if p == nil {
				continue
			}
			for name, sub := range p.subscriptions() {
				if t, ok := sub.Term(); ok {
					w.rec.sample(now, p.name, name, t.Epoch, leaders)
				}
			}
		}
	}
}

// A fault kind of the schedule and its weight (out of the weights' sum).
type faultKind struct {
	name       string
	weight     int
	honestOnly bool // not on a store that ignores conditions (Options.UnsafeStore)
}

// faultKinds are the schedule's kinds, in the order of their dice.
var faultKinds = []faultKind{
	{"latency", 10, true}, {"errors", 9, true}, {"error burst", 6, true}, {"conflicts", 8, true},
	{"ambiguous writes", 10, true}, {"corrupt reads", 5, true}, {"partition", 8, true}, {"pause", 10, true},
	{"crash", 9, false}, {"corrupt record written", 7, true}, {"hangs", 5, true}, {"hangs ignoring ctx", 5, true},
	{"hang burst", 3, true}, {"graceful stop", 6, false}, {"unsubscribe", 9, false},
}

// drawKind draws a kind of fault; on a store that ignores conditions only
// the faults of processes (pauses excepted: a check held past its
// deadline is inconclusive, and Use would not fail).
func (w *world) drawKind(rng *rand.Rand) string {
	total := 0
	for _, k := range faultKinds {
		if !w.opts.UnsafeStore || !k.honestOnly {
			total += k.weight
		}
	}
	x := rng.IntN(total)
	for _, k := range faultKinds {
		if w.opts.UnsafeStore && k.honestOnly {
			continue
		}
		if x < k.weight {
			return k.name
		}
		x -= k.weight
	}
	panic("unreachable")
}

// plan draws the fault schedule from the seed.
func (w *world) plan() []action {
	rng := w.rng
	F := w.opts.FaultPhase
	n := int(F/(30*time.Second)) + rng.IntN(int(F/(15*time.Second))+1)
	lt := engineConfig.LeaseTimeout
	var plan []action
	for range n {
		at := 5*time.Second + time.Duration(rng.Int64N(int64(F-10*time.Second)))
		s := w.slots[rng.IntN(len(w.slots))]
		d := 5*time.Second + time.Duration(rng.Int64N(int64(35*time.Second)))
		var a action
		switch kind := w.drawKind(rng); kind {
		case "latency":
			hi := time.Duration(rng.Int64N(int64(lt * 13 / 10)))
			a = w.spell(s, kind, d, func(f *faultstore.Faults) {
				f.RequestDelay = faultstore.Delay{Max: hi}
				f.ResponseDelay = faultstore.Delay{Max: hi / 2}
			}, func(f *faultstore.Faults) { f.RequestDelay, f.ResponseDelay = faultstore.Delay{}, faultstore.Delay{} }, nil)
		case "errors":
			p := 0.2 + rng.Float64()*0.6
			a = w.spell(s, kind, d, func(f *faultstore.Faults) { f.ErrorRate = p }, func(f *faultstore.Faults) { f.ErrorRate = 0 }, nil)
		case "error burst":
			burst := 3 + rng.IntN(30)
			a = action{name: kind, do: func() {
				if p := s.current(); p != nil {
					w.count(kind)
					p.noteFault(0)
					p.view.FailNext(burst)
				}
			}}
		case "conflicts":
			p := 0.2 + rng.Float64()*0.5
			a = w.spell(s, kind, d, func(f *faultstore.Faults) { f.ConflictRate = p }, func(f *faultstore.Faults) { f.ConflictRate = 0 }, nil)
		case "ambiguous writes":
			p := 0.2 + rng.Float64()*0.6
			a = w.spell(s, kind, d, func(f *faultstore.Faults) { f.AmbiguousRate = p }, func(f *faultstore.Faults) { f.AmbiguousRate = 0 }, nil)
		case "corrupt reads":
			p, q := rng.Float64()*0.4, rng.Float64()*0.1
			a = w.spell(s, kind, d, func(f *faultstore.Faults) { f.CorruptRate, f.OversizeRate = p, q },
				func(f *faultstore.Faults) { f.CorruptRate, f.OversizeRate = 0, 0 }, nil)
		case "hangs", "hangs ignoring ctx":
			// Calls accepted and never answered: they end with their
			// context (the engine's request deadline), or, ignoring it, on
			// a release: at the end of the spell or at heal, by seed, or
			// earlier at the transport's timeout (HangFor), if drawn.
			p := 0.05 + rng.Float64()*0.35
			ignore := kind == "hangs ignoring ctx"
			var bound faultstore.Delay
			if rng.IntN(2) == 0 {
				bound = faultstore.Delay{Min: time.Second, Max: 2 * lt}
			}
			var release func(*proc)
			if !ignore || rng.IntN(2) == 0 {
				release = func(p *proc) { p.view.ReleaseHangs() }
			}
			a = w.spell(s, kind, d, func(f *faultstore.Faults) { f.HangRate, f.HangIgnoresContext, f.HangFor = p, ignore, bound },
				func(f *faultstore.Faults) { f.HangRate, f.HangIgnoresContext, f.HangFor = 0, false, faultstore.Delay{} }, release)
		case "hang burst":
			// The next few calls hang (as a spell of hangs, if one is on,
			// says; else until their context ends).
			burst := 1 + rng.IntN(5)
			a = action{name: kind, do: func() {
				if p := s.current(); p != nil {
					w.count(kind)
					p.noteFault(0)
					p.view.HangNext(burst)
				}
			}}
		case "partition":
			delay := time.Duration(rng.Int64N(int64(6 * time.Second)))
			a = action{name: kind, do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count(kind)
				p.noteFault(1)
				p.view.Partition(delay)
				w.rec.note("partition %s for %v", p.name, d)
				w.later(d, func() { p.view.Heal(); p.noteFault(-1); w.rec.note("unpartition %s", p.name) })
			}}
		case "pause":
			pause := lt/2 + time.Duration(rng.Int64N(int64(lt*3)))
			a = action{name: kind, do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count(kind)
				if pause > lt {
					w.count("pause longer than the lease")
				}
				p.pause()
				w.later(pause, func() {
					if !p.isDead() {
						p.resume()
					}
				})
			}}
		case "crash":
			down := time.Duration(rng.Int64N(int64(30 * time.Second)))
			seed := rng.Uint64()
			sameID := rng.IntN(2) == 0
			a = action{name: kind, do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count(kind)
				p.crash()
				w.later(down, func() { w.restart(s, p, sameID, seed) })
			}}
		case "graceful stop":
			// Hub.Close, with the process's cancelled context half the
			// time (signal.NotifyContext), then a restart.
			down := 8*time.Second + time.Duration(rng.Int64N(int64(30*time.Second)))
			seed := rng.Uint64()
			sameID := rng.IntN(2) == 0
			cancelled := rng.IntN(2) == 0
			a = action{name: kind, do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count(kind)
				if cancelled {
					w.count("graceful stop with a cancelled ctx")
				}
				p.stop(cancelled)
				w.later(down, func() { w.restart(s, p, sameID, seed) })
			}}
		case "unsubscribe":
			// Subscription.Close (of a plugin the process leads, if any),
			// Use again after a while (at heal at the latest).
			down := 3*time.Second + time.Duration(rng.Int64N(int64(40*time.Second)))
			seed := rng.Uint64()
			a = action{name: kind, do: func() {
				p := s.current()
				if p == nil {
					return
				}
				if name := p.unsubscribe(rand.New(rand.NewPCG(seed, 6))); name != "" {
					w.later(down, func() { p.resubscribe(name) })
				}
			}}
		case "corrupt record written":
			// Garbage in a lease record (sometimes too large to read).
			keys := []string{leaseKey("")}
			for _, name := range w.plugs {
				keys = append(keys, leaseKey(name))
			}
			key := keys[rng.IntN(len(keys))]
			size := 1 + rng.IntN(200)
			if rng.IntN(4) == 0 {
				size = 70 << 10 // above the store's read cap
			}
			a = action{name: "garbage", do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count(kind)
				w.rec.note("garbage %s (%d bytes)", key, size)
				if v, err := p.view.WriteGarbage(context.Background(), key, size); err == nil {
					if w.garbage == nil {
						w.garbage = make(map[string]string)
					}
					w.garbage[key] = v
				}
			}}
		}
		a.at = at
		plan = append(plan, a)
	}
	return plan
}

// restart boots a new process in the slot after p crashed or stopped, if
// p is still the slot's process. A process still closing keeps its worker
// id: the new one gets a new id.
func (w *world) restart(s *slot, p *proc, sameID bool, seed uint64) {
	if s.cur.Load() != p {
		return
	}
	sameID = sameID && !p.stillClosing()
	w.count("restart")
	if sameID {
		w.count("restart with the same worker id")
	}
	s.sameID = sameID
	s.boot(seed)
}

// spell turns a fault on for a slot's current process for d; end, if not
// nil, runs after off.
func (w *world) spell(s *slot, kind string, d time.Duration, on, off func(*faultstore.Faults), end func(*proc)) action {
	return action{name: kind, do: func() {
		p := s.current()
		if p == nil {
			return
		}
		w.count(kind)
		p.noteFault(1)
		p.view.Update(on)
		w.rec.note("%s on %s for %v", kind, p.name, d)
		w.later(d, func() {
			p.view.Update(off)
			if end != nil {
				end(p)
			}
			p.noteFault(-1)
		})
	}}
}

// later schedules f at d from now (true time), before the heal.
func (w *world) later(d time.Duration, f func()) {
	at := time.Since(w.start) + d
	w.pending = append(w.pending, action{at: at, name: "end", do: f})
}

// Kinds of faults the simulation counts itself, in display order.
var SimKinds = []string{
	"latency", "errors", "error burst", "conflicts", "ambiguous writes", "corrupt reads", "partition",
	"hangs", "hangs ignoring ctx", "hang burst",
	"pause", "pause longer than the lease", "crash", "graceful stop", "graceful stop with a cancelled ctx", "graceful stop on a calm store",
	"restart", "restart with the same worker id", "unsubscribe", "unsubscribe while leading", "resubscribe",
	"lead return", "lead return with an error", "Use refused: unsafe store",
	"corrupt record written", "clock offset", "clock drift",
}

func (r Result) String() string {
	fleet := "every process subscribes every plugin"
	if r.Heterogeneous {
		fleet = "processes subscribe different plugins"
	}
	store := "honest store"
	if r.Lies != "" {
		store = fmt.Sprintf("store ignoring %s, %d Uses refused", r.Lies, r.Refused)
	}
	return fmt.Sprintf("seed %d: %d processes, %d plugins (%s), %s; %d store faults (%d hangs, %d ignored conditions), %d stops, %d unsubscriptions, %d Lead returns; "+
		"%d terms, %d failovers, %d overlaps, %d unsafe-store alarms, time to leader %v (bound %v), %d violations",
		r.Seed, r.Processes, r.Plugins, fleet, store, r.Injected.Total(), r.Injected[faultstore.Hang], r.Injected[faultstore.IgnoredCondition],
		r.Sim["graceful stop"], r.Sim["unsubscribe"], r.Sim["lead return"]+r.Sim["lead return with an error"],
		r.Terms, r.Failovers, r.Overlaps, r.UnsafeAlarms, r.TimeToLeader, r.Bound, len(r.Violations))
}
