package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3coord/coord/storeurl"
)

// options are the command-line settings of one run.
type options struct {
	store    string   // store URL; "" means bolt in a temp dir
	plugins  []int    // plugin counts per worker, ascending, distinct
	workers  int      // worker processes (Hubs) per scenario
	modes    []string // modePerPlugin and/or modeGlobal
	clock    string   // clockVirtual or clockRealTime (resolved)
	duration time.Duration
	// interval is the heartbeat interval: on the virtual clock the
	// engine's HeartbeatInterval (0: its default), in real time the
	// shortened interval that stands for the default (0: 500ms).
	interval time.Duration
	// lease and workerTimeout are LeaseTimeout and WorkerTimeout (0: the
	// engine's defaults); in real time the settings the run stands for,
	// shortened like the interval.
	lease, workerTimeout time.Duration
	// whatIf lists the engine-setting flags given, with their values ("-lease 30s").
	whatIf     []string
	prices     PriceModel
	trials     int
	membership bool
	// membershipTwin runs each global scenario again without membership.
	membershipTwin bool
	timing         bool // convergence and failover trials
	pluginCosts    bool // the built-in plugins' requests (ttl, queue, scheduler)
	seed           uint64
	json, csv      bool
	svg            string
	quiet          bool
	cpuProfile     string // write a CPU profile of the run here
}

// Real-time defaults: intervals 10× shorter than the engine's defaults, so
// a 10s window stands for 100 seconds at default settings. (At 200ms, 30
// coordinators on a loaded 2-core machine with a local MinIO lost
// heartbeats to request latency: the shortening must stay well above the
// store's latency.)
const (
	defaultRealInterval = 500 * time.Millisecond
	defaultRealDuration = 10 * time.Second
	defaultVirtualHour  = time.Hour
	defaultVirtualTrial = 5
	defaultRealTrials   = 3
)

const usageText = `usage: bench [flags]

Measures storage requests, cost, time to a leader and failover time of
coord's global and per-plugin modes, with the engine's real code.

With no flags it runs on an embedded bolt store in a temp dir on a virtual
clock (a simulated hour per scenario, in seconds of wall time). Any store
URL works: mem://, bolt:///path/to.db, s3://bucket/prefix?region=..., 
minio://host:port/bucket/prefix?secure=false. Stores other than mem and bolt
run in real time with short intervals, and the output says how the counts
were scaled to an hour.

flags:
`

