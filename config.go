package coord

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
)

// Mode is how a plugin is coordinated.
type Mode string

// Modes.
const (
	// Global: one Coordinator per namespace per Hub, shared by every
	// plugin of that namespace: one loop, one lease, one worker record.
	Global Mode = "global"
	// PerPlugin: each plugin has its own Coordinator, lease and worker
	// records (N times the requests of Global).
	PerPlugin Mode = "per-plugin"
)

// realClock is the default Config.Clock.
var realClock = clock.Real

// Defaults (the migration guide's values; DefaultConfig returns them).
const (
	defaultHeartbeatInterval = 5 * time.Second
	defaultHeartbeatJitter   = 1 * time.Second
	defaultLeaseTimeout      = 15 * time.Second
	defaultWorkerTimeout     = 20 * time.Second
	defaultRoot              = "plg_coordinator_global/"
)

// Config configures a Hub. The zero value of every field means its
// default, so Config{} is valid.
type Config struct {
	// HeartbeatInterval is the time between two heartbeats (a renewal by
	// the leader, a read by followers). Default 5s. Smaller: faster
	// failover, more requests (one per interval per election).
	HeartbeatInterval time.Duration
	// HeartbeatJitter spreads heartbeats: the leader waits interval plus
	// a uniform [0, jitter), followers plus [0, jitter/2) and then
	// another [0, jitter/2) before a takeover write, so that followers do
	// not all write at once. A crashed leader is thus replaced within
	// LeaseTimeout + HeartbeatInterval + HeartbeatJitter, a stopped one
	// within HeartbeatInterval + HeartbeatJitter (plus request latency).
	// Default 1s, or HeartbeatInterval/5 when that is smaller (so the
	// guide's development settings, 1s interval and 3s lease, are valid).
	HeartbeatJitter time.Duration
	// LeaseTimeout is how long a follower waits, on its own clock, after
	// it first saw the current version of a lease before it may take the
	// lease over. Default 15s.
	LeaseTimeout time.Duration
	// RenewDeadline is how long after the start of its last successful
	// renewal a leader keeps leading; it must be below LeaseTimeout, and
	// the difference is the margin for clock rate differences and
	// scheduling. Default 2/3 of LeaseTimeout.
	RenewDeadline time.Duration
	// WorkerTimeout: a worker whose record is older than this (by the
	// server's clock) is not active. A follower writes its record as
	// seldom as one failed write allows (13 s at defaults, never more
	// often than WorkerTimeout/3); a leader writes none while it leads:
	// its lease is its record. Default 20s.
	WorkerTimeout time.Duration
	// DisableMembership turns off worker records (no worker-record PUTs,
	// no cleanup LIST); ActiveWorkers then returns an empty list.
	DisableMembership bool
	// SkipStoreCheck skips the check a Hub makes, once, before it leads
	// anything: that the store honours conditional writes (CheckStore:
	// 5 PUTs and 1 DELETE on a scratch key under Root). Set it only for a
	// store you have proven (coordctl check): on a store that ignores
	// conditions several processes lead at once, with equal epochs, so
	// that fencing by epoch cannot tell them apart. A store seen breaking
	// a rule while running still makes every leader step down.
	SkipStoreCheck bool
	// Diagnostics logs the migration guide's lines (service started,
	// leader changed, plugin subscribed, heartbeat cycle executed) at Info
	// level; otherwise at Debug.
	Diagnostics bool
	// Root is the key prefix of every record. It must end with "/".
	// Default "plg_coordinator_global/".
	Root string
	// WorkerID identifies this process (a pod name, say); two live
	// processes must never share one. Default gcs-<namespace>-<unix
	// ms>-<random>, one per namespace.
	WorkerID string
	// WorkerMeta is written in this process's worker records (version,
	// mode, host, say), so that operators see which workers run what
	// (Status, ReadStatus, coordctl workers, the status page; one GET per
	// active worker there, never in the election). At most 16 entries,
	// keys valid names, values valid UTF-8, 1 KiB in all.
	WorkerMeta map[string]string
	// Clock is the engine's source of time: coord's one clock interface
	// (package clock). Default clock.Real, the time package (under
	// testing/synctest it runs on the bubble's virtual time). The engine
	// only ever subtracts two Now() values of one Clock (monotonic
	// readings), so an offset between the clocks of two hosts cannot
	// matter; only a difference of rate can, and the margin LeaseTimeout -
	// RenewDeadline covers it.
	Clock clock.Clock
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// RandSeed seeds the jitter, the default worker ids and the record
	// incarnations; 0 means a random seed. Processes sharing a store must
	// use different seeds (or WorkerIDs): a simulation gives each process
	// its own seed, and a run with the same seeds and clock replays.
	RandSeed uint64
}

