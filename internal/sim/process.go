package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/queue"
	"github.com/s3coord/coord/plugin/scheduler"
	"github.com/s3coord/coord/plugin/ttl"
)

// appPrefix holds the plugins' own data.
const appPrefix = "app/"

// slot is one simulated machine: it runs one process at a time, a new one
// after each crash.
type slot struct {
	w      *world
	index  int
	gen    int
	sameID bool
	plugs  []string // the plugins its processes subscribe (in w.plugs order)
	cur    atomic.Pointer[proc]
}

// proc is one process: a Hub with its plugins over its own view of the
// store, on its own clock.
type proc struct {
	w      *world
	slot   *slot
	name   string // p<slot>.<generation>
	id     string // worker id
	rng    *rand.Rand
	booted time.Time // true time
	clock  *procClock
	view   *faultstore.Store
	ctx    context.Context // the process's life (workloads)
	cancel context.CancelFunc
	wg     sync.WaitGroup // workloads

	plugins map[string]plugin.Plugin // built once: a plugin used again is the same value
	modes   map[string]coord.Mode

	mu      sync.Mutex
	hub     *coord.Hub
	subs    map[string]*coord.Subscription
	closing map[string]bool // Subscription.Close in progress
	reopen  map[string]bool // to Use again once its Close returns
	opening map[string]bool // Use in progress
	dead    bool
	paused  bool
	// stopping: Hub.Close (a graceful stop) began; closed is closed when
	// it returned.
	stopping bool
	closed   chan struct{}
	shut     bool // shut down at the end of the run
	// faulty counts the faults on the view now; calm is when the last
	// one ended (its effects, such as a delayed request, may outlive it
	// by calmAfter).
	faulty int
	calm   time.Time
}

// current returns the slot's process if it is running (alive, not
// paused).
func (s *slot) current() *proc {
	p := s.cur.Load()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead || p.paused {
		return nil
	}
	return p
}

func (p *proc) subscriptions() map[string]*coord.Subscription {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]*coord.Subscription, len(p.subs))
	for k, v := range p.subs {
		out[k] = v
	}
	return out
}

func (p *proc) isDead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// stillClosing reports whether p was stopped gracefully and its Hub.Close
// has not returned yet.
func (p *proc) stillClosing() bool {
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if !stopping {
		return false
	}
	select {
	case <-p.closed:
		return false
	default:
		return true
	}
}

