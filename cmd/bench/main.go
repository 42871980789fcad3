// Command bench measures what coord's global mode saves over per-plugin
// mode, with the engine's real code on a real driver: storage requests per
// hour by billing class, their cost at S3 Standard prices, heartbeats per
// hour, time until every plugin knows its leader, and failover time after
// a leader crash and after a graceful stop. It prints the tables of the
// migration guide's "Performance Benchmarks" section, measured.
//
// Counts are the driver's own request counters (every attempt, as S3
// bills them), never a model of the engine.
//
// On mem and bolt stores it runs on a virtual clock (internal/vclock): the
// engine runs as it always does, goroutines and all, and whenever every
// goroutine is blocked the clock jumps to the next pending timer, so
// requests take no time and a simulated hour at default settings takes
// seconds and repeats exactly: every figure depends on the settings and
// the seed only (docs/bench.md says how). Other stores (S3, MinIO) keep
// real time: the benchmark shortens every interval by the same factor,
// runs for -duration, and scales the counts to an hour at default
// settings, saying so in its output.
//
// Usage:
//
//	go run ./cmd/bench                       # bolt in a temp dir, virtual clock
//	go run ./cmd/bench -store 'minio://127.0.0.1:9000/bench/run1?secure=false'
//	go run ./cmd/bench -json > bench.json    # or -csv; -svg chart.svg draws the chart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit status: 0 when the
// benchmark ran (whatever its targets say), 1 when it failed, 2 for bad
// flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	var progOut io.Writer = stderr
	if o.quiet {
		progOut = nil
	}
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench: -cpuprofile:", err)
			return 1
		}
		defer stopProfile()
	}
	rep, err := benchmark(ctx, o, progOut)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	switch {
	case o.json:
		err = writeJSON(stdout, rep)
	case o.csv:
		err = writeCSV(stdout, rep)
	default:
		err = writeText(stdout, rep)
	}
	if err == nil && o.svg != "" {
		err = writeSVGFile(o.svg, rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func writeSVGFile(path string, rep *Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeSVG(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startCPUProfile starts writing a CPU profile to path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
