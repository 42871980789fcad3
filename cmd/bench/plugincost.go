package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/queue"
	"github.com/s3coord/coord/plugin/scheduler"
	"github.com/s3coord/coord/plugin/ttl"
)

// Built-in plugin scenarios (issue 7: "a benchmark line shows each
// plugin's storage requests per hour at default settings").
const (
	scenTTL       = "ttl"
	scenQueueIdle = "queue-idle"
	scenQueueLoad = "queue-load"
	scenScheduler = "scheduler"

	ttlLiveEntries = 100
	ttlEntryLife   = 24 * time.Hour // outlives every run: the entries stay live
	// queueLoadEvery is the steady load: one message a minute (60 an
	// hour), enqueued, claimed and acked.
	queueLoadEvery = time.Minute
	// schedJobEvery is the scheduler scenario's job interval.
	schedJobEvery = time.Minute
	// schedScale shortens the scheduler's job interval in a real-time run:
	// a 500ms job stands for a job every minute.
	schedScale = 120
)

// PluginCost is the storage cost of one built-in plugin scenario in global
// mode with Workers workers, each registering its own instance of the
// plugin through coord.Hub.Use (only the leader does the leader-only
// work). Requests are the plugin's own: counted by a driver.Counter
// wrapper around the store handle each instance was given, every call the
// plugin made. The engine's election requests in the same run (the
// store's counter minus the plugin's) are shown apart.
type PluginCost struct {
	Scenario string `json:"scenario"` // scenTTL, scenQueueIdle, scenQueueLoad, scenScheduler
	Plugin   string `json:"plugin"`   // ttl, queue, scheduler
	Setup    string `json:"setup"`    // what ran, in words
	Workers  int    `json:"workers"`
	Clock    string `json:"clock"` // clockVirtual or clockRealTime
	// Window is the measured interval on the scenario's clock.
	Window time.Duration `json:"window_ns"`
	// TimeScale is how many hours at the plugin's default settings one
	// hour of the scenario stands for (1 on the virtual clock).
	TimeScale float64 `json:"time_scale"`
	// LeaderWork is how often the leader did its work in Window: sweeps,
	// redelivery scans (Ticks) or scheduler slots run.
	LeaderWork     uint64 `json:"leader_work"`
	LeaderWorkUnit string `json:"leader_work_unit"`
	// Requests are the plugin's own requests over Window, every worker.
	Requests     driver.Counts `json:"requests"`
	PerHour      Rates         `json:"requests_per_hour"`
	CostPerMonth float64       `json:"cost_per_month_usd"`
	// ElectionRequests are the engine's requests in the same window (the
	// store's own counter minus Requests); ElectionPerHour their hourly
	// rate at default engine settings.
	ElectionRequests driver.Counts `json:"election_requests"`
	ElectionPerHour  float64       `json:"election_requests_per_hour"`
	// StartUp are the plugin's requests from Use until Window began, not
	// in the hourly figures (ttl: the first sweep, which reads each live
	// entry once: a cost per entry written, not per hour).
	StartUp driver.Counts `json:"start_up_requests"`
	// Messages acked in Window (queue under load), and the client's
	// requests per message (enqueue, claim, ack), counted on the
	// consumer's handle.
	Messages   uint64 `json:"messages,omitempty"`
	PerMessage *Rates `json:"requests_per_message,omitempty"`
}

// countingStore is one plugin instance's store handle: every call passes
// through and is counted by class. On mem and bolt one call is one
// request; on S3 and MinIO the driver's retries are not seen here.
type countingStore struct {
	driver.Store
	driver.Counter
}

func (c *countingStore) Get(ctx context.Context, key string) (driver.Object, error) {
	c.Inc(driver.ClassGet)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	c.Inc(driver.ClassPut)
	return c.Store.Put(ctx, key, data, cond)
}

func (c *countingStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	c.Inc(driver.ClassDelete)
	return c.Store.Delete(ctx, key, cond)
}

