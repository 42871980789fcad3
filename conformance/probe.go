package conformance

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
)

// Probe checks a live store in a bounded number of requests, under a
// scratch prefix it empties afterwards: the rules of the suite that a
// store's server decides (conditions, races, read-after-write, list order,
// server time), checked by the very code the suite runs, plus what only a
// live store can tell: the server's clock offset, the form of its
// versions, whether the server itself honours a conditional delete, and
// its latency, from which it recommends a coord configuration. It is
// coordctl check.

// Status is the verdict of one check.
type Status string

// Statuses, from best to worst.
const (
	// Pass: the store does what coord needs.
	Pass Status = "PASS"
	// Skip: not checked, with the reason (not needed by coord, or not
	// measurable through this driver).
	Skip Status = "SKIP"
	// Warn: a quirk coord copes with, said with what it means.
	Warn Status = "WARN"
	// Fail: the store breaks a rule coord relies on, or could not be
	// checked within its bounds.
	Fail Status = "FAIL"
)

// rank orders the statuses for a report's overall status: a skip counts
// as a pass there (it is counted apart).
func (s Status) rank() int {
	switch s {
	case Warn:
		return 1
	case Fail:
		return 2
	}
	return 0
}

// Finding is what one check found.
type Finding struct {
	// Check names the check: a rule of the suite ("Put/IfAbsent", the
	// name of its subtest) or a measurement ("Clock/Offset").
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Summary is one line: what the rule says, or what was measured.
	Summary string `json:"summary"`
	// Details are what the rule reported (its errors), or what the
	// measurement means for coord.
	Details []string      `json:"details,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// Latency summarises the samples of one kind of request: sequential
// requests, or the rounds of a race (from the writers' release until the
// last one has its answer).
type Latency struct {
	Op      string        `json:"op"` // "PUT (IfMatch)", "GET", "LIST", "Race/IfAbsent round"
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
}

// Recommendation is a coord configuration the measured latency supports.
type Recommendation struct {
	HeartbeatInterval time.Duration `json:"heartbeat_interval_ns"`
	LeaseTimeout      time.Duration `json:"lease_timeout_ns"`
	RenewDeadline     time.Duration `json:"renew_deadline_ns"`
	WorkerTimeout     time.Duration `json:"worker_timeout_ns"`
	// Rule says how the values were derived.
	Rule string `json:"rule"`
	// DefaultsOK reports whether coord's defaults (HeartbeatInterval 5s,
	// LeaseTimeout 15s, RenewDeadline 10s) satisfy the rule.
	DefaultsOK bool `json:"defaults_ok"`
}

// Report is the result of a Probe.
type Report struct {
	Store  string `json:"store"`  // Capabilities().Name
	Prefix string `json:"prefix"` // the scratch prefix
	// Status is the worst status of the findings: PASS, WARN or FAIL (a
	// SKIP counts as a PASS here).
	Status   Status    `json:"status"`
	Findings []Finding `json:"findings"`
	// Usable is false when the store could not be written at all (no
	// bucket, access denied, unreachable, no answer): nothing else was
	// checked.
	Usable bool `json:"usable"`
	// ClockOffset is the server's clock minus the local clock (median of
	// a few LISTs), known within ClockUncertainty.
	ClockOffset      time.Duration `json:"clock_offset_ns"`
	ClockUncertainty time.Duration `json:"clock_uncertainty_ns"`
	// Latency has the sequential requests' rows, then one row per race
	// rule for its rounds.
	Latency     []Latency      `json:"latency,omitempty"`
	Recommended Recommendation `json:"recommended"`
	// Requests are the requests the store counted during the probe
	// (zero when it does not count).
	Requests driver.Counts `json:"requests"`
	// Leftover is how many objects remained under Prefix after the probe
	// removed what it wrote (-1: the cleanup could not list).
	Leftover int           `json:"leftover"`
	Took     time.Duration `json:"took_ns"`
}

// ProbeOptions bound and shape a Probe. Zero values mean the defaults.
type ProbeOptions struct {
	// Prefix is the scratch prefix (required, ending with "/"). It should
	// be unique to this probe: everything under it is deleted at the end.
	Prefix string
	// RaceWidth is how many writers race in the race rules (default 16).
	RaceWidth int
	// RequestTimeout bounds every request (default 10s), even when the
	// driver ignores its context.
	RequestTimeout time.Duration
	// CheckTimeout bounds each check (default 60s). The whole probe is
	// bounded by ctx.
	CheckTimeout time.Duration
	// Samples is the number of sequential samples per request kind for
	// the latency (default 20).
	Samples int
	// RaceRounds is how many rounds each race rule runs, each on a fresh
	// key (default 3): the contended latency is their duration.
	RaceRounds int
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.RaceWidth <= 0 {
		o.RaceWidth = 16
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 60 * time.Second
	}
	if o.Samples <= 0 {
		o.Samples = 20
	}
	if o.RaceRounds <= 0 {
		o.RaceRounds = 3
	}
	return o
}

// Rule is a rule of the suite that Probe checks on a live store.
type Rule struct {
	// Name is the suite's subtest that checks the same rule.
	Name string
	// Doc says the rule in one line.
	Doc   string
	check func(*rules, T, driver.Store)
}

var probeRules = []Rule{
	{"Get/Missing", "a Get of a missing key is ErrNotFound", (*rules).testGetMissing},
	{"Put/None", "read-after-write: a Get after a Put sees it; new bytes get a new version", (*rules).testPutNone},
	{"Put/IfAbsent", "IfAbsent (If-None-Match: *) creates a missing key and fails on an existing one", (*rules).testPutIfAbsent},
	{"Put/IfMatch", "IfMatch fails on a stale, empty or made-up version and writes nothing", (*rules).testPutIfMatch},
	{"Put/IfMatchMissing", "IfMatch on a missing key fails and writes nothing", (*rules).testPutIfMatchMissing},
	{"Delete/None", "a Delete removes the key; deleting a missing key succeeds", (*rules).testDeleteNone},
	{"Delete/IfMatch", "a conditional delete is atomic, or refused (ErrUnsupported): never unconditional", (*rules).testDeleteIfMatch},
	{"Race/IfAbsent", "racing IfAbsent writes of one key: exactly one wins", (*rules).testRaceIfAbsent},
	{"Race/IfMatch", "racing IfMatch writes on one version: exactly one wins", (*rules).testRaceIfMatch},
	{"Race/DeleteIfMatch", "racing conditional deletes of one version: exactly one wins", (*rules).testRaceDeleteIfMatch},
	{"List/Entries", "a List shows every finished write, with its version, size and time", (*rules).testListEntries},
	{"List/ByteOrder", "a List is in byte order of key", (*rules).testListByteOrder},
	{"List/ServerTime", "a List carries the server's time, taken during the call", (*rules).testListServerTime},
}

// ProbeRules returns the suite's rules that Probe checks, in order.
func ProbeRules() []Rule { return slices.Clone(probeRules) }

// Probe checks st under opts.Prefix (see the top of this file) and
// returns what it found. It returns within ctx's deadline, plus at most
// one RequestTimeout for the cleanup, whatever the store does; a check
// cut short by a bound is a Fail. It never returns an error: a store that
// cannot be used is a report with Usable false.
func Probe(ctx context.Context, st driver.Store, opts ProbeOptions) (rep Report) {
	start := time.Now()
	opts = opts.withDefaults()
	caps := st.Capabilities()
	rep = Report{Store: caps.Name, Prefix: opts.Prefix, Leftover: -1}
	before, _ := driver.RequestsOf(st)
	bounded := func(s driver.Store) driver.Store { return deadline.New(s, nil, opts.RequestTimeout) }
	view := func(sub string) driver.Store { return driver.WithPrefix(bounded(st), opts.Prefix+sub) }
	p := &prober{ctx: ctx, opts: opts, rep: &rep}

	defer func() {
		// The cleanup gets one request timeout of its own beyond ctx, so
		// that a probe cut short still removes what it wrote.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(opts.RequestTimeout, 10*time.Second))
		defer cancel()
		cstart := time.Now()
		left, err := Empty(cctx, view(""), "")
		f := Finding{Check: "Cleanup/Leftover", Summary: "everything the check wrote under the scratch prefix is deleted", Took: time.Since(cstart)}
		switch {
		case err != nil:
			f.Status, f.Details = Fail, []string{fmt.Sprintf("removing %s: %v", opts.Prefix, err)}
		case left != 0:
			f.Status, f.Details = Fail, []string{fmt.Sprintf("%d objects left under %s", left, opts.Prefix)}
		default:
			f.Status = Pass
			rep.Leftover = 0
		}
		if err == nil {
			rep.Leftover = left
		}
		rep.add(f)
		after, _ := driver.RequestsOf(st)
		rep.Requests = after.Sub(before)
		rep.Took = time.Since(start)
	}()

	if !p.preflight(view("write/")) {
		return rep
	}
	rep.Usable = true
	p.clock(view("clock/"))
	skew := rep.ClockOffset.Abs() + rep.ClockUncertainty + 2*time.Second
	r := &rules{opts: Options{ConditionalDelete: caps.ConditionalDelete, MaxRead: caps.MaxRead, ClockSkew: skew}, raceWidth: opts.RaceWidth, raceRounds: opts.RaceRounds}
	for _, rule := range probeRules {
		p.rule(r, rule, view(strings.ToLower(rule.Name)+"/"))
	}
	var forced driver.Store
	if f, ok := driver.WithPrefix(st, opts.Prefix+"delete-at-server/").(driver.ConditionalDeleteForcer); ok {
		if fs := f.ForceConditionalDelete(); fs != nil {
			forced = bounded(fs)
		}
	}
	p.deleteAtServer(caps, forced)
	p.versionForm(view("version/"))
	p.latency(view("latency/"))
	return rep
}

func (rep *Report) add(f Finding) {
	rep.Findings = append(rep.Findings, f)
	if rep.Status == "" {
		rep.Status = Pass
	}
	if f.Status.rank() > rep.Status.rank() {
		rep.Status = f.Status
	}
}

// Failed returns the findings with status Fail.
func (rep Report) Failed() []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Status == Fail {
			out = append(out, f)
		}
	}
	return out
}

type prober struct {
	ctx  context.Context
	opts ProbeOptions
	rep  *Report
	// races are the rows of the race rules' rounds, for Latency.
	races []Latency
}

// run runs fn as one check, bounded by CheckTimeout and the probe's ctx,
// and returns what its recorder saw and whether it finished.
func (p *prober) run(fn func(t T)) (rec *recorder, finished bool, took time.Duration) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.CheckTimeout)
	defer cancel()
	rec = &recorder{ctx: ctx}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				rec.Errorf("panic: %v", v)
			}
		}()
		fn(rec)
	}()
	select {
	case <-done:
		return rec, true, time.Since(start)
	case <-ctx.Done():
		return rec, false, time.Since(start)
	}
}

// timedOut is the finding of a check cut short.
func (p *prober) timedOut(check, summary string, took time.Duration) Finding {
	why := fmt.Sprintf("timeout: not finished within %v", took.Round(time.Millisecond))
	if p.ctx.Err() != nil {
		why = fmt.Sprintf("timeout: the check's overall bound ran out after %v", took.Round(time.Millisecond))
	}
	return Finding{Check: check, Status: Fail, Summary: summary, Details: []string{why}, Took: took}
}

func (p *prober) rule(r *rules, rule Rule, st driver.Store) {
	if p.ctx.Err() != nil {
		p.rep.add(Finding{Check: rule.Name, Status: Fail, Summary: rule.Doc, Details: []string{"not run: the check's overall bound ran out"}})
		return
	}
	var mu sync.Mutex
	var rounds []time.Duration
	rr := *r
	rr.onRound = func(d time.Duration) {
		mu.Lock()
		rounds = append(rounds, d)
		mu.Unlock()
	}
	rec, finished, took := p.run(func(t T) { rule.check(&rr, t, st) })
	var f Finding
	if finished {
		f = rec.finding(rule.Name, rule.Doc, took)
	} else {
		f = p.timedOut(rule.Name, rule.Doc, took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rounds) > 0 {
		l := summarise(rule.Name+" round", rounds)
		p.races = append(p.races, l)
		f.Details = append(f.Details, fmt.Sprintf("%d rounds of %d writers: p50 %v, p99 %v per round", l.Samples, r.raceWidth, Round(l.P50), Round(l.P99)))
	}
	p.rep.add(f)
}

// preflight writes, reads and deletes one key: a store that cannot do
// that (no bucket, denied, unreachable, no answer) is not checked further.
func (p *prober) preflight(st driver.Store) bool {
	const summary = "the scratch prefix can be written, read and deleted"
	rec, finished, took := p.run(func(t T) {
		ctx := t.Context()
		if _, err := st.Put(ctx, "hello", []byte("coord check"), driver.IfAbsent()); err != nil {
			t.Fatalf("%v", err)
		}
		if _, err := st.Get(ctx, "hello"); err != nil {
			t.Fatalf("%v", err)
		}
		if err := st.Delete(ctx, "hello", driver.None); err != nil {
			t.Fatalf("%v", err)
		}
	})
	if !finished {
		p.rep.add(p.timedOut("Store/Write", summary, took))
		return false
	}
	f := rec.finding("Store/Write", summary, took)
	p.rep.add(f)
	return f.Status == Pass
}

// clock measures the server's clock against the local one with a few
// LISTs. An HTTP Date header has a resolution of one second (truncated),
// so a whole-second server time is taken as its middle.
func (p *prober) clock(st driver.Store) {
	const summary = "the server's clock, against the local clock"
	var offsets, rtts []time.Duration
	coarse := false
	rec, finished, took := p.run(func(t T) {
		for range 5 {
			start := time.Now()
			res, err := st.List(t.Context(), "")
			end := time.Now()
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if res.ServerTime.IsZero() {
				t.Fatalf("List returned no server time (no Date header?)")
			}
			server := res.ServerTime
			if server.Nanosecond() == 0 {
				coarse = true
				server = server.Add(500 * time.Millisecond)
			}
			mid := start.Add(end.Sub(start) / 2)
			offsets = append(offsets, server.Sub(mid))
			rtts = append(rtts, end.Sub(start))
		}
	})
	if !finished {
		p.rep.add(p.timedOut("Clock/Offset", summary, took))
		return
	}
	f := rec.finding("Clock/Offset", summary, took)
	if f.Status != Pass {
		p.rep.add(f)
		return
	}
	slices.Sort(offsets)
	off := offsets[len(offsets)/2]
	unc := slices.Max(rtts) / 2
	if coarse {
		unc += 500 * time.Millisecond
	}
	p.rep.ClockOffset, p.rep.ClockUncertainty = off, unc
	f.Summary = fmt.Sprintf("server clock offset %+v (± %v)", off.Round(time.Millisecond), p.rep.ClockUncertainty.Round(time.Millisecond))
	f.Details = []string{"coord never compares the server's clock with the local one: leases expire on each process's monotonic clock, and worker records are judged on the server's clock alone"}
	if off.Abs() > time.Minute {
		f.Status = Warn
		f.Details = append(f.Details, "an offset over a minute means a misconfigured clock: SigV4 refuses requests beyond 15 minutes of skew, and the times coordctl shows look off")
	}
	p.rep.add(f)
}

// deleteAtServer tells whether the server honours a conditional delete,
// through a store that sends one when the driver itself would refuse it.
func (p *prober) deleteAtServer(caps driver.Capabilities, forced driver.Store) {
	const check, summary = "Delete/AtServer", "whether the server honours If-Match on DELETE"
	switch {
	case caps.ConditionalDelete:
		p.rep.add(Finding{Check: check, Status: Pass, Summary: summary,
			Details: []string{"the driver sends conditional deletes; Delete/IfMatch and Race/DeleteIfMatch checked them"}})
		return
	case forced == nil:
		p.rep.add(Finding{Check: check, Status: Skip, Summary: summary,
			Details: []string{"not measured: the driver refuses conditional deletes without a request (ErrUnsupported); coord never needs one"}})
		return
	}
	var found Finding
	rec, finished, took := p.run(func(t T) {
		ctx := t.Context()
		v1 := put(t, forced, "k", []byte("one"), driver.None)
		v2 := put(t, forced, "k", []byte("two"), driver.None)
		derr := forced.Delete(ctx, "k", driver.IfMatch(v1))
		_, gerr := forced.Get(ctx, "k")
		deleted := errors.Is(gerr, driver.ErrNotFound)
		switch {
		case gerr != nil && !deleted:
			t.Fatalf("Get after a stale conditional delete: %v", gerr)
		case deleted && derr == nil:
			found = Finding{Status: Warn, Details: []string{
				"the server ignores If-Match on DELETE: a delete with a stale version deleted the object",
				"coord is safe: the driver refuses conditional deletes on this endpoint (ErrUnsupported) and coord never needs one (a lease is released by an If-Match PUT, never deleted); do not turn conditional delete on (conditional_delete=true) for this store",
			}}
			return
		case deleted:
			t.Fatalf("a stale conditional delete failed (%v) yet deleted the object", derr)
		case !errors.Is(derr, driver.ErrPrecondition):
			t.Fatalf("a stale conditional delete: %v, want a failed precondition", derr)
		}
		// Honoured for a stale version; and for a missing key?
		merr := forced.Delete(ctx, "missing", driver.IfMatch(v2))
		if merr == nil {
			found = Finding{Status: Warn, Details: []string{
				"the server honours If-Match on DELETE for a stale version, but a conditional delete of a missing key succeeds: a lost delete race cannot be told from a won one",
				"coord never needs a conditional delete; keep it off for this store (the driver's default on a custom endpoint)",
			}}
			return
		}
		if !errors.Is(merr, driver.ErrPrecondition) {
			t.Fatalf("a conditional delete of a missing key: %v, want a failed precondition", merr)
		}
		found = Finding{Status: Pass, Details: []string{"honoured, for a stale version and for a missing key: conditional_delete=true would be safe (coord does not need it)"}}
		if err := forced.Delete(ctx, "k", driver.IfMatch(v2)); err != nil {
			t.Errorf("a conditional delete of the current version: %v", err)
		}
	})
	if !finished {
		p.rep.add(p.timedOut(check, summary, took))
		return
	}
	f := rec.finding(check, summary, took)
	if f.Status == Pass {
		f.Status, f.Details = found.Status, found.Details
	}
	p.rep.add(f)
}

// versionForm tells what the store's versions are.
func (p *prober) versionForm(st driver.Store) {
	const check, summary = "Version/Form", "the form of the store's versions (S3: ETags)"
	var details []string
	status := Pass
	rec, finished, took := p.run(func(t T) {
		data := []byte("coord check: version form")
		v := put(t, st, "k", data, driver.None)
		sum := md5.Sum(data)
		switch {
		case strings.ContainsAny(v, `"`):
			status = Warn
			details = []string{fmt.Sprintf("version %s is quoted: the driver should strip an ETag's quotes", v)}
		case v == hex.EncodeToString(sum[:]):
			details = []string{"the MD5 of the content (single-part ETag): Options.VerifyETag (verify_etag=true) can detect torn reads on this store"}
		default:
			details = []string{fmt.Sprintf("opaque (%q): do not enable VerifyETag (verify_etag) for this store", v)}
		}
	})
	if !finished {
		p.rep.add(p.timedOut(check, summary, took))
		return
	}
	f := rec.finding(check, summary, took)
	if f.Status == Pass {
		f.Status, f.Details = status, details
	}
	p.rep.add(f)
}