func (p *proc) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// boot starts a new process in the slot.
func (s *slot) boot(seed uint64) {
	w := s.w
	if s.cur.Load() != nil {
		s.gen++
	}
	rng := rand.New(rand.NewPCG(seed, uint64(s.index)<<32|uint64(s.gen)))
	offset := time.Duration(0)
	if rng.IntN(3) != 0 {
		offset = time.Duration(rng.Int64N(int64(2*maxOffset))) - maxOffset
		w.count("clock offset")
	}
	rate := 1 + (rng.Float64()*2-1)*maxDrift
	w.count("clock drift")
	id := fmt.Sprintf("p%d", s.index)
	if s.gen > 0 && !s.sameID {
		id = fmt.Sprintf("p%d-g%d", s.index, s.gen)
	}
	name := fmt.Sprintf("p%d.%d", s.index, s.gen)
	p := &proc{
		w: w, slot: s, name: name, id: id, rng: rng,
		clock:   newProcClock(w.q, name+"/", time.Now(), offset, rate),
		view:    faultstore.New(w.shared, rng.Uint64()),
		subs:    make(map[string]*coord.Subscription),
		closing: make(map[string]bool),
		reopen:  make(map[string]bool),
		opening: make(map[string]bool),
		closed:  make(chan struct{}),
	}
	// The view's calls take turns and its delays are events (labelled by
	// the process), so that the run replays exactly.
	p.view.SetSequencer(labelled{w.q, p.name + "/s "})
	p.view.SetClock(labelled{w.q, p.name + "/"})
	p.view.Set(w.baseFaults())
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.booted = time.Now()
	s.cur.Store(p)
	w.procs = append(w.procs, p)
	w.rec.note("boot %s id=%s offset=%v rate=%.4f plugins=%s", p.name, id, offset, rate, strings.Join(s.plugs, ","))

	cfg := engineConfig
	cfg.WorkerID = id
	cfg.Clock = p.clock
	cfg.RandSeed = rng.Uint64() | 1
	cfg.DisableMembership = rng.IntN(4) == 0
	// The engine's logs go to the timeline when tracing; its reports of
	// a store breaking a rule are counted always (Result.UnsafeAlarms).
	cfg.Logger = slog.New(&traceHandler{rec: w.rec, inst: p.name, trace: w.opts.Trace})
	cfg.Diagnostics = w.opts.Trace
	policy := rng.IntN(3) // 0 all global, 1 all per-plugin, 2 mixed
	p.modes = make(map[string]coord.Mode)
	for _, name := range w.plugs {
		m := coord.Global
		if policy == 1 || policy == 2 && rng.IntN(2) == 0 {
			m = coord.PerPlugin
		}
		p.modes[name] = m
	}
	p.plugins = p.workloads()
	w.bg.Go(func() {
		hub, err := coord.NewHub(p.view, cfg)
		if err != nil {
			w.rec.violate("%s: NewHub: %v", p.name, err)
			return
		}
		p.mu.Lock()
		p.hub = hub
		for _, name := range s.plugs {
			p.opening[name] = true
		}
		p.mu.Unlock()
		for _, name := range s.plugs {
			p.use(name)
		}
		if w.opts.UnsafeStore {
			p.retryUse(rng.Uint64())
		}
	})
}

// use subscribes the plugin (p.opening[name] set by the caller). A Use
// that fails leaves it unsubscribed: heal, a later resubscription or, on
// a store that ignores conditions, retryUse tries again.
func (p *proc) use(name string) {
	w := p.w
	p.mu.Lock()
	hub := p.hub
	p.mu.Unlock()
	sub, err := hub.Use(p.ctx, name, &recorded{p: p, inner: p.plugins[name]}, coord.UseOptions{Mode: p.modes[name], Namespace: Namespace})
	ending := p.ctx.Err() != nil || errors.Is(err, coord.ErrClosed)
	switch {
	case err != nil && ending:
	case w.opts.UnsafeStore && errors.Is(err, coord.ErrUnsafeStore):
		w.count("Use refused: unsafe store")
		w.rec.note("use %s %s refused: %v", p.name, name, err)
	case errors.Is(err, coord.ErrUnsafeStore) && p.view.Injected()[faultstore.IgnoredCondition] > 0:
		// A store check (run again after an unsafe-store alarm, this
		// Hub's or another's) caught a condition the fault schedule made
		// this view ignore (the store is otherwise honest): right.
		w.count("Use refused: the store check caught an ignored condition")
		w.rec.note("use %s %s refused: %v", p.name, name, err)
	case w.opts.UnsafeStore && err == nil:
		w.rec.violate("%s: Use(%s) succeeded on a store that ignores conditions (%s)", p.name, name, w.lies)
	case err != nil:
		w.rec.violate("%s: Use(%s): %v", p.name, name, err)
	}
	p.mu.Lock()
	delete(p.opening, name)
	if err == nil {
		p.subs[name] = sub
	}
	p.mu.Unlock()
	// Let the loops just started run until they wait before the next
	// step (an exact replay).
	w.q.Turn(p.name + "/use " + name)
}

// retryUse, on a store that ignores conditions, tries the refused Uses
// again every 10 to 30 seconds (each may run the store check again) until
// the process ends.
func (p *proc) retryUse(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 4))
	for p.sleep(10*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))) {
		for _, name := range p.slot.plugs {
			p.mu.Lock()
			again := p.subs[name] == nil && !p.opening[name] && !p.closing[name] && !p.dead
			if again {
				p.opening[name] = true
			}
			p.mu.Unlock()
			if again {
				p.use(name)
			}
		}
	}
}