// parseFlags parses args (without the program name).
func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, usageText)
		fs.PrintDefaults()
	}
	plugins := fs.String("plugins", "1,3,10", "comma-separated plugin counts per worker")
	modes := fs.String("modes", modePerPlugin+","+modeGlobal, "comma-separated modes to run: per-plugin, global")
	virtual := fs.Bool("virtual", false, "virtual clock (mem and bolt stores only; the default for them)")
	realtime := fs.Bool("realtime", false, "real time with short intervals (the default for other stores)")
	fs.StringVar(&o.store, "store", "", "store URL (default: bolt in a temp dir, removed afterwards)")
	fs.IntVar(&o.workers, "workers", 3, "worker processes (coord Hubs) per scenario")
	fs.DurationVar(&o.duration, "duration", 0, "steady-state window per scenario (default 1h virtual, 15s real time)")
	fs.DurationVar(&o.interval, "interval", 0, "heartbeat interval (coord.Config.HeartbeatInterval; default 5s); in real time the shortened interval standing for the default (default 500ms), the other timings shortened alike")
	fs.DurationVar(&o.lease, "lease", 0, "lease timeout (coord.Config.LeaseTimeout; default 15s; RenewDeadline follows as 2/3 of it)")
	fs.DurationVar(&o.workerTimeout, "worker-timeout", 0, "worker timeout (coord.Config.WorkerTimeout; default 20s; worker records are written every third of it)")
	prices := fs.String("prices", S3Standard.Key, "request prices for the dollar figures: "+strings.Join(priceKeys(), ", ")+", or put=…,get=… in dollars per 1,000 requests (put: PUT and LIST, get: GET and HEAD)")
	fs.IntVar(&o.trials, "trials", 0, "repetitions of each failover measurement, per stop kind (default 5 virtual, 3 real time)")
	fs.BoolVar(&o.membership, "membership", true, "worker records (membership); false saves their PUTs")
	fs.BoolVar(&o.membershipTwin, "membership-twin", true, "run each global scenario again with DisableMembership, to measure what it saves")
	fs.BoolVar(&o.timing, "timing", true, "measure time to a leader and failover time (false: requests only)")
	fs.BoolVar(&o.pluginCosts, "plugin-costs", true, "measure the built-in plugins' own requests per hour (ttl, queue, scheduler)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the engines' jitter and of the stop times (virtual clock runs repeat exactly per seed)")
	fs.BoolVar(&o.json, "json", false, "write the report as JSON instead of tables")
	fs.BoolVar(&o.csv, "csv", false, "write the report as CSV instead of tables")
	fs.StringVar(&o.svg, "svg", "", "also draw requests/hour against plugin count into this SVG file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line on stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var err error
	if o.plugins, err = parseCounts(*plugins); err != nil {
		return o, fmt.Errorf("-plugins: %w", err)
	}
	if o.modes, err = parseModes(*modes); err != nil {
		return o, fmt.Errorf("-modes: %w", err)
	}
	if o.workers < 1 {
		return o, errors.New("-workers: must be at least 1")
	}
	if o.trials < 0 {
		return o, errors.New("-trials: must be at least 1")
	}
	if o.json && o.csv {
		return o, errors.New("-json and -csv: choose one")
	}
	if o.duration < 0 {
		return o, errors.New("-duration: must not be negative")
	}
	if o.prices, err = parsePrices(*prices); err != nil {
		return o, fmt.Errorf("-prices: %w", err)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"interval", o.interval}, {"lease", o.lease}, {"worker-timeout", o.workerTimeout}} {
		given := false
		fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == f.name })
		if !given {
			continue
		}
		if f.d <= 0 {
			return o, fmt.Errorf("-%s: must be positive", f.name)
		}
		o.whatIf = append(o.whatIf, "-"+f.name+" "+formatWindow(f.d))
	}
	scheme, err := storeScheme(o.store)
	if err != nil {
		return o, fmt.Errorf("-store: %w", err)
	}
	switch {
	case *virtual && *realtime:
		return o, errors.New("-virtual and -realtime: choose one")
	case *virtual && scheme != "mem" && scheme != "bolt":
		return o, fmt.Errorf("-virtual: needs a mem or bolt store (a %s server keeps real time)", scheme)
	case *virtual:
		o.clock = clockVirtual
	case *realtime:
		o.clock = clockRealTime
	case scheme == "mem" || scheme == "bolt":
		o.clock = clockVirtual
	default:
		o.clock = clockRealTime
	}
	if o.clock == clockRealTime && o.interval == 0 {
		o.interval = defaultRealInterval
	}
	if o.interval != 0 && o.interval < 10*time.Millisecond {
		return o, errors.New("-interval: must be at least 10ms")
	}
	if _, _, _, err := engineSettings(o); err != nil {
		return o, err
	}
	if o.duration == 0 {
		o.duration = defaultVirtualHour
		if o.clock == clockRealTime {
			o.duration = defaultRealDuration
		}
	}
	if o.trials == 0 {
		o.trials = defaultVirtualTrial
		if o.clock == clockRealTime {
			o.trials = defaultRealTrials
		}
	}
	return o, nil
}

// storeScheme returns the scheme of a store URL ("bolt" for the default),
// rejecting a URL storeurl would not open.
func storeScheme(raw string) (string, error) {
	if raw == "" {
		return storeurl.SchemeBolt, nil
	}
	spec, err := storeurl.Parse(raw)
	if err != nil {
		return "", err
	}
	return spec.Scheme, nil
}

// parseCounts parses "1,3,10" into ascending distinct positive counts.
func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		if n > 1000 {
			return nil, fmt.Errorf("%d plugins: at most 1000", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// parseModes parses "per-plugin,global" keeping that display order.
func parseModes(s string) ([]string, error) {
	var want []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f != modePerPlugin && f != modeGlobal {
			return nil, fmt.Errorf("%q is not a mode (per-plugin, global)", f)
		}
		want = append(want, f)
	}
	var out []string
	for _, m := range []string{modePerPlugin, modeGlobal} {
		if slices.Contains(want, m) {
			out = append(out, m)
		}
	}
	return out, nil
}
