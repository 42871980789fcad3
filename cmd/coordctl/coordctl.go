package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/storeurl"
)

// Exit codes. Scripts may rely on them; they are listed in the help text.
const (
	exitOK        = 0 // done; status: a leader holds the lease
	exitError     = 1 // operational error: store unreachable, denied, corrupt record, …
	exitUsage     = 2 // bad command line (unknown command or flag, invalid URL or name)
	exitNoLeader  = 3 // status: no live leader; workers: none active; release: no lease record
	exitChanged   = 4 // release refused: the record changed since it was read (or differs from -version)
	exitDelegated = 5 // release refused: the plugin lease is delegated to the namespace lease
)

const usageText = `coordctl inspects and operates coord elections on any store.

Usage:
  coordctl <command> [flags]
  coordctl <command> -h      that command's flags only

Commands:
  status    the namespace lease (leader, epoch, lease age), workers and plugin leases
  workers   the active workers of the namespace, both modes
  watch     print leader changes (and expiries) until interrupted
  release   force a re-election: mark a lease released by If-Match on the version read,
            refusing if the record changes underneath; the holder's next renewal fails
            and it steps down, and a follower takes over within about one lease
  run       run a command on exactly one machine: while this process leads the job
  check     check that a store gives coord what it needs
  bucket    make the bucket of an s3://, minio:// or gs:// store URL
  version   print coordctl's module version and the Go version it was built with
  help      print this text
`

// commonFlags are the flags of status, workers, watch and release.
const commonFlags = `
Flags (status, workers, watch, release; they may also come before the command):
  -store URL           store URL (env COORD_STORE): mem://, bolt:///path/to.db,
                       s3://bucket/prefix?region=…&endpoint=…, minio://host:port/bucket/prefix?secure=false,
                       gs://bucket/prefix
                       Credentials come from the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
                       or AWS_PROFILE; MINIO_ACCESS_KEY/MINIO_SECRET_KEY; Google Application Default
                       Credentials) and are never printed.
  -root PREFIX         key prefix of the records (env COORD_ROOT; default plg_coordinator_global/)
  -namespace NAME      namespace (env COORD_NAMESPACE; default "default")
  -json                machine-readable output (watch: one JSON object per line)
  -timeout D           bound on each store operation (default 30s)
  -worker-timeout D    a worker whose record is older than this is not active (default 20s)
`

const watchFlags = `watch:
  -interval D          how often to read the lease (default 2s; each read is one LIST and
                       one GET per lease, billed like any request)
`

const releaseFlags = `release:
  -plugin NAME         release that plugin's lease instead of the namespace lease
  -version V           release only if the lease is still at version V (from "status -json":
                       leader.version); otherwise refuse with exit code 4
  -dry-run             show what would be released, write nothing
`

const exitText = `
Exit codes:
  0  done; for status: a leader holds the lease
  1  operational error (store unreachable, access denied, corrupt record, …)
  2  usage error (unknown command or flag, invalid store URL or name)
  3  status: no live leader (no lease record, released, or older than its lease on the
     store's clock); workers: no active worker; release: no lease record
  4  release refused: the record changed since it was read, or is not at -version
  5  release refused: the plugin lease is delegated to the namespace lease;
     release the namespace lease instead

A bolt file admits one process at a time: run coordctl on it only while no
coordinator process has it open (or use that process's status page).
`

// cli holds the process's I/O and the hooks tests replace.
type cli struct {
	stdout, stderr io.Writer
	cmd            string // the command being run, for its help text
	getenv         func(string) string
	// open opens a store URL. The returned close is called when the
	// command ends.
	open func(ctx context.Context, raw string) (driver.Store, func() error, error)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: os.Getenv, open: openURL}
	return c.run(ctx, args)
}