// unsubscribe closes one of the process's subscriptions (one it leads if
// any, drawn with rng) with a cancelled or a live ctx, and reports the
// plugin ("" if none). The Close runs in its own goroutine; once it
// returned, the process no longer leads the plugin (unless the ctx was
// cancelled: a Global Close then returns at once, the loop finishing the
// work).
func (p *proc) unsubscribe(rng *rand.Rand) string {
	w := p.w
	open := make(map[string]*coord.Subscription)
	p.mu.Lock()
	for _, name := range p.slot.plugs {
		if sub := p.subs[name]; sub != nil && !p.closing[name] {
			open[name] = sub
		}
	}
	p.mu.Unlock()
	var led, all []string
	for _, name := range p.slot.plugs {
		if sub := open[name]; sub != nil {
			all = append(all, name)
			if _, leads := sub.Term(); leads {
				led = append(led, name)
			}
		}
	}
	pick := led
	if len(pick) == 0 {
		pick = all
	}
	if len(pick) == 0 {
		return ""
	}
	name := pick[rng.IntN(len(pick))]
	sub := open[name]
	p.mu.Lock()
	p.closing[name] = true
	p.mu.Unlock()
	cancelled := rng.IntN(3) == 0
	w.count("unsubscribe")
	if len(led) > 0 {
		w.count("unsubscribe while leading")
	}
	w.rec.note("unsubscribe %s %s leading=%v cancelled=%v", p.name, name, len(led) > 0, cancelled)
	w.bg.Go(func() {
		w.q.Turn(p.name + "/unsubscribe " + name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if cancelled {
			cancel()
		}
		err := sub.Close(ctx)
		cancel()
		w.q.Turn(p.name + "/unsubscribed " + name)
		w.rec.note("unsubscribed %s %s: %v", p.name, name, err)
		if !cancelled && err == nil && p.ctx.Err() == nil {
			w.rec.stillLeads(p.name, name, "Subscription.Close returned")
		}
		p.mu.Lock()
		delete(p.subs, name)
		delete(p.closing, name)
		again := p.reopen[name] && !p.dead
		delete(p.reopen, name)
		if again {
			p.opening[name] = true
		}
		p.mu.Unlock()
		if again {
			w.count("resubscribe")
			p.use(name)
		}
	})
	return name
}

// resubscribe Uses the plugins again that are not subscribed (after
// their Close returned, if that is still running), one after the other
// in one goroutine: Uses started together would all wait for one store
// check and then run at once, in an order of the scheduler's. It must run
// on the simulation's goroutine.
func (p *proc) resubscribe(names ...string) {
	w := p.w
	var open []string
	p.mu.Lock()
	for _, name := range names {
		switch {
		case p.dead || p.subs[name] != nil || p.opening[name] || p.hub == nil:
			continue
		case p.closing[name]:
			p.reopen[name] = true
			continue
		}
		p.opening[name] = true
		open = append(open, name)
	}
	p.mu.Unlock()
	if len(open) == 0 {
		return
	}
	for _, name := range open {
		w.count("resubscribe")
		w.rec.note("resubscribe %s %s", p.name, name)
	}
	w.bg.Go(func() {
		for _, name := range open {
			w.q.Turn(p.name + "/resubscribe " + name)
			p.use(name)
		}
	})
}

// recorded wraps a plugin: it records each leadership (Lead until its
// context is cancelled) and forwards Lead and Tick.
type recorded struct {
	p     *proc
	inner plugin.Plugin
}

func (r *recorded) Lead(ctx context.Context, t plugin.Term) error {
	b := r.p.w.rec.leadStart(r.p.name, t)
	if linger := r.p.linger(); linger > 0 {
		// Slow to stop: when its leadership ends gracefully (it resigned,
		// was unsubscribed, or its Hub closed: cause ErrResigned) it acts
		// for linger more, and leads (for the checker) until it returns.
		// Other ends (a lost lease, a renew deadline passed in a pause or
		// a partition) end it with the context: the engine's guarantee is
		// the context's, and fencing covers a process that acts on.
		// (The lingering is the wrapper's own, from the context's end,
		// whatever the inner plugin does: the engine must wait for this
		// Lead to return.)
		lingered := make(chan struct{})
		context.AfterFunc(ctx, func() {
			// (Leaderships that end together linger together: each
			// timer is labelled by its plugin.)
			if errors.Is(context.Cause(ctx), coord.ErrResigned) {
				r.p.sleepAs("linger "+t.Plugin, linger)
			}
			r.p.w.rec.leadEnd(b)
			close(lingered)
		})
		defer func() {
			if ctx.Err() != nil {
				<-lingered
				return
			}
			r.p.w.rec.leadEnd(b) // returned while leading: a resignation
		}()
	} else {
		context.AfterFunc(ctx, func() { r.p.w.rec.leadEnd(b) })
	}
	if l, ok := r.inner.(plugin.Leader); ok {
		err := l.Lead(ctx, t)
		if ctx.Err() == nil {
			r.p.w.rec.leadReturned(b, err)
		}
		return err
	}
	<-ctx.Done() // no work of its own: lead until the leadership ends
	return nil
}

func (r *recorded) Interval() time.Duration {
	if p, ok := r.inner.(plugin.Periodic); ok {
		return p.Interval()
	}
	return 0
}

func (r *recorded) Tick(ctx context.Context, t plugin.Term) error {
	if p, ok := r.inner.(plugin.Periodic); ok {
		return p.Tick(ctx, t)
	}
	return nil
}

// resigning is the plugin gamma: leadership only, and its Lead returns
// (with an error or without, by seed) after 2 to 30 seconds of its
// clock, which resigns the plugin: the process releases it and does not
// lead it again for a back-off of up to 4 LeaseTimeouts. It returns only
// if 4 LeaseTimeouts of its clock from then end before the faults heal,
// so that every back-off is over at the healing and the liveness bound
// holds as it is; otherwise it leads until its context ends.
type resigning struct {
	p  *proc
	mu sync.Mutex
	rg *rand.Rand
}

func (g *resigning) Lead(ctx context.Context, t plugin.Term) error {
	g.mu.Lock()
	d := 2*time.Second + time.Duration(g.rg.Int64N(int64(28*time.Second)))
	withErr := g.rg.IntN(2) == 0
	g.mu.Unlock()
	p := g.p
	heal := p.w.start.Add(p.w.opts.FaultPhase)
	select {
	case <-ctx.Done():
		return nil
	case <-p.clock.After(d):
	}
	// The back-off counts from the release, within a heartbeat of the return.
	if time.Now().Add(p.clock.trueDuration(4*engineConfig.LeaseTimeout + engineConfig.HeartbeatInterval)).After(heal) {
		<-ctx.Done() // too late: the back-off would outlive the faults
		return nil
	}
	if withErr {
		p.w.count("lead return with an error")
		return fmt.Errorf("gamma epoch %d gives up", t.Epoch)
	}
	p.w.count("lead return")
	return nil
}

// noteFault records that a fault on the process's view began (+1) or
// ended (-1).
func (p *proc) noteFault(delta int) {
	p.mu.Lock()
	p.faulty += delta
	p.calm = time.Now()
	p.mu.Unlock()
}

// calmAfter is how long a fault may outlive its end: a request delayed by
// a latency spell (up to 1.3 + 0.65 leases) or held by a pause.
const calmAfter = 30 * time.Second

// isCalm reports whether no fault is on the view, none ended within
// calmAfter and no call hangs (one ignoring its context outlives its
// spell until released): its requests are then answered at once.
func (p *proc) isCalm() bool {
	p.mu.Lock()
	calm := p.faulty == 0 && time.Since(p.calm) > calmAfter
	p.mu.Unlock()
	return calm && p.view.Hanging() == 0
}

// pause stops the process: its clock fires no timer and its requests are
// held (new ones before they are sent, those in flight before they
// return).
func (p *proc) pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.noteFault(1)
	p.w.rec.stop(p.name, "pause")
	p.view.Pause()
	p.clock.pause()
}