func (c *countingStore) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	c.Inc(driver.ClassList)
	return c.Store.List(ctx, prefix)
}

// Close does not close the shared store.
func (c *countingStore) Close() error { return nil }

// countedTicks is a periodic plugin whose finished Ticks are counted.
type countedTicks struct {
	plugin.Periodic
	ticks atomic.Uint64
}

// Tick implements plugin.Periodic.
func (c *countedTicks) Tick(ctx context.Context, term plugin.Term) error {
	defer c.ticks.Add(1)
	return c.Periodic.Tick(ctx, term)
}

// pluginEnv is where plugin scenarios run.
type pluginEnv struct {
	rt    runner
	store driver.Store
	cfg   coord.Config
	clock string
	// scale is the engine's time scale (Report.TimeScale's meaning).
	scale float64
}

// pluginCluster is a running plugin scenario.
type pluginCluster struct {
	env     pluginEnv
	cl      *cluster
	handles []*countingStore // worker i's plugin handle
	t0      time.Time
	before  driver.Counts // the store's counter at t0
	plugin0 driver.Counts // the handles' sum at t0
}

// startPlugins starts the scenario's workers, each with its instance of
// the plugin (built by build on its counted handle), in global mode.
func (b *bench) startPlugins(ctx context.Context, env pluginEnv, name string,
	build func(i int, store driver.Store, clock clock.Clock) (plugin.Plugin, error)) (*pluginCluster, error) {
	pc := &pluginCluster{env: env, handles: make([]*countingStore, b.o.workers)}
	spec := &pluginSpec{name: name, build: func(i int, store driver.Store, clock clock.Clock) (plugin.Plugin, error) {
		h := &countingStore{Store: store}
		pc.handles[i] = h
		return build(i, h, clock)
	}}
	pc.mark()
	b.scen++
	cl, err := startCluster(ctx, env.rt, env.store, env.cfg, fmt.Sprintf("%ss%03d/", b.rootBase, b.scen), coord.Global,
		b.o.workers, 1, b.o.seed+uint64(b.scen), false, spec)
	if err != nil {
		return nil, err
	}
	pc.cl = cl
	return pc, nil
}

// mark starts the measured window now.
func (pc *pluginCluster) mark() {
	pc.t0 = pc.env.rt.now()
	pc.before, _ = driver.RequestsOf(pc.env.store)
	pc.plugin0 = pc.pluginCounts()
}

func (pc *pluginCluster) pluginCounts() driver.Counts {
	var n driver.Counts
	for _, h := range pc.handles {
		if h != nil {
			n = n.Add(h.Requests())
		}
	}
	return n
}

// leaderIndex is the worker leading the plugin, or -1.
func (pc *pluginCluster) leaderIndex() int {
	for i, w := range pc.cl.workers {
		if w.stopped || len(w.subs) == 0 {
			continue
		}
		if _, leads := w.subs[0].Term(); leads {
			return i
		}
	}
	return -1
}

// result measures the window from mark to now. pluginScale is the time
// scale of the plugin's own intervals.
func (pc *pluginCluster) result(b *bench, scen, pluginName, setup string, pluginScale float64) PluginCost {
	elapsed := pc.env.rt.now().Sub(pc.t0)
	after, _ := driver.RequestsOf(pc.env.store)
	own := pc.pluginCounts().Sub(pc.plugin0)
	engine := after.Sub(pc.before).Sub(own)
	engine.Conflicts = 0
	rates := PerHour(own, time.Duration(float64(elapsed)*pluginScale))
	return PluginCost{
		Scenario: scen, Plugin: pluginName, Setup: setup, Workers: b.o.workers, Clock: pc.env.clock,
		Window: elapsed, TimeScale: pluginScale, Requests: own, PerHour: rates, CostPerMonth: b.r.Prices.PerMonth(rates),
		ElectionRequests: engine, ElectionPerHour: PerHour(engine, time.Duration(float64(elapsed)*pc.env.scale)).Total(),
	}
}

