package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Server is the S3-compatible server the workers use.
type Server struct {
	Name                         string
	Endpoint                     string // http://127.0.0.1:port
	AccessKey, SecretKey, Region string
	Bucket                       string // must exist
}

// FaultKind is a fault aimed at the current leader.
type FaultKind string

// Fault kinds.
const (
	// Kill: kill -9; the worker is restarted after the failover.
	Kill FaultKind = "kill"
	// Stop: SIGSTOP for longer than the lease, SIGCONT after the failover.
	Stop FaultKind = "stop"
	// Partition: the leader's proxy swallows all traffic until the
	// failover.
	Partition FaultKind = "partition"
	// ResetStorm: the leader's proxy resets every connection until the
	// failover.
	ResetStorm FaultKind = "reset"
	// Hang: the leader's proxies accept every request and never answer
	// it (in half of the faults the requests still reach the server:
	// writes applied, never acknowledged) until the failover. Meanwhile
	// every other worker's LISTs of worker records hang too, so that the
	// successor's cleanup right after its election gets no answer; they
	// hang on until the successor has led on, alone, for HangHold
	// (Result.Missed otherwise): a hung LIST must not stall an election
	// loop. Noise is lifted from every worker for the fault, so that a
	// leadership lost during the hold is the LISTs' doing.
	Hang FaultKind = "hang"
)

// allKinds are the fault kinds in the order reports list them.
var allKinds = []FaultKind{Kill, Stop, Partition, ResetStorm, Hang}

