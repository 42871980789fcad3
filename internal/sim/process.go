package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	clock  *procClock
	view   *faultstore.Store
	ctx    context.Context // the process's life (workloads)
	cancel context.CancelFunc
	wg     sync.WaitGroup // workloads

	mu     sync.Mutex
	hub    *coord.Hub
	subs   map[string]*coord.Subscription
	dead   bool
	paused bool
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
		clock: newProcClock(w.q, name+"/", time.Now(), offset, rate),
		view:  faultstore.New(w.shared, rng.Uint64()),
		subs:  make(map[string]*coord.Subscription),
	}
	// The view's calls take turns and its delays are events (labelled by
	// the process), so that the run replays exactly.
	p.view.SetSequencer(labelled{w.q, p.name + "/s "})
	p.view.SetClock(labelled{w.q, p.name + "/"})
	p.ctx, p.cancel = context.WithCancel(context.Background())
	s.cur.Store(p)
	w.rec.note("boot %s id=%s offset=%v rate=%.4f", p.name, id, offset, rate)

	cfg := engineConfig
	cfg.WorkerID = id
	cfg.Clock = p.clock
	cfg.RandSeed = rng.Uint64() | 1
	cfg.DisableMembership = rng.IntN(4) == 0
	if w.opts.Trace {
		cfg.Logger = slog.New(&traceHandler{rec: w.rec, inst: p.name})
		cfg.Diagnostics = true
	}
	policy := rng.IntN(3) // 0 all global, 1 all per-plugin, 2 mixed
	modes := make(map[string]coord.Mode)
	for _, name := range w.plugs {
		m := coord.Global
		if policy == 1 || policy == 2 && rng.IntN(2) == 0 {
			m = coord.PerPlugin
		}
		modes[name] = m
	}
	plugins := p.workloads()
	w.bg.Go(func() {
		hub, err := coord.NewHub(p.view, cfg)
		if err != nil {
			w.rec.violate("%s: NewHub: %v", p.name, err)
			return
		}
		p.mu.Lock()
		p.hub = hub
		p.mu.Unlock()
		for _, name := range w.plugs {
			sub, err := hub.Use(p.ctx, name, &recorded{p: p, inner: plugins[name]}, coord.UseOptions{Mode: modes[name], Namespace: Namespace})
			if err != nil {
				if p.ctx.Err() == nil && !errors.Is(err, coord.ErrClosed) {
					w.rec.violate("%s: Use(%s): %v", p.name, name, err)
				}
				continue
			}
			p.mu.Lock()
			p.subs[name] = sub
			p.mu.Unlock()
			// Let the loops just started run until they wait before
			// subscribing the next plugin (an exact replay).
			w.q.Turn(p.name + "/use")
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
	context.AfterFunc(ctx, func() { r.p.w.rec.leadEnd(b) })
	if l, ok := r.inner.(plugin.Leader); ok {
		return l.Lead(ctx, t)
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

// pause stops the process: its clock fires no timer and its requests are
// held (new ones before they are sent, those in flight before they
// return).
func (p *proc) pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.w.rec.stop(p.name, "pause")
	p.view.Pause()
	p.clock.pause()
}

// resume wakes a paused process: its clock has jumped by the pause.
func (p *proc) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.w.rec.resume(p.name)
	p.clock.resume()
	p.view.Resume()
}

// crash abandons the process: nothing it does reaches the store any more,
// nothing is released.
func (p *proc) crash() {
	p.mu.Lock()
	p.dead = true
	hub := p.hub
	p.mu.Unlock()
	p.w.rec.stop(p.name, "crash")
	p.view.Close()
	p.clock.resume()
	p.cancel()
	p.w.injected = p.w.injected.Add(p.view.Injected())
	p.w.bg.Go(func() {
		if hub != nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a cancelled Close writes nothing
			_ = hub.Close(ctx)
		}
		p.wg.Wait()
	})
}

// shutdown stops the process gracefully at the end of the run.
func (p *proc) shutdown() {
	p.mu.Lock()
	p.dead = true
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
		p.wg.Wait()
		p.view.Close()
	})
	p.w.injected = p.w.injected.Add(p.view.Injected())
}

// workloads builds the process's plugins and starts its producers and
// consumers; they stop with the process.
func (p *proc) workloads() map[string]plugin.Plugin {
	m := map[string]plugin.Plugin{"alpha": nil, "beta": nil}
	if p.w.opts.NoPlugins {
		return m
	}
	q, err := queue.New(p.view, appPrefix+"queue/", queue.Options{
		Visibility: 10 * time.Second, Interval: 3 * time.Second, MaxAttempts: 1000,
		// Grace covers clock rate drift: a holder on a clock running
		// maxDrift slow holds Visibility/(1-maxDrift) of true time.
		Grace: 3 * time.Second,
		Now:   p.clock.Now,
		Rand:  p.seeded(),
	})
	if err != nil {
		panic(err)
	}
	tt, err := ttl.New(p.view, appPrefix+"ttl/", ttl.Options{Interval: 3 * time.Second, Now: p.clock.Now, Rand: p.seeded()})
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

// sleep waits d on the process's clock, or until the process ends.
func (p *proc) sleep(d time.Duration) bool {
	select {
	case <-p.clock.After(d):
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

// traceHandler puts a process's engine logs into the run's timeline.
type traceHandler struct {
	rec   *recorder
	inst  string
	attrs []slog.Attr
}

func (h *traceHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *traceHandler) Handle(_ context.Context, r slog.Record) error {
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
	return &traceHandler{rec: h.rec, inst: h.inst, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *traceHandler) WithGroup(string) slog.Handler { return h }