// The configuration rule: the engine bounds every request by
// HeartbeatInterval, so that must be at least latencyFactor times the
// worst p99 measured, sequential or contended (a race round: leaders and
// candidates do write one key at once); the lease and the renew deadline keep the default
// proportions (3 and 2 heartbeats), so RenewDeadline >= 2 x
// latencyFactor x p99.
const latencyFactor = 10

func (p *prober) latency(st driver.Store) {
	const check = "Latency/Config"
	n := p.opts.Samples
	var put, get, list []time.Duration
	rec, finished, took := p.run(func(t T) {
		ctx := t.Context()
		v := ""
		for i := range n {
			cond := driver.IfAbsent()
			if i > 0 {
				cond = driver.IfMatch(v)
			}
			start := time.Now()
			nv, err := st.Put(ctx, "k", fmt.Appendf(nil, "sample %d", i), cond)
			put = append(put, time.Since(start))
			if err != nil {
				t.Fatalf("Put %s: %v", cond, err)
			}
			v = nv
		}
		for range n {
			start := time.Now()
			if _, err := st.Get(ctx, "k"); err != nil {
				t.Fatalf("Get: %v", err)
			}
			get = append(get, time.Since(start))
		}
		for range n {
			start := time.Now()
			if _, err := st.List(ctx, ""); err != nil {
				t.Fatalf("List: %v", err)
			}
			list = append(list, time.Since(start))
		}
	})
	summary := fmt.Sprintf("latency of %d sequential requests of each kind, and the coord configuration it supports", n)
	if !finished {
		p.rep.add(p.timedOut(check, summary, took))
		return
	}
	f := rec.finding(check, summary, took)
	if f.Status != Pass {
		p.rep.add(f)
		return
	}
	p.rep.Latency = append([]Latency{summarise("PUT (IfMatch)", put), summarise("GET", get), summarise("LIST", list)}, p.races...)
	worst := p.rep.Latency[0]
	for _, l := range p.rep.Latency {
		if l.P99 > worst.P99 {
			worst = l
		}
	}
	rec2 := recommend(worst)
	p.rep.Recommended = rec2
	f.Details = []string{rec2.Rule}
	for _, l := range p.rep.Latency {
		f.Details = append(f.Details, fmt.Sprintf("%s: p50 %v, p99 %v (max %v)", l.Op, Round(l.P50), Round(l.P99), Round(l.Max)))
	}
	f.Details = append(f.Details, fmt.Sprintf("recommended: HeartbeatInterval %v, LeaseTimeout %v, RenewDeadline %v, WorkerTimeout %v",
		rec2.HeartbeatInterval, rec2.LeaseTimeout, rec2.RenewDeadline, rec2.WorkerTimeout))
	if !rec2.DefaultsOK {
		f.Status = Warn
		f.Details = append(f.Details, "coord's defaults (HeartbeatInterval 5s) are too tight for this latency: use the recommended values")
	} else {
		f.Details = append(f.Details, "coord's defaults (HeartbeatInterval 5s, LeaseTimeout 15s, RenewDeadline 10s) satisfy the rule")
	}
	p.rep.add(f)
}

