package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storeurl"
)

// runUsage is the help text of "coordctl run".
const runUsage = `
coordctl run [flags] -job NAME -- CMD [ARGS...]
  Runs CMD on exactly one machine: while this process leads the job NAME, CMD runs
  in a process group of its own with COORD_JOB, COORD_EPOCH (the fencing token),
  COORD_LEADER (this worker id) and COORD_NAMESPACE in its environment; stdin,
  stdout and stderr pass through. Other processes running the same command wait as
  candidates and start CMD when they take over. When the leadership ends, for any
  cause, the group gets SIGTERM, then the whole tree of CMD's descendants (whatever
  sessions or groups they made: a cgroup v2 of the run's own, or a child subreaper
  and a /proc walk) SIGKILL after -grace, and is dead before any other process can
  lead: within LeaseTimeout - RenewDeadline of the end, minus a reserve of a quarter
  of it for clock rate and scheduling. A guard process per run kills the tree too
  if coordctl itself dies or stops (kill -9, SIGSTOP). A SIGTERM or SIGINT is
  forwarded to the group, which gets the full grace; once the tree is gone the lease
  is released and a follower takes over at once. A second signal kills it at once.
  -job NAME            the job (a plugin name: letters, digits, '.', '_', '-'); required
  -on-exit WHAT        when CMD exits while leading: restart (default; after a back-off
                       from -restart-delay, doubling while CMD runs less than a minute,
                       at most 1m) or exit (exit with CMD's code, releasing the lease)
  -once                cron mode: each firing runs CMD once across the fleet. Waits up to
                       -timeout for the job to be free (a holder releases, or its lease
                       expires: a crashed holder is taken over); exits 0 without running
                       CMD when the slot's completion record exists, or a live holder
                       kept it throughout -timeout
  -once-key KEY        -once: the slot (default: the minute this process started, UTC,
                       2006-01-02T15:04); a completion record per slot, with the epoch
  -grace D             SIGTERM-to-SIGKILL delay (default: the largest that fits,
                       0.65 × (LeaseTimeout - RenewDeadline): 3.25s at the defaults);
                       a -grace that does not fit is refused
  -restart-delay D     first back-off of -on-exit restart (default 1s)
  -heartbeat D, -lease D, -renew-deadline D
                       coord.Config HeartbeatInterval (5s), LeaseTimeout (15s),
                       RenewDeadline (2/3 of the lease); every process of a job must agree
  -worker-id ID        this process's worker id (default: generated)
  -timeout D           opening the store; -once: how long to wait to lead (30s)
  Exit codes of run (CMD's own code passes through, so pick CMD codes apart from these):
  0    CMD exited 0 (-on-exit exit, -once); -once: the slot was done, or another
       process held the job throughout -timeout, nothing ran; stopped by
       SIGTERM/SIGINT (-on-exit restart, or before leading)
  N    -on-exit exit, -once: CMD exited with N; 128+S when a signal S ended it
       (143: it did not handle the forwarded SIGTERM; 137: killed after -grace)
  2    usage error (bad flag, -grace that does not fit, invalid name or timing)
  75   -on-exit exit, -once: the leadership ended while CMD ran (any cause, a
       SIGSTOP of coordctl too); CMD was stopped
  125  coordctl run failed: store unreachable or unsafe, denied, no decision in -timeout
  126  CMD could not be executed; 127: CMD not found
`

// Exit codes of "coordctl run" beyond the common ones.
const (
	exitRunLost     = 75  // the leadership ended while CMD ran (exit, once)
	exitRunFailed   = 125 // coordctl run could not do its job
	exitRunNoExec   = 126 // CMD is not executable
	exitRunNotFound = 127 // CMD was not found
)

// guardFlag starts the guard process of one run of CMD (see guard); it is
// not a user flag.
const guardFlag = "-internal-guard"

// runOptions are the flags of "coordctl run".
type runOptions struct {
	job, onExit, workerID string
	onceKey               string
	once                  bool
	grace                 time.Duration
	graceSet              bool
	restartDelay          time.Duration
	cfg                   coord.Config
	argv                  []string
}

// timing is what a run derives from the engine's timing: how long CMD may
// outlive the end of a leadership.
type timing struct {
	// budget is LeaseTimeout - RenewDeadline: a successor takes over no
	// sooner than LeaseTimeout after the start of the last renewal, and
	// the leadership ends RenewDeadline after it.
	budget time.Duration
	// reserve is kept out of the budget for clock rate differences,
	// scheduling and the kill itself: a quarter of it.
	reserve time.Duration
	// report is how often coordctl tells the guard that the leadership
	// still holds; the guard kills the group once budget - reserve has
	// passed since the last such report.
	report time.Duration
	// maxGrace is the largest grace that fits: the group must be dead
	// within budget - reserve of the end, and the grace starts up to one
	// report period late (coordctl's own SIGKILL comes one report period
	// after the grace).
	maxGrace time.Duration
}

func timingOf(cfg coord.Config) timing {
	b := cfg.LeaseTimeout - cfg.RenewDeadline
	t := timing{budget: b, reserve: b / 4, report: max(b/20, time.Millisecond)}
	t.maxGrace = b - t.reserve - 2*t.report
	return t
}

