package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/vclock"
)

// virtualStart is where the virtual clock starts (any fixed time works;
// a fixed one makes runs repeat).
var virtualStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// convergeLimit bounds the wait for a scenario's first leaders, in
// heartbeat intervals.
const convergeLimit = 20

// engineSettings returns the engine configuration of a run, every
// timing filled in, and its time scale. The settings are the engine's
// defaults with -interval, -lease and -worker-timeout applied, jitter and
// RenewDeadline derived from them as the engine derives its defaults. On
// the virtual clock they run as they are (scale 1); in real time they are
// what the run stands for, every interval shortened by one factor so that
// the heartbeat is -interval. A combination coord.Config.Validate rejects
// is an error naming the flags. at is the configuration the hourly
// figures stand for (cfg itself on the virtual clock).
func engineSettings(o options) (cfg, at coord.Config, scale float64, err error) {
	cfg = coord.DefaultConfig()
	if o.clock == clockVirtual && o.interval > 0 {
		cfg.HeartbeatInterval = o.interval
		cfg.HeartbeatJitter = min(coord.DefaultConfig().HeartbeatJitter, o.interval/5)
	}
	if o.lease > 0 {
		cfg.LeaseTimeout = o.lease
		cfg.RenewDeadline = o.lease * 2 / 3
	}
	if o.workerTimeout > 0 {
		cfg.WorkerTimeout = o.workerTimeout
	}
	cfg.DisableMembership = !o.membership
	cfg.Clock, cfg.Logger = nil, nil
	if err := cfg.Validate(); err != nil {
		return coord.Config{}, coord.Config{}, 0, settingsError(o, cfg, err)
	}
	at, scale = cfg, 1.0
	if o.clock == clockRealTime {
		scale = float64(cfg.HeartbeatInterval) / float64(o.interval)
		shorten := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
		cfg.HeartbeatInterval = o.interval
		cfg.HeartbeatJitter = shorten(cfg.HeartbeatJitter)
		cfg.LeaseTimeout = shorten(cfg.LeaseTimeout)
		cfg.RenewDeadline = shorten(cfg.RenewDeadline)
		cfg.WorkerTimeout = shorten(cfg.WorkerTimeout)
		if err := cfg.Validate(); err != nil {
			return coord.Config{}, coord.Config{}, 0, settingsError(o, cfg, err)
		}
	}
	return cfg, at, scale, nil
}

// settingFlags are the flags that set each coord.Config timing.
var settingFlags = map[string]string{
	"HeartbeatInterval": "-interval", "HeartbeatJitter": "-interval", "LeaseTimeout": "-lease",
	"RenewDeadline": "-lease", "WorkerTimeout": "-worker-timeout",
}

// settingsError names the flag behind a coord.ConfigError and the
// settings that were tried.
func settingsError(o options, cfg coord.Config, err error) error {
	flagName := "-interval, -lease, -worker-timeout"
	var ce *coord.ConfigError
	if errors.As(err, &ce) && settingFlags[ce.Field] != "" {
		flagName = settingFlags[ce.Field]
		if ce.Field == "HeartbeatInterval" && strings.Contains(ce.Rule, "RenewDeadline") {
			flagName = "-interval, -lease" // interval + jitter against 2/3 of the lease
		}
	}
	given := "the defaults"
	if len(o.whatIf) > 0 {
		given = strings.Join(o.whatIf, ", ")
	}
	return fmt.Errorf("%s: %w (with %s: heartbeat %s, jitter %s, lease %s, renew deadline %s = 2/3 of the lease, worker timeout %s)",
		flagName, err, given, formatWindow(cfg.HeartbeatInterval), formatWindow(cfg.HeartbeatJitter), formatWindow(cfg.LeaseTimeout),
		formatWindow(cfg.RenewDeadline), formatWindow(cfg.WorkerTimeout))
}

func settingsOf(cfg coord.Config) Settings {
	return Settings{
		HeartbeatInterval: cfg.HeartbeatInterval, HeartbeatJitter: cfg.HeartbeatJitter, LeaseTimeout: cfg.LeaseTimeout,
		RenewDeadline: cfg.RenewDeadline, WorkerTimeout: cfg.WorkerTimeout, Membership: !cfg.DisableMembership,
	}
}