// resume wakes a paused process: its clock has jumped by the pause.
func (p *proc) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.noteFault(-1)
	p.w.rec.resume(p.name)
	p.clock.resume()
	p.view.Resume()
}

// crash abandons the process: nothing it does reaches the store any more
// (its view is closed: requests fail with driver.ErrClosed, hung ones are
// released), nothing is released. Its Hub is left running, cut off, until
// the end of the run (closeAbandoned): a Close now would wait for its
// loop, and a loop that leaves a slow request to find both its stop and
// its renew deadline due picks one of them at random (the trace would not
// replay).
func (p *proc) crash() {
	p.mu.Lock()
	p.dead = true
	p.mu.Unlock()
	p.w.rec.stop(p.name, "crash")
	p.view.Close()
	p.clock.resume()
	p.cancel()
	p.w.addInjected(p.view.Injected())
}

// closeAbandoned stops a crashed process's goroutines at the end of the
// run (its view is closed: nothing is written).
func (p *proc) closeAbandoned() {
	p.mu.Lock()
	hub := p.hub
	p.mu.Unlock()
	p.w.bg.Go(func() {
		if hub != nil {
			_ = hub.Close(context.Background())
		}
		p.wg.Wait()
	})
}

// stop stops the process gracefully during the run: its context is
// cancelled (the workloads end) and the Hub closed with that cancelled
// context when cancelled is set (the signal.NotifyContext pattern), with
// a live one otherwise. Close must return within its own bound (a
// HeartbeatInterval on the process's clock, plus a second) with nothing
// led any more, and, if the view was calm, with every lease the process
// led released (or already taken over).
func (p *proc) stop(cancelled bool) {
	w := p.w
	p.mu.Lock()
	p.dead, p.stopping = true, true
	hub := p.hub
	p.mu.Unlock()
	calm := p.isCalm()
	held := w.rec.openBeliefs(p.name)
	w.rec.note("stop %s cancelled=%v calm=%v", p.name, cancelled, calm)
	p.cancel()
	w.bg.Go(func() {
		defer close(p.closed)
		w.q.Turn(p.name + "/stop")
		ctx := p.ctx // cancelled
		if !cancelled {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
		}
		start := time.Now()
		var err error
		if hub != nil {
			err = hub.Close(ctx)
		}
		took := time.Since(start)
		w.q.Turn(p.name + "/stopped")
		w.rec.note("stopped %s in %v: %v", p.name, took, sortedErrors(err))
		if bound := p.clock.trueDuration(engineConfig.HeartbeatInterval) + time.Second; took > bound {
			w.rec.violate("%s: Hub.Close took %v (cancelled ctx %v), bound %v", p.name, took, cancelled, bound)
		}
		w.rec.stillLeads(p.name, "", "Hub.Close returned")
		if calm {
			w.count("graceful stop on a calm store")
			w.handedOver(p, held)
		}
		w.rec.stop(p.name, "stopped")
		// The view closes before the workloads are waited for: a call
		// hung ignoring its context ends only then.
		p.view.Close()
		p.wg.Wait()
		w.addInjected(p.view.Injected())
	})
}