// parseRun parses the flags of "coordctl run" into o (the common ones)
// and ro. It returns a usage message when the command line is wrong.
func (c *cli) parseRun(o *options, args []string) (runOptions, string) {
	ro := runOptions{}
	saved := *o
	fs := c.flags("run", o)
	*o = saved
	fs.StringVar(&ro.job, "job", c.getenv("COORD_JOB"), "")
	fs.StringVar(&ro.onExit, "on-exit", "restart", "")
	fs.BoolVar(&ro.once, "once", false, "")
	fs.DurationVar(&ro.grace, "grace", 0, "")
	fs.DurationVar(&ro.restartDelay, "restart-delay", time.Second, "")
	fs.DurationVar(&ro.cfg.HeartbeatInterval, "heartbeat", 0, "")
	fs.DurationVar(&ro.cfg.LeaseTimeout, "lease", 0, "")
	fs.DurationVar(&ro.cfg.RenewDeadline, "renew-deadline", 0, "")
	fs.StringVar(&ro.workerID, "worker-id", "", "")
	fs.StringVar(&ro.onceKey, "once-key", time.Now().UTC().Format(onceKeyLayout), "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ro, "help"
		}
		return ro, err.Error()
	}
	onExitSet := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "grace":
			ro.graceSet = true
		case "on-exit":
			onExitSet = true
		}
	})
	ro.argv = fs.Args()
	if o.namespace == "" {
		o.namespace = "default"
	}
	if o.root == "" {
		o.root = coord.DefaultConfig().Root
	}
	switch {
	case len(ro.argv) == 0:
		return ro, "run: no command (coordctl run [flags] -job NAME -- CMD [ARGS...])"
	case ro.job == "":
		return ro, "run: no job: give -job NAME"
	case o.store == "":
		return ro, "no store: give -store URL or set COORD_STORE"
	case ro.onExit != "restart" && ro.onExit != "exit":
		return ro, fmt.Sprintf("run: -on-exit %q: want restart or exit", ro.onExit)
	case ro.once && onExitSet && ro.onExit == "restart":
		return ro, "run: -once runs CMD once: -on-exit restart does not go with it"
	case o.timeout <= 0 || o.workerTimeout <= 0 || ro.restartDelay <= 0 || ro.grace < 0:
		return ro, "durations must be positive"
	case ro.onceKey == "" || strings.Contains(ro.onceKey, "/") || driver.ValidateKey(onceRecordKey(o.root, o.namespace, ro.job, ro.onceKey)) != nil:
		return ro, fmt.Sprintf("run: -once-key %q: want a non-empty key without '/' or control characters", ro.onceKey)
	}
	if ro.once {
		ro.onExit = "exit"
	}
	for kind, name := range map[string]string{"namespace": o.namespace, "job": ro.job} {
		if err := coord.ValidateName(kind, name); err != nil {
			return ro, err.Error()
		}
	}
	ro.cfg.Root, ro.cfg.WorkerID, ro.cfg.WorkerTimeout = o.root, ro.workerID, o.workerTimeout
	ro.cfg.WorkerMeta = map[string]string{"job": ro.job, "command": "coordctl-run"}
	if err := ro.cfg.Validate(); err != nil {
		return ro, err.Error()
	}
	ro.cfg = withTimingDefaults(ro.cfg)
	t := timingOf(ro.cfg)
	if t.maxGrace < 0 {
		return ro, fmt.Sprintf("run: LeaseTimeout - RenewDeadline (%v - %v) leaves no time to stop CMD; lengthen -lease or shorten -renew-deadline",
			ro.cfg.LeaseTimeout, ro.cfg.RenewDeadline)
	}
	if !ro.graceSet {
		ro.grace = t.maxGrace
	} else if ro.grace > t.maxGrace {
		return ro, fmt.Sprintf("run: -grace %v does not fit: CMD must be dead within LeaseTimeout - RenewDeadline = %v - %v = %v of the end of a leadership, "+
			"less a reserve of a quarter (%v) and two report periods (%v), so -grace may be at most %v; lengthen -lease or shorten -renew-deadline for a longer grace",
			ro.grace, ro.cfg.LeaseTimeout, ro.cfg.RenewDeadline, t.budget, t.reserve, 2*t.report, t.maxGrace)
	}
	return ro, ""
}

// withTimingDefaults fills in the engine's timing defaults, as NewHub does.
func withTimingDefaults(cfg coord.Config) coord.Config {
	d := coord.DefaultConfig()
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = d.HeartbeatInterval
	}
	if cfg.LeaseTimeout == 0 {
		cfg.LeaseTimeout = d.LeaseTimeout
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = cfg.LeaseTimeout * 2 / 3
	}
	return cfg
}

// runCmd runs "coordctl run". o holds the flags given before the command.
func (c *cli) runCmd(ctx context.Context, o options, args []string) int {
	if len(args) > 0 && args[0] == guardFlag {
		return guard(c, args[1:])
	}
	ro, msg := c.parseRun(&o, args)
	switch msg {
	case "":
	case "help":
		fmt.Fprint(c.stdout, strings.TrimPrefix(runUsage, "\n"))
		return exitOK
	default:
		return c.usage(msg)
	}
	store, closeStore, err := c.openStore(ctx, o)
	if err != nil {
		if errors.Is(err, storeurl.ErrInvalid) {
			return c.usage(err.Error())
		}
		fmt.Fprintln(c.stderr, "coordctl run:", err)
		return exitRunFailed
	}
	defer closeStore()
	return c.supervise(ctx, store, o, ro)
}

// describe is a one-line account of how a run is set up, for its log.
func (ro runOptions) describe() string {
	t := timingOf(ro.cfg)
	mode := "on-exit " + ro.onExit
	if ro.once {
		mode = "once"
	}
	return fmt.Sprintf("job %s, %s, grace %v (fits %v: lease %v - renew deadline %v, reserve %v), command %s",
		ro.job, mode, ro.grace, t.maxGrace, ro.cfg.LeaseTimeout, ro.cfg.RenewDeadline, t.reserve, strings.Join(ro.argv, " "))
}