// benchmark runs every scenario o asks for and returns the report.
func benchmark(ctx context.Context, o options, progOut io.Writer) (*Report, error) {
	var rt runner = realRunner{}
	storeNow := time.Now
	if o.clock == clockVirtual {
		// The CPU profiler's writer (-cpuprofile) sits in a system call
		// for the whole run: the clock must not wait for it.
		ignore := append([]string{"runtime/pprof.profileWriter"}, vclock.DefaultIgnore...)
		vc := vclock.New(virtualStart, ignore...)
		rt, storeNow = virtualRunner{vc}, vc.Now
		// The virtual clock moves only when every goroutine is blocked, so
		// the run is a sequential simulation: on one P a woken goroutine
		// runs to its next wait before the clock looks again, instead of
		// racing it on another P (measured: 41 s → 4 s for 10 plugins per
		// plugin on bolt). Counts and virtual times do not depend on it.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	st, err := openStore(ctx, o.store, storeNow)
	if err != nil {
		return nil, err
	}
	defer st.close()
	return benchmarkOn(ctx, o, st, rt, progOut, nil)
}

// windowHook, when not nil, is called right after the driver's counters
// are read at the start (true) and end (false) of each steady-state
// window; tests compare with server-side counts there.
type windowHook func(start bool)

// benchmarkOn runs the scenarios on an open store with the runner's clock.
func benchmarkOn(ctx context.Context, o options, st *openedStore, rt runner, progOut io.Writer, hook windowHook) (*Report, error) {
	began := time.Now()
	if _, ok := driver.RequestsOf(st.store); !ok {
		return nil, fmt.Errorf("store %s does not count its requests", st.shown)
	}

	cfg, at, scale, err := engineSettings(o)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Store: st.shown, Driver: st.store.Capabilities().Name, Clock: o.clock, Workers: o.workers,
		Window: o.duration, TimeScale: scale, Settings: settingsOf(cfg), PerHourAt: settingsOf(at),
		Defaults: settingsOf(coord.DefaultConfig()), WhatIf: o.whatIf, Trials: o.trials, Prices: o.prices,
	}
	r.Defaults.Membership = o.membership
	b := &bench{o: o, rt: rt, store: st.store, cfg: cfg, r: r, rootBase: fmt.Sprintf("coord-bench-%d/", time.Now().UnixNano()),
		rng: rand.New(rand.NewPCG(o.seed, o.seed^0x5bd1e995)), hook: hook}
	steps := len(o.modes) * len(o.plugins)
	if o.timing {
		steps *= 2
	}
	if b.twin(coord.Global) && slices.Contains(o.modes, modeGlobal) {
		steps += len(o.plugins)
	}
	if o.pluginCosts {
		steps += 4
	}
	b.prog = newProgress(progOut, steps)
	defer b.prog.finish()

	for _, n := range o.plugins {
		for _, m := range o.modes {
			if err := b.steady(ctx, coord.Mode(m), n); err != nil {
				return nil, fmt.Errorf("%s: %w", setupName(n, m), err)
			}
		}
	}
	for _, n := range o.plugins {
		for _, m := range o.modes {
			if !o.timing {
				break
			}
			if err := b.timings(ctx, coord.Mode(m), n); err != nil {
				return nil, fmt.Errorf("%s: %w", setupName(n, m), err)
			}
		}
	}
	if o.pluginCosts {
		if err := b.pluginCosts(ctx); err != nil {
			return nil, fmt.Errorf("built-in plugins: %w", err)
		}
	}
	r.Targets = evaluateTargets(r)
	r.Elapsed = time.Since(began)
	return r, nil
}

// bench is one run in progress.
type bench struct {
	o        options
	rt       runner
	store    driver.Store
	cfg      coord.Config
	r        *Report
	prog     *progress
	rootBase string
	scen     int
	rng      *rand.Rand
	hook     windowHook
}

// root returns a fresh key prefix, so that scenarios never see each
// other's records.
func (b *bench) root() string {
	b.scen++
	return fmt.Sprintf("%ss%03d/", b.rootBase, b.scen)
}

func (b *bench) start(ctx context.Context, mode coord.Mode, plugins int, observe bool) (*cluster, time.Time, error) {
	t0 := b.rt.now()
	cl, err := startCluster(ctx, b.rt, b.store, b.cfg, b.root(), mode, b.o.workers, plugins, b.o.seed+uint64(b.scen), observe, nil)
	return cl, t0, err
}