// Options configure Run.
type Options struct {
	Server       Server
	WorkerBinary string // built by BuildWorker
	Dir          string // logs of the run
	Workers      int    // default 4
	Plugins      []string
	// Modes are assigned to worker processes in turn (and rotate when a
	// worker restarts). Default: global and per-plugin, mixed.
	Modes []string
	// Failovers is the number of leader-aimed faults that must each be
	// followed by a failover. Default 50.
	Failovers int
	// MaxDuration bounds the run. Default 10 minutes.
	MaxDuration time.Duration
	// FailoverTimeout bounds the wait for a failover, and for a leader of
	// every plugin between faults. Default 20s.
	FailoverTimeout time.Duration
	// Kinds are the faults to choose from. Default all five.
	Kinds []FaultKind
	// HangHold is how long, after a Hang failover, the successor must
	// keep leading while the worker LISTs hang. Default LeaseTimeout +
	// RenewDeadline: a loop stalled by the LIST would lose its lease.
	HangHold time.Duration
	// Noise turns on random latency, drops, resets and requests never
	// answered on the workers' proxies between faults (half of the
	// workers each round).
	Noise bool
	// NoiseLatency is the largest latency noise adds per forwarded chunk
	// (a request and its answer are at least two). Default 15ms, which
	// keeps a read plus a write inside the engine's budget for a plugin
	// claim (HeartbeatInterval/2, 100ms here). At 40-60ms a global
	// leader's claims are applied but answered too late, are retried
	// with ever higher epochs, and no plugin gets a leader for tens of
	// seconds: a liveness gap (never a safety one) that
	// COORD_CHAOS_NOISE_LATENCY=60ms shows.
	NoiseLatency time.Duration
	Seed         uint64
	// Driver is the workers' driver: "s3" (the AWS SDK, the default) or
	// "minio" (minio-go).
	Driver string
	// turn makes every round a turn of the store (RunTurn, turn.go).
	turn *turnRun
	// Engine timings passed to the workers.
	HeartbeatInterval, HeartbeatJitter, LeaseTimeout, RenewDeadline time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if len(o.Plugins) == 0 {
		o.Plugins = []string{"alpha", "beta"}
	}
	if len(o.Modes) == 0 {
		o.Modes = []string{"global", "per-plugin"}
	}
	if o.Failovers == 0 {
		o.Failovers = 50
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = 10 * time.Minute
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 20 * time.Second
	}
	if o.NoiseLatency == 0 {
		o.NoiseLatency = 15 * time.Millisecond
	}
	if len(o.Kinds) == 0 {
		o.Kinds = slices.Clone(allKinds)
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 200 * time.Millisecond
	}
	if o.HeartbeatJitter == 0 {
		o.HeartbeatJitter = 50 * time.Millisecond
	}
	if o.LeaseTimeout == 0 {
		o.LeaseTimeout = 900 * time.Millisecond
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = 600 * time.Millisecond
	}
	if o.HangHold == 0 {
		o.HangHold = o.LeaseTimeout + o.RenewDeadline
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Driver == "" {
		o.Driver = "s3"
	}
}

// Failover is one leader-aimed fault and the failover that followed.
type Failover struct {
	Kind    FaultKind
	Victim  string
	Plugins []string // the plugins the victim led
	// At is when the fault was injected (Unix ns); Took is the time from
	// then until every plugin of the victim had a leader in another
	// process (its Lead called).
	At   int64
	Took time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Server    string
	Failovers []Failover
	// Missed lists faults after which no failover came within
	// FailoverTimeout, and waits for a leader that timed out.
	Missed    []string
	Intervals []Interval
	Freezes   []Freeze
	Check     Report
	Restarts  int
	// Held counts the requests the proxies accepted and never answered
	// (Hang faults and noise); HeldLists those of them that were LISTs
	// of worker records by the other workers during Hang faults: the
	// cleanups of successors elected while those LISTs hung.
	Held, HeldLists int64
	// Faults counts the injected faults by kind, including noise.
	Faults   map[string]int
	Duration time.Duration
	// Bound is the liveness figure failovers are compared with:
	// LeaseTimeout + 2 × (HeartbeatInterval + HeartbeatJitter). A
	// failover also includes noticing the fault and request latency, so
	// a few above it are expected under load; it is reported, not
	// asserted.
	Bound time.Duration
}

// Percentile returns the p-th percentile (0..100, nearest rank) of the
// failover times.
func (r Result) Percentile(p float64) time.Duration { return percentile(r.Failovers, p) }

func percentile(fs []Failover, p float64) time.Duration {
	d := make([]time.Duration, 0, len(fs))
	for _, f := range fs {
		d = append(d, f.Took)
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p/100*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// Summary is a one-paragraph account of the run.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d failovers in %v (%s), %d restarts, %d missed; intervals %d, leader changes %v; overlaps %d, epoch errors %d; frozen-leader beliefs excused %d (max SIGCONT-to-end %v); smallest margin before a successor's start: acting %v, belief %v; failover time p50 %v p95 %v max %v",
		r.Server, len(r.Failovers), r.Duration.Round(time.Second), kindCounts(r), r.Restarts, len(r.Missed),
		r.Check.Intervals, r.Check.LeaderChanges, len(r.Check.Overlaps), len(r.Check.EpochErrors),
		r.Check.FrozenBeliefs, r.Check.WakeToEnd.Round(time.Millisecond),
		r.Check.ActMargin.Round(time.Millisecond), r.Check.BeliefMargin.Round(time.Millisecond),
		r.Percentile(50).Round(time.Millisecond), r.Percentile(95).Round(time.Millisecond), r.Percentile(100).Round(time.Millisecond))
	for _, k := range allKinds {
		var fs []Failover
		for _, f := range r.Failovers {
			if f.Kind == k {
				fs = append(fs, f)
			}
		}
		if len(fs) > 0 {
			fmt.Fprintf(&b, "; %s: %d, p50 %v max %v", k, len(fs),
				percentile(fs, 50).Round(time.Millisecond), percentile(fs, 100).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(&b, "; over LeaseTimeout+2 heartbeats (%v): %d", r.Bound, r.OverBound())
	fmt.Fprintf(&b, "; requests accepted and never answered %d (worker LISTs in hangs %d)", r.Held, r.HeldLists)
	return b.String()
}

// OverBound counts failovers slower than Bound.
func (r Result) OverBound() int {
	n := 0
	for _, f := range r.Failovers {
		if f.Took > r.Bound {
			n++
		}
	}
	return n
}

func kindCounts(r Result) string {
	keys := make([]string, 0, len(r.Faults))
	for k := range r.Faults {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Faults[k]))
	}
	return "faults: " + strings.Join(parts, ", ")
}

// BuildWorker builds the worker program into dir and returns its path.
func BuildWorker(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "chaos-worker")
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/s3coord/coord/internal/chaos/worker")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build worker: %v\n%s", err, b)
	}
	return out, nil
}