// shutdown stops the process gracefully at the end of the run.
func (p *proc) shutdown() {
	p.mu.Lock()
	p.dead, p.shut = true, true
	hub := p.hub
	p.mu.Unlock()
	p.clock.resume()
	p.view.Resume()
	p.cancel()
	p.w.bg.Go(func() {
		if hub != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = hub.Close(ctx)
			cancel()
		}
		p.view.Close() // before the wait: see stop
		p.wg.Wait()
	})
	p.w.addInjected(p.view.Injected())
}

// workloads builds the process's plugins and starts its producers and
// consumers; they stop with the process. On a store that ignores
// conditions there is no workload (the plugins' own guarantees rest on
// atomic conditions): the plugins are only subscribed, to be refused.
func (p *proc) workloads() map[string]plugin.Plugin {
	m := map[string]plugin.Plugin{"alpha": nil, "beta": nil, "gamma": &resigning{p: p, rg: rand.New(rand.NewPCG(p.rng.Uint64(), 5))}}
	if p.w.opts.NoPlugins {
		return m
	}
	q, err := queue.New(p.view, appPrefix+"queue/", queue.Options{
		Visibility: 10 * time.Second, Interval: 3 * time.Second, MaxAttempts: 1000,
		// Grace covers clock rate drift: a holder on a clock running
		// maxDrift slow holds Visibility/(1-maxDrift) of true time.
		Grace: 3 * time.Second,
		Clock: p.clock,
		Rand:  p.seeded(),
	})
	if err != nil {
		panic(err)
	}
	tt, err := ttl.New(p.view, appPrefix+"ttl/", ttl.Options{Interval: 3 * time.Second, Clock: p.clock, Rand: p.seeded()})
	if err != nil {
		panic(err)
	}
	sch, err := scheduler.New(p.view, appPrefix+"sched/", []scheduler.Job{{
		Name: "tick", Interval: 4 * time.Second,
		Run: func(ctx context.Context, run scheduler.Run) error {
			p.w.rec.slotRun(run.Job, run.Slot, p.name, run.Term.Epoch)
			return nil
		},
	}}, scheduler.Options{RetryBackoff: 500 * time.Millisecond, Clock: p.clock, Rand: p.seeded()})
	if err != nil {
		panic(err)
	}
	m["queue"], m["ttl"], m["scheduler"] = q, tt, sch
	heal := p.w.start.Add(p.w.opts.FaultPhase)
	seed := p.rng.Uint64()
	if p.w.opts.UnsafeStore {
		return m
	}
	p.wg.Go(func() { p.produce(q, heal, seed) })
	p.wg.Go(func() { p.consume(q, seed+1) })
	p.wg.Go(func() { p.putEntries(tt, heal, seed+2) })
	return m
}