// steady measures one scenario's requests over the window, and in
// global mode with membership on, again with DisableMembership (what
// turning membership off saves, measured).
func (b *bench) steady(ctx context.Context, mode coord.Mode, plugins int) error {
	b.prog.begin("requests: " + setupName(plugins, string(mode)))
	st, loads, err := b.measureSteady(ctx, b.cfg, mode, plugins)
	if err != nil {
		return err
	}
	if b.twin(mode) {
		b.prog.begin("requests without membership: " + setupName(plugins, string(mode)))
		cfg := b.cfg
		cfg.DisableMembership = true
		w, _, err := b.measureSteady(ctx, cfg, mode, plugins)
		if err != nil {
			return fmt.Errorf("without membership: %w", err)
		}
		st.WithoutMembership = &w
	}
	b.r.Steady = append(b.r.Steady, st)
	b.r.PerWorker = append(b.r.PerWorker, loads...)
	return nil
}

// twin reports whether mode's scenarios are measured again without
// membership.
func (b *bench) twin(mode coord.Mode) bool {
	return b.o.membershipTwin && b.o.membership && mode == coord.Global
}

// measureSteady runs one scenario with cfg and measures its requests over
// the window, which starts two heartbeats after every plugin has a leader
// (so that every follower has read the lease since). In global mode it
// also returns the hourly load of the leader and of one follower.
func (b *bench) measureSteady(ctx context.Context, cfg coord.Config, mode coord.Mode, plugins int) (Steady, []WorkerLoad, error) {
	cl, err := startCluster(ctx, b.rt, b.store, cfg, b.root(), mode, b.o.workers, plugins, b.o.seed+uint64(b.scen), false, nil)
	if err != nil {
		return Steady{}, nil, err
	}
	defer cl.close(context.Background())
	if !b.rt.waitFor(ctx, convergeLimit*cfg.HeartbeatInterval, func() bool { return cl.led("") }) {
		return Steady{}, nil, fmt.Errorf("%w; at %v:%s", b.stuck(ctx, "no leader for every plugin"), b.rt.now(), cl.describe())
	}
	b.rt.waitFor(ctx, 2*(cfg.HeartbeatInterval+cfg.HeartbeatJitter), nil)
	before, _ := driver.RequestsOf(b.store)
	if b.hook != nil {
		b.hook(true)
	}
	beats0 := cl.heartbeats()
	taps0 := make([]load, len(cl.workers))
	purposes0 := make([][numPurposes]driver.Counts, len(cl.workers))
	for i, w := range cl.workers {
		taps0[i] = w.tap.snapshot()
		purposes0[i] = w.tap.purposes()
	}
	t0 := b.rt.now()
	window := b.o.duration
	var leaderAtStart *worker
	if mode == coord.Global {
		leaderAtStart = cl.leaderOf(0)
	}
	b.rt.waitFor(ctx, window, func() bool {
		b.prog.update(float64(b.rt.now().Sub(t0)) / float64(window))
		return false
	})
	if err := ctx.Err(); err != nil {
		return Steady{}, nil, err
	}
	elapsed := b.rt.now().Sub(t0)
	after, _ := driver.RequestsOf(b.store)
	if b.hook != nil {
		b.hook(false)
	}
	counts := after.Sub(before)
	beats := cl.heartbeats() - beats0
	hourOf := time.Duration(float64(elapsed) * b.r.TimeScale) // the time at PerHourAt settings the window stands for
	rates := PerHour(counts, hourOf)
	var byPurpose [numPurposes]driver.Counts
	for i, w := range cl.workers {
		p := w.tap.purposes()
		for k := range byPurpose {
			byPurpose[k] = byPurpose[k].Add(p[k].Sub(purposes0[i][k]))
		}
	}
	st := Steady{
		Mode: string(mode), Plugins: plugins, Workers: b.o.workers, Window: elapsed, Requests: counts, Heartbeats: beats,
		HeartbeatsPerHour: float64(beats) * float64(time.Hour) / float64(hourOf),
		PerHour:           rates, CostPerMonth: b.r.Prices.PerMonth(rates),
		Split: newSplit(b.r.Prices, rates, PerHour(byPurpose[purposeElection], hourOf), PerHour(byPurpose[purposeMembership], hourOf)),
	}

	// Per worker, global mode: the leader and one follower.
	var loads []WorkerLoad
	if mode == coord.Global && leaderAtStart != nil && cl.leaderOf(0) == leaderAtStart {
		k := float64(time.Hour) / float64(hourOf)
		row := func(w *worker, role string, i int) {
			l := w.tap.snapshot().sub(taps0[i])
			loads = append(loads, WorkerLoad{
				Mode: string(mode), Plugins: plugins, Role: role,
				LeaseWrites: float64(l.LeaseWrites) * k, WorkerWrites: float64(l.WorkerWrites) * k,
				Reads: float64(l.Reads) * k, Lists: float64(l.Lists) * k, Deletes: float64(l.Deletes) * k,
			})
		}
		for i, w := range cl.workers {
			if w == leaderAtStart {
				row(w, roleLeader, i)
				break
			}
		}
		for i, w := range cl.workers {
			if w != leaderAtStart {
				row(w, roleFollower, i)
				break
			}
		}
	}
	return st, loads, nil
}

