package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/conformance"
)

// checkUsage is the help text of "coordctl check".
const checkUsage = `
coordctl check [flags] STORE_URL
  Checks that a store gives coord what it needs, in a bounded number of requests
  (about 200) under a scratch prefix that is deleted afterwards: conditional create
  (IfAbsent), stale IfMatch, IfMatch on a missing key, 16-way IfAbsent and IfMatch
  races with exactly one winner, conditional delete (by the driver, and at the server
  when the driver can send one), read-after-write, List order, the server's clock and
  its offset from the local clock, the form of versions (ETags), and the latency of
  PUT, GET and LIST, with the coord configuration it supports. The rules are the
  conformance suite's (package conformance), run by the same code. Prints a
  PASS/WARN/SKIP/FAIL table (-json: the report as JSON).
  -prefix P            scratch prefix (default <root>_check/<random>/); everything under it
                       is deleted at the end
  -timeout D           bound on each request (default 30s)
  -max-time D          bound on the whole check (default 3m); a store that hangs gives
                       FAIL (timeout), never a hang
  -race-width N        writers in each race (default 16)
  -samples N           sequential requests of each kind for the latency (default 20)
  Exit codes: 0 no check failed (WARNs are quirks coord copes with); 1 the store could
  not be opened or written at all (no bucket, access denied, unreachable, no answer);
  2 usage error; 3 a check failed: the store breaks a rule coord relies on (or a
  check ran out of time).
`

// exitCheckFailed: a check failed (coordctl check).
const exitCheckFailed = 3

// checkCmd runs "coordctl check". o holds the flags given before the command.
func (c *cli) checkCmd(ctx context.Context, o options, args []string) int {
	saved := o
	fs := c.flags("check", &o)
	o = saved
	var (
		prefix  string
		maxTime time.Duration
		width   int
		samples int
	)
	fs.StringVar(&prefix, "prefix", "", "")
	fs.DurationVar(&maxTime, "max-time", 3*time.Minute, "")
	fs.IntVar(&width, "race-width", 16, "")
	fs.IntVar(&samples, "samples", 20, "")
	if code, ok := c.parseCommand(fs, args); !ok {
		return code
	}
	if code, ok := c.storeArg("check", fs, &o); !ok {
		return code
	}
	if o.root == "" {
		o.root = coord.DefaultConfig().Root
	}
	switch {
	case o.store == "":
		return c.usage("check: no store: give STORE_URL (or -store, or COORD_STORE)")
	case o.timeout <= 0 || maxTime <= 0:
		return c.usage("check: durations must be positive")
	case width < 2 || width > 256:
		return c.usage("check: -race-width must be between 2 and 256")
	case samples < 1 || samples > 1000:
		return c.usage("check: -samples must be between 1 and 1000")
	}
	if prefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		prefix = o.root + "_check/" + hex.EncodeToString(b[:]) + "/"
	}
	if !strings.HasSuffix(prefix, "/") {
		return c.usage(fmt.Sprintf("check: -prefix %q must end with /", prefix))
	}

	store, closeStore, err := c.openStore(ctx, o)
	if err != nil {
		return c.openFailed(err)
	}
	defer closeStore()

	ctx, cancel := context.WithTimeout(ctx, maxTime)
	defer cancel()
	rep := conformance.Probe(ctx, store, conformance.ProbeOptions{
		Prefix:         prefix,
		RaceWidth:      width,
		RequestTimeout: o.timeout,
		CheckTimeout:   maxTime,
		Samples:        samples,
	})
	if o.json {
		c.printJSON(rep)
	} else {
		c.printReport(rep)
	}
	switch {
	case !rep.Usable:
		return exitError
	case rep.Status == conformance.Fail:
		return exitCheckFailed
	}
	return exitOK
}

// parseCommand parses a command's flags, answering -h with the help text.
// ok is false when the command must end with code.
func (c *cli) parseCommand(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage()
			return exitOK, false
		}
		return c.usage(err.Error()), false
	}
	return 0, true
}

func (c *cli) printReport(rep conformance.Report) {
	fmt.Fprintf(c.stdout, "store %s, scratch prefix %s\n\n", rep.Store, rep.Prefix)
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tRESULT\tWHAT")
	count := map[conformance.Status]int{}
	for _, f := range rep.Findings {
		count[f.Status]++
		fmt.Fprintf(w, "%s\t%s\t%s\n", f.Check, f.Status, f.Summary)
		for _, d := range f.Details {
			fmt.Fprintf(w, "\t\t  %s\n", d)
		}
	}
	w.Flush()
	fmt.Fprintln(c.stdout)
	if rep.Usable {
		for _, l := range rep.Latency {
			unit := "samples"
			if strings.HasSuffix(l.Op, " round") {
				unit = "rounds"
			}
			fmt.Fprintf(c.stdout, "latency %-24s p50 %v  p99 %v  (%d %s)\n", l.Op, conformance.Round(l.P50), conformance.Round(l.P99), l.Samples, unit)
		}
		fmt.Fprintf(c.stdout, "clock offset    %+v (± %v): server minus local\n", rep.ClockOffset.Round(time.Millisecond), rep.ClockUncertainty.Round(time.Millisecond))
		if r := rep.Recommended; r.HeartbeatInterval > 0 {
			fmt.Fprintf(c.stdout, "recommended     HeartbeatInterval %v, LeaseTimeout %v, RenewDeadline %v, WorkerTimeout %v\n",
				r.HeartbeatInterval, r.LeaseTimeout, r.RenewDeadline, r.WorkerTimeout)
		}
	}
	left := fmt.Sprint(rep.Leftover)
	if rep.Leftover < 0 {
		left = "unknown (the cleanup could not list the scratch prefix: see Cleanup/Leftover)"
	}
	fmt.Fprintf(c.stdout, "requests        %v in %v; leftover objects: %s\n", rep.Requests, conformance.Round(rep.Took), left)
	fmt.Fprintf(c.stdout, "result          %s (%d PASS, %d WARN, %d FAIL; %d SKIP)\n",
		rep.Status, count[conformance.Pass], count[conformance.Warn], count[conformance.Fail], count[conformance.Skip])
	if !rep.Usable {
		fmt.Fprintln(c.stdout, "the store could not be written: nothing else was checked")
	}
}