// seeded returns a random source drawn from the process's seed, for a
// plugin's ids and nonces.
func (p *proc) seeded() *rand.ChaCha8 {
	var seed [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(seed[8*i:], p.rng.Uint64())
	}
	return rand.NewChaCha8(seed)
}

// maxLinger bounds how long a slow-to-stop plugin acts after its context
// ends gracefully: on those paths (resignation, unsubscription, Close)
// the engine waits for Lead to return, up to HeartbeatInterval, before
// another process may lead the plugin.
const maxLinger = 500 * time.Millisecond

// linger is how long this process's plugins act after their context ends:
// zero for two processes in three; drawn from the process's name and the
// world's seed, not from p.rng, so that the other draws of a seed stay
// as they were.
func (p *proc) linger() time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.name))
	r := rand.New(rand.NewPCG(h.Sum64(), p.w.opts.Seed))
	if r.IntN(3) != 0 {
		return 0
	}
	return 50*time.Millisecond + time.Duration(r.Int64N(int64(maxLinger-50*time.Millisecond)))
}

// sleep waits d on the process's clock, or until the process ends.
func (p *proc) sleep(d time.Duration) bool { return p.sleepAs("", d) }

// sleepAs is sleep on a timer labelled what (procClock.AfterAs).
func (p *proc) sleepAs(what string, d time.Duration) bool {
	select {
	case <-p.clock.AfterAs(what, d):
		return p.ctx.Err() == nil
	case <-p.ctx.Done():
		return false
	}
}