// recommend applies the configuration rule to the row with the worst p99.
func recommend(worst Latency) Recommendation {
	p99 := worst.P99
	hb := time.Duration(math.Ceil(float64(latencyFactor*p99)/float64(time.Second))) * time.Second
	hb = max(hb, time.Second)
	return Recommendation{
		HeartbeatInterval: hb,
		LeaseTimeout:      3 * hb,
		RenewDeadline:     2 * hb,
		WorkerTimeout:     max(4*hb, 20*time.Second),
		Rule: fmt.Sprintf("rule: HeartbeatInterval (every request's deadline) >= %d x the worst p99, sequential or contended (%v, %s), in whole seconds, at least 1s; LeaseTimeout = 3 x, RenewDeadline = 2 x HeartbeatInterval (so RenewDeadline >= %d x p99)",
			latencyFactor, Round(p99), worst.Op, 2*latencyFactor),
		DefaultsOK: latencyFactor*p99 <= 5*time.Second,
	}
}

// Round rounds a measured duration for display: to the millisecond from
// 10ms, to the microsecond from 10µs, else to 10ns (1.234s, 12ms, 3.21µs). Every figure of the report is shown
// through it.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Nanosecond)
}

// summarise gives the percentiles of samples (nearest rank: the p99 of
// fewer than 100 samples is their maximum).
func summarise(op string, samples []time.Duration) Latency {
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Latency{Op: op, Samples: len(s), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

// recorder is the T of a probe: it records what a rule reports.
type recorder struct {
	ctx     context.Context
	mu      sync.Mutex
	errs    []string
	skipped string
}

func (r *recorder) Helper()                  {}
func (r *recorder) Context() context.Context { return r.ctx }
func (r *recorder) Logf(string, ...any)      {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// maxDetails is how many of a rule's errors a finding keeps.
const maxDetails = 5

func (r *recorder) finding(check, summary string, took time.Duration) Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := Finding{Check: check, Status: Pass, Summary: summary, Took: took}
	switch {
	case len(r.errs) > 0:
		f.Status = Fail
		f.Details = slices.Clone(r.errs[:min(len(r.errs), maxDetails)])
		if n := len(r.errs) - maxDetails; n > 0 {
			f.Details = append(f.Details, fmt.Sprintf("… and %d more", n))
		}
	case r.skipped != "":
		f.Status = Skip
		f.Details = []string{r.skipped}
	}
	return f
}