// process is one incarnation of a worker slot.
type process struct {
	id      string
	mode    string
	cmd     *exec.Cmd
	log     *LogReader
	exited  chan struct{}
	reaped  int64 // Unix ns, set when exited closes
	stopped bool
	killed  bool
	drained bool // exited, and its log read after that
}

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

type slot struct {
	index int
	gen   int
	proxy *FaultProxy // the worker's requests but its LISTs of worker records
	lists *FaultProxy // its LISTs of worker records (-list-endpoint)
	proc  *process
}

type run struct {
	o       Options
	kinds   []FaultKind // this cycle's remaining kinds
	events  *os.File
	rng     *rand.Rand
	slots   []*slot
	procs   []*process // every incarnation, for log reading
	open    map[string]map[string]*Interval
	closed  []Interval
	freezes []Freeze
	res     Result
}

// Run starts the workers, injects faults aimed at the leader until
// o.Failovers failovers were seen (or o.MaxDuration passed), stops
// everything and checks the intervals. An error means the run could not
// be carried out; safety violations are in Result.Check.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	r := &run{
		o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x5851f42d4c957f2d)),
		open: make(map[string]map[string]*Interval),
		res: Result{Server: o.Server.Name, Faults: make(map[string]int),
			Bound: o.LeaseTimeout + 2*(o.HeartbeatInterval+o.HeartbeatJitter)},
	}
	u, err := url.Parse(o.Server.Endpoint)
	if err != nil || u.Host == "" {
		return r.res, fmt.Errorf("bad endpoint %q", o.Server.Endpoint)
	}
	began := time.Now()
	r.events, err = os.Create(filepath.Join(o.Dir, "events.log"))
	if err != nil {
		return r.res, err
	}
	defer r.events.Close()
	for i := range o.Workers {
		p, err := NewFaultProxy(u.Host, o.Seed+uint64(i)+1)
		if err != nil {
			return r.res, err
		}
		defer p.Close()
		lists, err := NewFaultProxy(u.Host, o.Seed+uint64(o.Workers+i)+1)
		if err != nil {
			return r.res, err
		}
		defer lists.Close()
		r.slots = append(r.slots, &slot{index: i, proxy: p, lists: lists})
	}
	defer r.stopAll()
	for _, s := range r.slots {
		if err := r.start(s); err != nil {
			return r.res, err
		}
	}
	deadline := began.Add(o.MaxDuration)
	for len(r.res.Failovers) < o.Failovers && time.Now().Before(deadline) && ctx.Err() == nil {
		round := r.round
		if o.turn != nil {
			round = r.turnRound
		}
		if err := round(ctx); err != nil {
			return r.res, err
		}
	}
	r.stopAll()
	if err := r.poll(); err != nil {
		return r.res, err
	}
	for _, byPlugin := range r.open {
		for _, iv := range byPlugin {
			iv.Reason = EndRunOver
			iv.End, iv.LastAct = time.Now().UnixNano(), time.Now().UnixNano()
			r.closed = append(r.closed, *iv)
		}
	}
	r.open = nil
	r.res.Intervals, r.res.Freezes = r.closed, r.freezes
	r.res.Check = Check(r.closed, r.freezes, o.HeartbeatInterval+time.Second)
	r.res.Duration = time.Since(began)
	for _, s := range r.slots {
		r.res.Held += s.proxy.Hung.Load() + s.lists.Hung.Load()
	}
	return r.res, ctx.Err()
}