// produce enqueues a message every few seconds until heal, retrying each
// until it is confirmed.
func (p *proc) produce(q *queue.Queue, heal time.Time, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for n := 0; time.Now().Before(heal); n++ {
		if !p.sleep(2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))) {
			return
		}
		body := fmt.Sprintf("m-%s-%d", p.name, n)
		for {
			id, err := q.Enqueue(p.ctx, []byte(body))
			if err == nil {
				p.w.rec.enqueue(body)
				p.w.rec.note("enqueue %s %s id=%s", p.name, body, id)
				break
			}
			p.w.rec.note("enqueue %s %s failed: %v", p.name, body, err)
			if !p.sleep(500 * time.Millisecond) {
				return
			}
		}
	}
}

// consume claims messages, works on each for a while, and acks it if its
// claim has not expired meanwhile (the holder's contract).
func (p *proc) consume(q *queue.Queue, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for p.ctx.Err() == nil {
		m, err := q.Claim(p.ctx, p.name)
		switch {
		case errors.Is(err, queue.ErrEmpty):
			p.sleep(time.Second)
			continue
		case err != nil:
			p.sleep(300 * time.Millisecond)
			continue
		}
		from := time.Now()
		p.w.rec.note("claim %s %s id=%s attempt=%d", p.name, m.Body, m.ID, m.Attempt)
		work := 200*time.Millisecond + time.Duration(rng.Int64N(int64(4*time.Second)))
		ok := p.sleep(work)
		done := ok && p.clock.Now().Before(m.Deadline)
		// The consumer holds the message until the end of its work or the
		// claim's deadline on its own clock, whichever comes first: after
		// the deadline the message may be someone else's (and this
		// consumer does not ack it).
		p.w.rec.hold(m.ID, p.name, from, minTime(time.Now(), p.clock.truth(m.Deadline)), string(m.Body), done)
		if done {
			err := q.Ack(p.ctx, m)
			p.w.rec.note("ack %s %s id=%s attempt=%d: %v", p.name, m.Body, m.ID, m.Attempt, err)
		} else {
			p.w.rec.note("abandon %s %s id=%s attempt=%d", p.name, m.Body, m.ID, m.Attempt)
		}
	}
}

// putEntries writes ttl entries (keys reused, so some are refreshed) until
// heal. The key carries the ttl, for the ledger's check.
func (p *proc) putEntries(tt *ttl.Store, heal time.Time, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for time.Now().Before(heal) {
		if !p.sleep(time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))) {
			return
		}
		ms := 1000 + rng.Int64N(19000)
		key := fmt.Sprintf("e%d-%d-%d", ms, p.slot.index, rng.IntN(6))
		_ = tt.Put(p.ctx, key, []byte("v"), time.Duration(ms)*time.Millisecond)
	}
}

// traceHandler puts a process's engine logs into the run's timeline when
// tracing, and counts the engine's reports that the store broke a rule of
// conditional writes in every run (Result.UnsafeAlarms).
type traceHandler struct {
	rec   *recorder
	inst  string
	trace bool
	attrs []slog.Attr
}

func (h *traceHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.trace || l >= slog.LevelError
}

func (h *traceHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "broke a rule of conditional writes") {
		h.rec.alarm(h.inst)
	}
	if !h.trace {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.rec.note("  log %s %s %s", h.inst, r.Level, b.String())
	return nil
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceHandler{rec: h.rec, inst: h.inst, trace: h.trace, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *traceHandler) WithGroup(string) slog.Handler { return h }

// sortedErrors is err's text with the errors it aggregates (Hub.Close
// collects its coordinators' in the order they finish, which Go chooses)
// in sorted order, so that the timeline replays exactly.
func sortedErrors(err error) string {
	if err == nil {
		return "<nil>"
	}
	var agg interface{ WrappedErrors() []error }
	if !errors.As(err, &agg) {
		return err.Error()
	}
	var lines []string
	for _, e := range agg.WrappedErrors() {
		lines = append(lines, e.Error())
	}
	slices.Sort(lines)
	return fmt.Sprintf("%d errors: %s", len(lines), strings.Join(lines, "; "))
}