// DefaultConfig returns the defaults, every field filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = defaultHeartbeatInterval
	}
	if c.HeartbeatJitter == 0 {
		c.HeartbeatJitter = min(defaultHeartbeatJitter, c.HeartbeatInterval/5)
	}
	if c.LeaseTimeout == 0 {
		c.LeaseTimeout = defaultLeaseTimeout
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = c.LeaseTimeout * 2 / 3
	}
	if c.WorkerTimeout == 0 {
		c.WorkerTimeout = defaultWorkerTimeout
	}
	if c.Root == "" {
		c.Root = defaultRoot
	}
	if c.Clock == nil {
		c.Clock = realClock
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first broken rule, after applying defaults. The
// error is a *ConfigError naming the field and the rule, and satisfies
// errors.Is(err, ErrInvalidConfig).
func (c Config) Validate() error {
	if err := c.withDefaults().validateTimings(c); err != nil {
		return err
	}
	return c.withDefaults().validateNames()
}

func badConfig(field, rule string, args ...any) error {
	return &ConfigError{Field: field, Rule: fmt.Sprintf(rule, args...)}
}

// badName reports a field holding a bad name: the *nameError's message
// without its own "coord: " prefix, and the *nameError as the cause.
func badName(field string, err error) error {
	var ne *nameError
	if !errors.As(err, &ne) {
		return badConfig(field, "%v", err)
	}
	return &ConfigError{Field: field, Rule: strings.TrimPrefix(ne.Error(), "coord: "), err: ne}
}

// validateTimings checks the durations and how they relate (defaults
// applied); given is the Config as the user set it, so that a message
// names the fields set and says which values are defaults. Values are
// shown rounded to the millisecond.
func (c Config) validateTimings(given Config) error {
	bad := badConfig
	// v shows a timing: its value, and how it was derived when not set.
	v := func(d, set time.Duration, derived string) string {
		s := d.Round(time.Millisecond).String()
		if set == 0 {
			s += " (" + derived + ")"
		}
		return s
	}
	hi := v(c.HeartbeatInterval, given.HeartbeatInterval, "default")
	jitter := v(c.HeartbeatJitter, given.HeartbeatJitter, "default")
	lease := v(c.LeaseTimeout, given.LeaseTimeout, "default")
	rd := v(c.RenewDeadline, given.RenewDeadline, "2/3 of LeaseTimeout "+c.LeaseTimeout.Round(time.Millisecond).String())
	switch {
	case c.HeartbeatInterval < 0:
		return bad("HeartbeatInterval", "must be positive (%s)", hi)
	case c.HeartbeatJitter < 0:
		return bad("HeartbeatJitter", "must not be negative (%s)", jitter)
	case c.LeaseTimeout < 0:
		return bad("LeaseTimeout", "must be positive (%s)", lease)
	case c.RenewDeadline < 0:
		return bad("RenewDeadline", "must be positive (%s)", rd)
	case c.WorkerTimeout < 0:
		return bad("WorkerTimeout", "must be positive (%v)", c.WorkerTimeout.Round(time.Millisecond))
	case c.RenewDeadline >= c.LeaseTimeout:
		return bad("RenewDeadline", "must be less than LeaseTimeout (%s >= %s)", rd, lease)
	case c.HeartbeatInterval+c.HeartbeatJitter >= c.RenewDeadline:
		fix := "shorten HeartbeatInterval or lengthen LeaseTimeout"
		if given.RenewDeadline != 0 {
			fix = "shorten HeartbeatInterval or lengthen RenewDeadline"
		}
		return bad("HeartbeatInterval", "HeartbeatInterval + HeartbeatJitter must be less than RenewDeadline: HeartbeatInterval %s + HeartbeatJitter %s >= RenewDeadline %s; %s",
			hi, jitter, rd, fix)
	case c.WorkerTimeout < 2*c.HeartbeatInterval:
		return bad("WorkerTimeout", "must be at least 2 × HeartbeatInterval: WorkerTimeout %s < 2 × HeartbeatInterval %s",
			v(c.WorkerTimeout, given.WorkerTimeout, "default"), hi)
	case c.LeaseTimeout > maxLease:
		return bad("LeaseTimeout", "must be at most %v (%s)", maxLease, lease)
	}
	return nil
}

// validateNames checks Root, WorkerID and WorkerMeta.
func (c Config) validateNames() error {
	bad := badConfig
	if !strings.HasSuffix(c.Root, "/") {
		return bad("Root", "must end with '/'")
	}
	if err := driver.ValidatePrefix(c.Root); err != nil {
		return bad("Root", "%v", err)
	}
	if len(c.Root) > 512 {
		return bad("Root", "must be at most 512 bytes")
	}
	if c.WorkerID != "" {
		if err := ValidateName("worker id", c.WorkerID); err != nil {
			return badName("WorkerID", err)
		}
	}
	size := 0
	for k, v := range c.WorkerMeta {
		if err := ValidateName("meta key", k); err != nil {
			return badName("WorkerMeta", err)
		}
		if !utf8.ValidString(v) {
			return bad("WorkerMeta", "the value of %q is not valid UTF-8", k)
		}
		size += len(k) + len(v)
	}
	if len(c.WorkerMeta) > 16 || size > 1024 {
		return bad("WorkerMeta", "at most 16 entries and 1 KiB (%d entries, %d bytes)", len(c.WorkerMeta), size)
	}
	return nil
}

// maxLease caps lease durations, in the config and in records read from
// the store (a record with a larger one is corrupt).
const maxLease = time.Hour