// pluginCosts runs the built-in plugin scenarios.
func (b *bench) pluginCosts(ctx context.Context) error {
	env := pluginEnv{rt: b.rt, store: b.store, cfg: b.cfg, clock: b.o.clock, scale: b.r.TimeScale}
	for _, f := range []func(context.Context, pluginEnv) error{b.ttlCost, b.queueIdleCost, b.queueLoadCost, b.schedulerCost} {
		if err := f(ctx, env); err != nil {
			return err
		}
	}
	return nil
}

// waitWindow lets time pass until just before t0+window, drawing
// progress: the window is half-open, [t0, t0+window), so that a Tick due
// exactly at its end counts in the next hour (as it does in the hour
// after).
func (b *bench) waitWindow(ctx context.Context, rt runner, t0 time.Time, window time.Duration) error {
	return b.waitUntil(ctx, rt, t0, window-time.Nanosecond, window)
}

// waitUntil lets time pass until t0+at, drawing progress as a part of
// t0+window.
func (b *bench) waitUntil(ctx context.Context, rt runner, t0 time.Time, at, window time.Duration) error {
	rt.waitFor(ctx, at-rt.now().Sub(t0), func() bool {
		b.prog.update(float64(rt.now().Sub(t0)) / float64(window))
		return false
	})
	return ctx.Err()
}

// pluginInterval is a plugin's default interval shortened by the run's
// time scale (unchanged on the virtual clock).
func pluginInterval(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale)
}

// ttlCost: 100 live entries, the default sweep interval. The window
// starts right after the first sweep, which reads each entry once (a cost
// per entry written, reported apart), and holds the sweeps of one window
// after it: (first sweep, first sweep + window].
func (b *bench) ttlCost(ctx context.Context, env pluginEnv) error {
	b.prog.begin("plugin requests: ttl, " + fmt.Sprint(ttlLiveEntries) + " live entries")
	prefix := b.rootBase + fmt.Sprintf("ttl-%d/", b.scen)
	opts := ttl.Options{Interval: pluginInterval(ttl.DefaultInterval, env.scale), Clock: env.rt.engineClock()}
	// The entries are written before the window, through an uncounted
	// handle: they are the application's data, not the sweeper's cost.
	writer, err := ttl.New(env.store, prefix, opts)
	if err != nil {
		return err
	}
	for i := range ttlLiveEntries {
		if err := writer.Put(ctx, fmt.Sprintf("k%03d", i), []byte("v"), ttlEntryLife); err != nil {
			return fmt.Errorf("ttl: writing the live entries: %w", err)
		}
	}
	ticks := make([]*countedTicks, b.o.workers)
	pc, err := b.startPlugins(ctx, env, "ttl", func(i int, store driver.Store, _ clock.Clock) (plugin.Plugin, error) {
		s, err := ttl.New(store, prefix, opts)
		if err != nil {
			return nil, err
		}
		ticks[i] = &countedTicks{Periodic: s}
		return ticks[i], nil
	})
	if err != nil {
		return fmt.Errorf("ttl: %w", err)
	}
	defer pc.cl.close(context.Background())
	if !env.rt.waitFor(ctx, convergeLimit*env.cfg.HeartbeatInterval, func() bool { return sumTicks(ticks) > 0 }) {
		return b.stuck(ctx, "ttl: no sweep")
	}
	startUp := pc.pluginCounts().Sub(pc.plugin0)
	pc.mark()
	sweeps0 := sumTicks(ticks)
	if err := b.waitUntil(ctx, env.rt, pc.t0, b.o.duration, b.o.duration); err != nil {
		return err
	}
	pcost := pc.result(b, scenTTL, "ttl", fmt.Sprintf("%d live entries, sweep every %s (first sweep, before the window: %d GET + %d LIST, each entry read once)",
		ttlLiveEntries, formatWindow(ttl.DefaultInterval), startUp.Get, startUp.List), env.scale)
	pcost.StartUp = startUp
	pcost.LeaderWork, pcost.LeaderWorkUnit = sumTicks(ticks)-sweeps0, "sweeps"
	b.r.PluginCosts = append(b.r.PluginCosts, pcost)
	return nil
}