// timings measures, trials times for each stop kind: time until every
// plugin has a leader from a common start, then failover after the
// leader of the first plugin stops (crash or graceful).
func (b *bench) timings(ctx context.Context, mode coord.Mode, plugins int) error {
	name := "convergence and failover: " + setupName(plugins, string(mode))
	b.prog.begin(name)
	conv := Convergence{Timing: Timing{Mode: string(mode), Plugins: plugins}}
	fails := map[string]*Failover{
		failCrash:    {Timing: Timing{Mode: string(mode), Plugins: plugins}, Kind: failCrash, Bound: b.r.Settings.CrashBound()},
		failGraceful: {Timing: Timing{Mode: string(mode), Plugins: plugins}, Kind: failGraceful, Bound: b.r.Settings.GracefulBound()},
	}
	total := 2 * b.o.trials
	done := 0
	for range b.o.trials {
		for _, kind := range []string{failCrash, failGraceful} {
			d, k, f, err := b.failoverTrial(ctx, mode, plugins, kind)
			if err != nil {
				return fmt.Errorf("%s trial: %w", kind, err)
			}
			conv.Trials = append(conv.Trials, d)
			conv.Known = append(conv.Known, k)
			fails[kind].Trials = append(fails[kind].Trials, f)
			done++
			b.prog.update(float64(done) / float64(total))
		}
	}
	b.r.Convergence = append(b.r.Convergence, conv)
	b.r.Failover = append(b.r.Failover, *fails[failCrash], *fails[failGraceful])
	return nil
}

// failoverTrial starts a cluster, measures the time until every plugin
// has a leader (conv) and until every worker knows it (known), lets it run for a random part of a heartbeat, stops the
// leader of the first plugin, and measures the time until every plugin
// has a live leader again.
func (b *bench) failoverTrial(ctx context.Context, mode coord.Mode, plugins int, kind string) (conv, known, fail time.Duration, err error) {
	cl, t0, err := b.start(ctx, mode, plugins, true)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.close(context.Background())
	limit := convergeLimit * b.cfg.HeartbeatInterval
	if !b.rt.waitFor(ctx, limit, func() bool { return cl.led("") }) {
		return 0, 0, 0, b.stuck(ctx, "no leader for every plugin")
	}
	conv = b.rt.now().Sub(t0)
	if !b.rt.waitFor(ctx, limit, func() bool { return cl.known("") }) {
		return 0, 0, 0, b.stuck(ctx, "not every worker learned its leaders")
	}
	known = b.rt.now().Sub(t0)
	// Stop at a random phase of the heartbeat cycle.
	phase := time.Duration(b.rng.Int64N(int64(b.cfg.HeartbeatInterval)))
	b.rt.waitFor(ctx, phase, nil)
	victim := cl.leaderOf(0)
	if victim == nil {
		return 0, 0, 0, errors.New("the first plugin lost its leader in a stable cluster")
	}
	if len(cl.workers) == 1 {
		return 0, 0, 0, errors.New("failover needs at least 2 workers (-workers)")
	}
	t1 := b.rt.now()
	if kind == failCrash {
		cl.crash(victim)
	} else if err := cl.stop(ctx, victim); err != nil {
		return 0, 0, 0, fmt.Errorf("graceful stop: %w", err)
	}
	if !b.rt.waitFor(ctx, 2*b.r.Settings.CrashBound()+limit, func() bool { return cl.led(victim.id) }) {
		return 0, 0, 0, b.stuck(ctx, "no new leader after the leader stopped")
	}
	return conv, known, b.rt.now().Sub(t1), nil
}

func (b *bench) stuck(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%s within the limit", what)
}