func openURL(ctx context.Context, raw string) (driver.Store, func() error, error) {
	s, err := storeurl.Open(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// options are the parsed flags.
type options struct {
	store, root, namespace string
	json                   bool
	timeout, workerTimeout time.Duration
	interval               time.Duration
	plugin, version        string
	dryRun                 bool
}

func (c *cli) flags(name string, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.store, "store", c.getenv("COORD_STORE"), "")
	fs.StringVar(&o.root, "root", c.getenv("COORD_ROOT"), "")
	fs.StringVar(&o.namespace, "namespace", c.getenv("COORD_NAMESPACE"), "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "")
	fs.DurationVar(&o.workerTimeout, "worker-timeout", coord.DefaultConfig().WorkerTimeout, "")
	return fs
}

func (c *cli) run(ctx context.Context, args []string) int {
	var o options
	global := c.flags("coordctl", &o)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage()
			return exitOK
		}
		return c.usage(err.Error())
	}
	args = global.Args()
	if len(args) == 0 {
		return c.usage("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		c.printUsage()
		return exitOK
	case "version":
		return c.version(rest)
	}
	c.cmd = cmd
	// Commands with flag sets and arguments of their own.
	switch cmd {
	case "run":
		return c.runCmd(ctx, o, rest)
	case "check":
		return c.checkCmd(ctx, o, rest)
	case "bucket":
		return c.bucketCmd(ctx, o, rest)
	}
	// The command's flag set shares the variables, so flags given before
	// the command stay (registering sets defaults: save and restore).
	saved := o
	fs := c.flags(cmd, &o)
	o = saved
	switch cmd {
	case "watch":
		fs.DurationVar(&o.interval, "interval", 2*time.Second, "")
	case "release":
		fs.StringVar(&o.plugin, "plugin", "", "")
		fs.StringVar(&o.version, "version", "", "")
		fs.BoolVar(&o.dryRun, "dry-run", false, "")
	case "status", "workers":
	default:
		return c.usage(fmt.Sprintf("unknown command %q", cmd))
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage()
			return exitOK
		}
		return c.usage(err.Error())
	}
	if fs.NArg() > 0 {
		return c.usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if o.root == "" {
		o.root = coord.DefaultConfig().Root
	}
	switch {
	case o.store == "":
		return c.usage("no store: give -store URL or set COORD_STORE")
	case !strings.HasSuffix(o.root, "/"):
		return c.usage(fmt.Sprintf("-root %q must end with /", o.root))
	case o.timeout <= 0 || o.workerTimeout <= 0 || (cmd == "watch" && o.interval <= 0):
		return c.usage("durations must be positive")
	}
	if err := coord.ValidateName("namespace", o.namespace); err != nil {
		return c.usage(err.Error())
	}
	if o.plugin != "" {
		if err := coord.ValidateName("plugin", o.plugin); err != nil {
			return c.usage(err.Error())
		}
	}

	store, closeStore, err := c.openStore(ctx, o)
	if err != nil {
		return c.openFailed(err)
	}
	defer closeStore()
	switch cmd {
	case "status":
		return c.status(ctx, store, o)
	case "workers":
		return c.workers(ctx, store, o)
	case "watch":
		return c.watch(ctx, store, o)
	default:
		return c.release(ctx, store, o)
	}
}

// storeArg takes the one optional argument of cmd, a store URL, into
// o.store; more arguments are a usage error (the exit code, false).
func (c *cli) storeArg(cmd string, fs *flag.FlagSet, o *options) (int, bool) {
	switch fs.NArg() {
	case 0:
	case 1:
		o.store = fs.Arg(0)
	default:
		return c.usage(fmt.Sprintf("%s: unexpected argument %q", cmd, fs.Arg(1))), false
	}
	return exitOK, true
}

// openStore opens o.store within o.timeout; the returned close reports a
// failure to close on stderr.
func (c *cli) openStore(ctx context.Context, o options) (driver.Store, func(), error) {
	openCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	store, closeStore, err := c.open(openCtx, o.store)
	if err != nil {
		return nil, nil, err
	}
	return store, func() {
		if err := closeStore(); err != nil {
			fmt.Fprintln(c.stderr, "coordctl: closing the store:", err)
		}
	}, nil
}

// openFailed is the exit of a command whose store did not open: a usage
// error for an invalid URL, else an operational one.
func (c *cli) openFailed(err error) int {
	if errors.Is(err, storeurl.ErrInvalid) {
		return c.usage(err.Error())
	}
	return c.fail(err)
}

// printUsage prints the help text of the command being run (c.cmd), or
// all of it: the commands first, then each command's flags.
func (c *cli) printUsage() {
	switch c.cmd {
	case "status", "workers":
		fmt.Fprintf(c.stdout, "Usage: coordctl %s [flags]\n%s%s", c.cmd, commonFlags, exitText)
	case "watch":
		fmt.Fprintf(c.stdout, "Usage: coordctl watch [flags]\n%s%s%s", commonFlags, watchFlags, exitText)
	case "release":
		fmt.Fprintf(c.stdout, "Usage: coordctl release [flags]\n%s%s%s", commonFlags, releaseFlags, exitText)
	case "run":
		fmt.Fprint(c.stdout, strings.TrimPrefix(runUsage, "\n"))
	case "check":
		fmt.Fprint(c.stdout, strings.TrimPrefix(checkUsage, "\n"))
	case "bucket":
		fmt.Fprint(c.stdout, strings.TrimPrefix(bucketUsage, "\n"))
	default:
		fmt.Fprint(c.stdout, usageText, commonFlags, watchFlags, releaseFlags, exitText, runUsage, checkUsage, bucketUsage)
	}
}

// configFlags are the flags of coordctl that set each coord.Config field,
// for coord's messages (which name the fields).
var configFlags = strings.NewReplacer("HeartbeatInterval", "-heartbeat", "HeartbeatJitter", "heartbeat jitter",
	"LeaseTimeout", "-lease", "RenewDeadline", "-renew-deadline", "WorkerTimeout", "-worker-timeout",
	"WorkerID", "-worker-id", "Root", "-root", ": coord: ", ": ")

func (c *cli) usage(msg string) int {
	if strings.Contains(msg, coord.ErrInvalidConfig.Error()+": ") {
		msg = configFlags.Replace(msg)
	}
	help := "coordctl help"
	if c.cmd != "" {
		help = "coordctl " + c.cmd + " -h"
	}
	fmt.Fprintf(c.stderr, "coordctl: %s\nRun '%s' for usage.\n", msg, help)
	return exitUsage
}

// version prints the module version (and VCS revision when the build
// recorded it) and the Go version of the binary.
func (c *cli) version(args []string) int {
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
		return c.usage(fmt.Sprintf("version: unexpected argument %q", args[0]))
	}
	v := "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				v += " " + s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				v += " (modified)"
			}
		}
	}
	fmt.Fprintf(c.stdout, "coordctl %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// fail reports an operational error: exit code 1.
func (c *cli) fail(err error) int {
	fmt.Fprintln(c.stderr, "coordctl:", err)
	if errors.Is(err, bolt.ErrLocked) {
		fmt.Fprintln(c.stderr, "coordctl: a bolt file admits one process at a time; stop the process that has it open, or use its status page")
	}
	if errors.Is(err, coord.ErrInvalidName) {
		return exitUsage
	}
	return exitError
}

func (c *cli) printJSON(v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // stdout gone: nothing left to tell
}

// readStatus reads the namespace from the store within o.timeout.
func readStatus(ctx context.Context, store driver.Store, o options) (coord.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return coord.ReadStatus(ctx, store, o.root, o.namespace, o.workerTimeout)
}