// queueIdleCost: an empty queue; the leader scans for expired claims
// every Interval.
func (b *bench) queueIdleCost(ctx context.Context, env pluginEnv) error {
	b.prog.begin("plugin requests: queue, idle")
	pc, ticks, _, err := b.startQueue(ctx, env)
	if err != nil {
		return err
	}
	defer pc.cl.close(context.Background())
	if err := b.waitWindow(ctx, env.rt, pc.t0, b.o.duration); err != nil {
		return err
	}
	pcost := pc.result(b, scenQueueIdle, "queue", fmt.Sprintf("idle: leader redelivery scan every %s", formatWindow(queue.DefaultInterval)), env.scale)
	pcost.LeaderWork, pcost.LeaderWorkUnit = sumTicks(ticks), "scans"
	b.r.PluginCosts = append(b.r.PluginCosts, pcost)
	return nil
}

func (b *bench) startQueue(ctx context.Context, env pluginEnv) (*pluginCluster, []*countedTicks, []*queue.Queue, error) {
	prefix := b.rootBase + fmt.Sprintf("queue-%d/", b.scen)
	opts := queue.Options{
		Interval:   pluginInterval(queue.DefaultInterval, env.scale),
		Visibility: pluginInterval(queue.DefaultVisibility, env.scale),
		Clock:      env.rt.engineClock(),
	}
	ticks := make([]*countedTicks, b.o.workers)
	queues := make([]*queue.Queue, b.o.workers)
	pc, err := b.startPlugins(ctx, env, "queue", func(i int, store driver.Store, _ clock.Clock) (plugin.Plugin, error) {
		q, err := queue.New(store, prefix, opts)
		if err != nil {
			return nil, err
		}
		queues[i], ticks[i] = q, &countedTicks{Periodic: q}
		return ticks[i], nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("queue: %w", err)
	}
	return pc, ticks, queues, nil
}

// queueLoadCost: one message a minute, enqueued, claimed and acked by one
// consumer on a follower (so that its handle counts client requests only),
// while the leader scans.
func (b *bench) queueLoadCost(ctx context.Context, env pluginEnv) error {
	b.prog.begin("plugin requests: queue, 60 messages/hour")
	pc, ticks, queues, err := b.startQueue(ctx, env)
	if err != nil {
		return err
	}
	defer pc.cl.close(context.Background())
	if len(queues) < 2 {
		return errors.New("queue under load: needs at least 2 workers (-workers) for a consumer apart from the leader")
	}
	rt := env.rt
	if !rt.waitFor(ctx, convergeLimit*env.cfg.HeartbeatInterval, func() bool { return pc.leaderIndex() >= 0 }) {
		return b.stuck(ctx, "queue: no leader")
	}
	consumer := (pc.leaderIndex() + 1) % len(queues)
	q, handle := queues[consumer], pc.handles[consumer]
	client0 := handle.Requests()
	every := pluginInterval(queueLoadEvery, env.scale)
	var loadErr error
	for at := every / 2; at < b.o.duration && loadErr == nil; at += every {
		if err := b.waitUntil(ctx, rt, pc.t0, at, b.o.duration); err != nil {
			return err
		}
		rt.call(time.Minute, func() {
			if _, err := q.Enqueue(ctx, []byte("job")); err != nil {
				loadErr = fmt.Errorf("enqueue: %w", err)
				return
			}
			m, err := q.Claim(ctx, "consumer")
			if err != nil {
				loadErr = fmt.Errorf("claim: %w", err)
				return
			}
			if err := q.Ack(ctx, m); err != nil {
				loadErr = fmt.Errorf("ack: %w", err)
			}
		})
	}
	if loadErr != nil {
		return fmt.Errorf("queue under load: %w", loadErr)
	}
	if err := b.waitWindow(ctx, rt, pc.t0, b.o.duration); err != nil {
		return err
	}
	if ticks[consumer].ticks.Load() != 0 {
		return errors.New("queue under load: the consumer's worker led the queue during the run (its handle would mix leader scans into the per-message figure)")
	}
	client := handle.Requests().Sub(client0)
	pcost := pc.result(b, scenQueueLoad, "queue", fmt.Sprintf("%.0f messages/hour enqueued, claimed and acked by one consumer on a follower",
		float64(time.Hour)/float64(queueLoadEvery)), env.scale)
	pcost.LeaderWork, pcost.LeaderWorkUnit = sumTicks(ticks), "scans"
	pcost.Messages = q.Stats().Acked
	if pcost.Messages > 0 {
		per := PerHour(client, time.Hour).Scale(1 / float64(pcost.Messages))
		pcost.PerMessage = &per
	}
	b.r.PluginCosts = append(b.r.PluginCosts, pcost)
	return nil
}

// schedulerCost: one job every minute, its slots paced by the run's clock
// (each worker's Hub clock goes into scheduler.Options.Clock): on the
// virtual clock at the default interval over the run's window (an hour by
// default: ~60 slots); in real time its job every 500ms stands for every
// minute (×120).
func (b *bench) schedulerCost(ctx context.Context, env pluginEnv) error {
	b.prog.begin("plugin requests: scheduler, one job every minute")
	every, scale := schedJobEvery, 1.0
	if env.clock == clockRealTime {
		every, scale = schedJobEvery/schedScale, schedScale
	}
	window := max(every, b.o.duration.Truncate(every))
	prefix := b.rootBase + fmt.Sprintf("scheduler-%d/", b.scen)
	scheds := make([]*scheduler.Scheduler, b.o.workers)
	pc, err := b.startPlugins(ctx, env, "scheduler", func(i int, store driver.Store, clock clock.Clock) (plugin.Plugin, error) {
		s, err := scheduler.New(store, prefix, []scheduler.Job{{
			Name: "every-minute", Interval: every,
			Run: func(context.Context, scheduler.Run) error { return nil },
		}}, scheduler.Options{Clock: clock})
		scheds[i] = s
		return s, err
	})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer pc.cl.close(context.Background())
	runs := func() uint64 {
		var n uint64
		for _, s := range scheds {
			if s != nil {
				n += s.Stats().Runs
			}
		}
		return n
	}
	// The window starts half a slot after the first run, so that it holds
	// whole slots (one LIST, a claim PUT and a completion PUT each).
	limit := convergeLimit*env.cfg.HeartbeatInterval + 2*every
	if !env.rt.waitFor(ctx, limit, func() bool { return runs() > 0 }) {
		return b.stuck(ctx, "scheduler: no slot run")
	}
	env.rt.waitFor(ctx, every/2, nil)
	pc.mark()
	runs0 := runs()
	if err := b.waitWindow(ctx, env.rt, pc.t0, window); err != nil {
		return err
	}
	pcost := pc.result(b, scenScheduler, "scheduler", fmt.Sprintf("one job every %s", formatWindow(schedJobEvery)), scale)
	pcost.LeaderWork, pcost.LeaderWorkUnit = runs()-runs0, "slots run"
	if env.clock == clockRealTime {
		pcost.Setup += fmt.Sprintf(" (real time: job every %s, ×%d)", formatDuration(every), schedScale)
	}
	b.r.PluginCosts = append(b.r.PluginCosts, pcost)
	return nil
}

func sumTicks(ts []*countedTicks) uint64 {
	var n uint64
	for _, t := range ts {
		if t != nil {
			n += t.ticks.Load()
		}
	}
	return n
}