func (r *run) start(s *slot) error {
	o := r.o
	id := fmt.Sprintf("w%d-%d", s.index, s.gen)
	mode := o.Modes[(s.index+s.gen)%len(o.Modes)]
	logPath := filepath.Join(o.Dir, id+".jsonl")
	errPath := filepath.Join(o.Dir, id+".stderr")
	errf, err := os.Create(errPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(o.WorkerBinary,
		"-endpoint", s.proxy.URL(), "-list-endpoint", s.lists.URL(), "-bucket", o.Server.Bucket, "-prefix", "chaos/", "-region", o.Server.Region,
		"-id", id, "-mode", mode, "-driver", o.Driver, "-log", logPath, "-plugins", strings.Join(o.Plugins, ","),
		"-heartbeat", o.HeartbeatInterval.String(), "-jitter", o.HeartbeatJitter.String(),
		"-lease", o.LeaseTimeout.String(), "-renew-deadline", o.RenewDeadline.String())
	cmd.Env = append(os.Environ(), "COORD_CHAOS_ACCESS_KEY="+o.Server.AccessKey, "COORD_CHAOS_SECRET_KEY="+o.Server.SecretKey)
	cmd.Stdout, cmd.Stderr = errf, errf
	if err := cmd.Start(); err != nil {
		errf.Close()
		return err
	}
	p := &process{id: id, mode: mode, cmd: cmd, log: NewLogReader(logPath), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.reaped = time.Now().UnixNano()
		errf.Close()
		close(p.exited)
	}()
	s.proc = p
	r.procs = append(r.procs, p)
	r.event("started %s (%s, pid %d)", id, mode, cmd.Process.Pid)
	return nil
}

// event appends a line to the run's events.log (faults, restarts), for
// reading the interval logs against.
func (r *run) event(format string, args ...any) {
	fmt.Fprintf(r.events, "%s %s\n", Wall(time.Now().UnixNano()), fmt.Sprintf(format, args...))
}

// poll reads every new log line and updates the intervals.
func (r *run) poll() error {
	for _, p := range r.procs {
		if p.drained {
			continue
		}
		exited := !p.alive()
		lines, err := p.log.Next()
		p.drained = exited
		if err != nil {
			return err
		}
		for _, l := range lines {
			switch l.Kind {
			case KindStart:
				byPlugin := r.open[l.Worker]
				if byPlugin == nil {
					byPlugin = make(map[string]*Interval)
					r.open[l.Worker] = byPlugin
				}
				if old := byPlugin[l.Plugin]; old != nil {
					return fmt.Errorf("%s started %s epoch %d while its epoch %d was open", l.Worker, l.Plugin, l.Epoch, old.Epoch)
				}
				byPlugin[l.Plugin] = &Interval{Worker: l.Worker, PID: l.PID, Mode: l.Mode, Plugin: l.Plugin, Epoch: l.Epoch, Acquired: l.Acquired, Start: l.At}
			case KindEnd:
				iv := r.open[l.Worker][l.Plugin]
				if iv == nil || iv.Epoch != l.Epoch {
					return fmt.Errorf("%s ended %s epoch %d, which was not open", l.Worker, l.Plugin, l.Epoch)
				}
				iv.End, iv.LastAct, iv.Reason = l.At, l.LastAct, l.Reason
				r.closed = append(r.closed, *iv)
				delete(r.open[l.Worker], l.Plugin)
			}
		}
	}
	return nil
}

// closeDead closes the intervals a dead process left open at the time it
// was reaped: it may have acted until it died.
func (r *run) closeDead(p *process, reason string) error {
	if err := r.poll(); err != nil {
		return err
	}
	for _, iv := range r.open[p.id] {
		iv.End, iv.LastAct, iv.Reason = p.reaped, p.reaped, reason
		r.closed = append(r.closed, *iv)
	}
	delete(r.open, p.id)
	return nil
}

// reapCrashed restarts workers that exited without being killed, closing
// their intervals; each such exit is reported in Result.Missed.
func (r *run) reapCrashed() error {
	for _, s := range r.slots {
		p := s.proc
		if p.alive() || p.killed {
			continue
		}
		r.res.Missed = append(r.res.Missed, fmt.Sprintf("%s exited on its own at %s (see %s.stderr)", p.id, Wall(p.reaped), p.id))
		r.event("%s exited on its own", p.id)
		if err := r.closeDead(p, EndExited); err != nil {
			return err
		}
		s.gen++
		r.res.Restarts++
		if err := r.start(s); err != nil {
			return err
		}
	}
	return nil
}

// leaders returns, per plugin, the workers with an open interval.
func (r *run) leaders() map[string][]string {
	m := make(map[string][]string)
	for w, byPlugin := range r.open {
		for p := range byPlugin {
			m[p] = append(m[p], w)
		}
	}
	return m
}

func (r *run) slotOf(worker string) *slot {
	for _, s := range r.slots {
		if s.proc != nil && s.proc.id == worker {
			return s
		}
	}
	return nil
}

// waitStable waits until every slot runs and every plugin has exactly one
// leader, running and not frozen.
func (r *run) waitStable(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(r.o.FailoverTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := r.reapCrashed(); err != nil {
			return false, err
		}
		if err := r.poll(); err != nil {
			return false, err
		}
		ok := true
		for _, s := range r.slots {
			if !s.proc.alive() || s.proc.stopped {
				ok = false
			}
		}
		ls := r.leaders()
		for _, p := range r.o.Plugins {
			if len(ls[p]) != 1 || r.slotOf(ls[p][0]) == nil {
				ok = false
			}
		}
		if ok {
			return true, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, ctx.Err()
}

func (r *run) sleepRand(maxD time.Duration) {
	time.Sleep(time.Duration(r.rng.Int64N(int64(maxD) + 1)))
}

// round is one leader-aimed fault and its failover.
// settle reaps crashed workers and waits until every plugin has one
// running leader. It reports false (a miss is recorded, the crashed
// reaped) when that does not happen within FailoverTimeout.
func (r *run) settle(ctx context.Context) (bool, error) {
	if err := r.reapCrashed(); err != nil {
		return false, err
	}
	ok, err := r.waitStable(ctx)
	if err != nil || ok {
		return ok, err
	}
	r.res.Missed = append(r.res.Missed, fmt.Sprintf("no single running leader for every plugin within %v at %s (leaders %v)",
		r.o.FailoverTimeout, Wall(time.Now().UnixNano()), r.leaders()))
	return false, r.reapCrashed()
}

func (r *run) round(ctx context.Context) error {
	o := r.o
	if ok, err := r.settle(ctx); !ok || err != nil {
		return err
	}
	if o.Noise {
		r.noise()
	}
	r.sleepRand(o.HeartbeatInterval * 3) // a random phase of the leader's renewals
	if err := r.poll(); err != nil {
		return err
	}
	ls := r.leaders()
	target := o.Plugins[r.rng.IntN(len(o.Plugins))]
	if len(ls[target]) != 1 {
		return nil // changed meanwhile (noise): try again
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
	victim.proxy.SetFault(Fault{}) // the aimed fault alone decides
	p := victim.proc
	var (
		how       string // more about the fault, for events.log
		heldLists int64  // before a Hang
	)
	at := time.Now().UnixNano()
	var freeze Freeze
	switch kind {
	case Kill:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		p.killed = true
		<-p.exited
		if err := r.closeDead(p, EndKilled); err != nil {
			return err
		}
	case Stop:
		_ = p.cmd.Process.Signal(syscall.SIGSTOP)
		p.stopped = true
		if err := waitStopped(p.cmd.Process.Pid, 5*time.Second); err != nil {
			return err
		}
		freeze = Freeze{Worker: p.id, Stop: time.Now().UnixNano()}
	case Partition:
		victim.proxy.SetFault(Fault{Blackhole: true})
	case ResetStorm:
		victim.proxy.SetFault(Fault{ResetRate: 1})
		victim.proxy.ResetAll()
	case Hang:
		heldLists = r.heldLists(victim)
		forward := r.rng.IntN(2) == 0
		how = fmt.Sprintf(", requests forwarded %v", forward)
		for _, s := range r.slots {
			s.proxy.SetFault(Fault{}) // no noise: see Hang
			s.lists.SetFault(Fault{HangRate: 1, HangForwards: forward})
		}
		victim.proxy.SetFault(Fault{HangRate: 1, HangForwards: forward})
	}
	r.res.Faults[string(kind)]++
	r.event("%s of %s (leads %v%s) injected at %s", kind, p.id, led, how, Wall(at))
	took, moved, err := r.waitFailover(ctx, p.id, led, at)
	if err != nil {
		return err
	}
	if kind == Hang {
		if moved {
			if err := r.holdOn(ctx, p.id, led); err != nil {
				return err
			}
		}
		for _, s := range r.slots {
			s.lists.SetFault(Fault{})
		}
		heldLists = r.heldLists(victim) - heldLists
		r.res.HeldLists += heldLists
		// None when no election came with the failover (a global
		// namespace leader taking over a per-plugin leader's plugin).
		r.event("hang of %s: %d LISTs of worker records held on the other workers", p.id, heldLists)
	}
	// Heal.
	switch kind {
	case Kill:
		r.sleepRand(500 * time.Millisecond)
		victim.gen++
		r.res.Restarts++
		if err := r.start(victim); err != nil {
			return err
		}
	case Stop:
		// Frozen for longer than the lease in any case.
		if min := time.Unix(0, at).Add(o.LeaseTimeout + 300*time.Millisecond); time.Now().Before(min) {
			time.Sleep(time.Until(min))
		}
		r.sleepRand(500 * time.Millisecond)
		freeze.Cont = time.Now().UnixNano()
		r.event("SIGCONT %s (stopped since %s)", p.id, Wall(freeze.Stop))
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		p.stopped = false
		r.freezes = append(r.freezes, freeze)
	default:
		r.sleepRand(500 * time.Millisecond)
		victim.proxy.SetFault(Fault{})
		r.event("healed %s", p.id)
	}
	victim.lists.SetFault(Fault{})
	if !moved {
		r.res.Missed = append(r.res.Missed, fmt.Sprintf("%s of %s at %s: no failover of %v within %v",
			kind, p.id, Wall(at), led, o.FailoverTimeout))
		return nil
	}
	r.res.Failovers = append(r.res.Failovers, Failover{Kind: kind, Victim: p.id, Plugins: led, At: at, Took: took})
	o.Logf("%s: failover %d: %s of %s (led %v) -> new leaders after %v",
		o.Server.Name, len(r.res.Failovers), kind, p.id, led, took.Round(time.Millisecond))
	return nil
}

// nextKind deals the fault kinds in cycles, each cycle a random
// permutation, so that every kind gets its share of the faults.
func (r *run) nextKind() FaultKind {
	if len(r.kinds) == 0 {
		r.kinds = slices.Clone(r.o.Kinds)
		r.rng.Shuffle(len(r.kinds), func(i, j int) { r.kinds[i], r.kinds[j] = r.kinds[j], r.kinds[i] })
	}
	k := r.kinds[0]
	r.kinds = r.kinds[1:]
	return k
}

// waitFailover waits until each plugin in led has an interval started
// after at by a worker other than victim.
func (r *run) waitFailover(ctx context.Context, victim string, led []string, at int64) (time.Duration, bool, error) {
	deadline := time.Now().Add(r.o.FailoverTimeout)
	for {
		if err := r.poll(); err != nil {
			return 0, false, err
		}
		var took int64
		done := true
		for _, p := range led {
			first := int64(0)
			consider := func(iv *Interval) {
				if iv.Plugin == p && iv.Worker != victim && iv.Start > at && (first == 0 || iv.Start < first) {
					first = iv.Start
				}
			}
			for i := range r.closed {
				consider(&r.closed[i])
			}
			for _, byPlugin := range r.open {
				for _, iv := range byPlugin {
					consider(iv)
				}
			}
			if first == 0 {
				done = false
				break
			}
			took = max(took, first-at)
		}
		if done {
			return time.Duration(took), true, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldLists counts the LISTs of worker records held so far on the
// workers other than victim.
func (r *run) heldLists(victim *slot) int64 {
	var n int64
	for _, s := range r.slots {
		if s != victim {
			n += s.lists.Hung.Load()
		}
	}
	return n
}

// holdOn checks, after a Hang failover, that each plugin in led keeps the
// leader (other than victim) it has now, in the same interval, for
// HangHold while the worker LISTs hang; a plugin that loses it is reported
// in Result.Missed.
func (r *run) holdOn(ctx context.Context, victim string, led []string) error {
	if err := r.poll(); err != nil {
		return err
	}
	now := func() string { return Wall(time.Now().UnixNano()) }
	held := make(map[string]*Interval, len(led))
	for _, p := range led {
		for w, byPlugin := range r.open {
			if iv := byPlugin[p]; iv != nil && w != victim {
				held[p] = iv
			}
		}
		if held[p] == nil {
			r.res.Missed = append(r.res.Missed, fmt.Sprintf("hang of %s: %s had no leader at %s, right after its failover, while the worker LISTs hung", victim, p, now()))
		}
	}
	for end := time.Now().Add(r.o.HangHold); time.Now().Before(end) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
		if err := r.poll(); err != nil {
			return err
		}
		for p, iv := range held {
			if r.open[iv.Worker][p] != iv {
				r.res.Missed = append(r.res.Missed, fmt.Sprintf("hang of %s: %s led %s from %s and stopped before %s, while the worker LISTs hung",
					victim, iv.Worker, p, Wall(iv.Start), now()))
				delete(held, p)
			}
		}
	}
	return ctx.Err()
}

// noise sets random mild faults on the proxies: latency, dropped and
// reset connections, requests never answered, on some workers at a time.
func (r *run) noise() {
	for _, s := range r.slots {
		if r.rng.Float64() < 0.5 {
			s.proxy.SetFault(Fault{})
			continue
		}
		f := Fault{
			Latency:      time.Duration(r.rng.Int64N(int64(r.o.NoiseLatency))),
			DropRate:     0.02 * r.rng.Float64(),
			ResetRate:    0.02 * r.rng.Float64(),
			HangRate:     0.01 * r.rng.Float64(),
			HangForwards: r.rng.IntN(2) == 0,
		}
		s.proxy.SetFault(f)
		r.res.Faults["noise"]++
		r.event("noise on %s: %+v", s.proc.id, f)
	}
}

// stopAll wakes frozen workers and stops every worker gracefully (SIGTERM),
// killing those that do not exit within 10s.
func (r *run) stopAll() {
	for _, s := range r.slots {
		s.proxy.SetFault(Fault{})
		s.lists.SetFault(Fault{})
		p := s.proc
		if p == nil || !p.alive() {
			continue
		}
		if p.stopped {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			p.stopped = false
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range r.slots {
		p := s.proc
		if p == nil {
			continue
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
	}
}

// waitStopped waits until the kernel reports pid stopped (state T).
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return err
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'T' || s[i+2] == 't') {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("process did not stop")
		}
		time.Sleep(time.Millisecond)
	}
}
