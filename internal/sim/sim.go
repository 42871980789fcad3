package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/s3coord/coord"
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
	// Trace keeps the sorted timeline in Result.Trace.
	Trace bool
}

// Result is what one run saw.
type Result struct {
	Seed      uint64
	Processes int
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
	// election, so their bound is twice Bound; TimeToLeaderGarbage is
	// their worst time to a leader.
	GarbageAtHeal       int
	TimeToLeaderGarbage time.Duration
	// Samples is how many Subscription.Term readings the sampler checked.
	Samples int
	// StoreDigest hashes every store request in the order the store
	// served it, with its time, arguments and answer; StoreRequests is
	// their number. Digest hashes StoreDigest and the sorted timeline
	// (which holds the engine's logs when Trace is set): equal digests,
	// equal runs.
	Digest, StoreDigest uint64
	StoreRequests       uint64
	Trace               []string
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
	plugs  []string

	counts   map[string]int
	countsMu sync.Mutex
	injected faultstore.Counts // of closed views
	pending  []action          // scheduled by the action being run
	garbage  map[string]string // lease key → version of the garbage written
	bg       sync.WaitGroup
	q        *sequencer
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
		ttlEntries: appPrefix + "ttl/entries/",
		onEarly: func(key string, early time.Duration) {
			w.rec.violate("ttl: %s swept %v before it expired", key, early)
		},
	}
	w.plugs = []string{"alpha", "beta"}
	if !opts.NoPlugins {
		w.plugs = append(w.plugs, "queue", "scheduler", "ttl")
	}
	for i := range opts.Processes {
		w.slots = append(w.slots, &slot{w: w, index: i})
	}
	plan := w.plan()
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
	bound, bounds, garbled := w.bounds()
	w.sleepUntil(end)
	close(stopSampler)
	<-samplerDone
	w.rec.note("end")

	v := w.rec.check(w.plugs, heal, end, bounds)
	res := Result{
		Seed: opts.Seed, Processes: opts.Processes, Violations: v.violations,
		Terms: v.terms, Failovers: v.failovers, Overlaps: v.overlaps, Bound: bound,
		GarbageAtHeal: len(garbled),
	}
	for name, d := range v.ttl {
		if garbled[name] {
			res.TimeToLeaderGarbage = max(res.TimeToLeaderGarbage, d)
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
	w.bg.Wait()
	w.q.close()
	res.Injected = w.injected
	res.Sim = w.counts
	res.Samples = w.rec.samples
	res.Digest, res.Trace = w.rec.digest()
	res.StoreRequests, res.StoreDigest = w.shared.digest()
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

// bounds returns the liveness bound, the bound of each plugin (see
// Result.GarbageAtHeal) and the plugins whose lease record, or whose
// namespace's, still holds the garbage written into it.
func (w *world) bounds() (time.Duration, map[string]time.Duration, map[string]bool) {
	bound := w.bound()
	out := make(map[string]time.Duration)
	garbled := make(map[string]bool)
	still := func(key string) bool {
		v, ok := w.garbage[key]
		if !ok {
			return false
		}
		obj, err := w.shared.Store.Get(context.Background(), key)
		return err == nil && obj.Version == v
	}
	for _, name := range w.plugs {
		out[name] = bound
		if still(leaseKey("")) || still(leaseKey(name)) {
			out[name] = 2 * bound
			garbled[name] = true
		}
	}
	return bound, out, garbled
}

// heal ends every fault: faults off, partitions healed, pauses resumed,
// crashed processes restarted.
func (w *world) heal() {
	w.rec.note("heal")
	for _, s := range w.slots {
		p := s.cur.Load()
		if p == nil || p.isDead() {
			s.boot(w.rng.Uint64())
			continue
		}
		p.view.Set(faultstore.Faults{})
		p.view.FailNext(0)
		p.view.Heal()
		if p.isPaused() {
			p.resume()
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
		switch k := rng.IntN(100); {
		case k < 12:
			hi := time.Duration(rng.Int64N(int64(lt * 13 / 10)))
			a = w.spell(s, "latency", d, func(f *faultstore.Faults) {
				f.RequestDelay = faultstore.Delay{Max: hi}
				f.ResponseDelay = faultstore.Delay{Max: hi / 2}
			}, func(f *faultstore.Faults) { f.RequestDelay, f.ResponseDelay = faultstore.Delay{}, faultstore.Delay{} })
		case k < 22:
			p := 0.2 + rng.Float64()*0.6
			a = w.spell(s, "errors", d, func(f *faultstore.Faults) { f.ErrorRate = p }, func(f *faultstore.Faults) { f.ErrorRate = 0 })
		case k < 30:
			burst := 3 + rng.IntN(30)
			a = action{name: "burst", do: func() {
				if p := s.current(); p != nil {
					w.count("error burst")
					p.view.FailNext(burst)
				}
			}}
		case k < 40:
			p := 0.2 + rng.Float64()*0.5
			a = w.spell(s, "conflicts", d, func(f *faultstore.Faults) { f.ConflictRate = p }, func(f *faultstore.Faults) { f.ConflictRate = 0 })
		case k < 52:
			p := 0.2 + rng.Float64()*0.6
			a = w.spell(s, "ambiguous writes", d, func(f *faultstore.Faults) { f.AmbiguousRate = p }, func(f *faultstore.Faults) { f.AmbiguousRate = 0 })
		case k < 58:
			p, q := rng.Float64()*0.4, rng.Float64()*0.1
			a = w.spell(s, "corrupt reads", d, func(f *faultstore.Faults) { f.CorruptRate, f.OversizeRate = p, q },
				func(f *faultstore.Faults) { f.CorruptRate, f.OversizeRate = 0, 0 })
		case k < 68:
			delay := time.Duration(rng.Int64N(int64(6 * time.Second)))
			a = action{name: "partition", do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count("partition")
				p.view.Partition(delay)
				w.rec.note("partition %s for %v", p.name, d)
				w.later(d, func() { p.view.Heal(); w.rec.note("unpartition %s", p.name) })
			}}
		case k < 80:
			pause := lt/2 + time.Duration(rng.Int64N(int64(lt*3)))
			a = action{name: "pause", do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count("pause")
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
		case k < 92:
			down := time.Duration(rng.Int64N(int64(30 * time.Second)))
			seed := rng.Uint64()
			sameID := rng.IntN(2) == 0
			a = action{name: "crash", do: func() {
				p := s.current()
				if p == nil {
					return
				}
				w.count("crash")
				p.crash()
				w.later(down, func() {
					if s.cur.Load() == p {
						w.count("restart")
						if sameID {
							w.count("restart with the same worker id")
						}
						s.sameID = sameID
						s.boot(seed)
					}
				})
			}}
		default:
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
				w.count("corrupt record written")
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

// spell turns a fault on for a slot's current process for d.
func (w *world) spell(s *slot, kind string, d time.Duration, on, off func(*faultstore.Faults)) action {
	return action{name: kind, do: func() {
		p := s.current()
		if p == nil {
			return
		}
		w.count(kind)
		p.view.Update(on)
		w.rec.note("%s on %s for %v", kind, p.name, d)
		w.later(d, func() { p.view.Update(off) })
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
	"pause", "pause longer than the lease", "crash", "restart", "restart with the same worker id",
	"corrupt record written", "clock offset", "clock drift",
}

func (r Result) String() string {
	return fmt.Sprintf("seed %d: %d processes, %d terms, %d failovers, %d overlaps, time to leader %v (bound %v), %d violations",
		r.Seed, r.Processes, r.Terms, r.Failovers, r.Overlaps, r.TimeToLeader, r.Bound, len(r.Violations))
}
