// Package scheduler runs named interval jobs on the leader only, at most
// once per slot across failovers, paused leaders and clock offsets.
//
// Time is cut into slots per job: slot n of a job with Interval i and
// Offset o starts at the Unix epoch + n*i + o, by the storage server's
// clock (List's ServerTime), so every leader numbers slots the same way
// whatever its own clock says; the local clock only paces the sleeps
// between slots. Register a *Scheduler with coord.Hub.Use: it implements
// plugin.Leader, and its Lead runs one loop per job until leadership ends.
//
// # Slot ownership
//
// Each job has one record, <prefix>jobs/<name>.json, holding the last slot
// claimed, the epoch that claimed it, and the last slot that finished. To
// run slot n a leader must first move that record from a slot below n to n
// by a conditional write (IfAbsent for the first run, IfMatch of the
// version it read otherwise), stamping its epoch. The claimed slot only
// ever grows, and exactly one conditional write can move it past n, so no
// slot can run twice: not after a failover, not by a leader that was
// paused past its lease and wakes up (its IfMatch fails because the
// version moved on, and once it re-reads, the newer epoch in the record
// makes it stop with plugin.ErrStaleEpoch). This high-water mark replaces
// one IfAbsent record per slot: it gives the same guarantee in one object
// per job, with no growing history to list or prune (pruning per-slot
// records without conditional delete would let a stale leader re-create
// an old slot).
//
// The argument needs the record to be read right, and writes whose
// outcome is unknown to be judged right:
//
//   - The record is sealed with a checksum (plugin/internal/sealed). A
//     damaged record is never read as an empty or older one: it is read
//     again, and if it stays damaged its slot counts as the server's
//     current slot plus one (no claim can be ahead of the server's clock)
//     and its epoch as unknown; the job skips those slots and replaces the
//     record by IfMatch.
//   - A claim whose write reports a failure (a timeout) may have been
//     applied. Every claim carries a random nonce; when the record is read
//     again and holds our nonce, the claim was ours and its slot runs
//     (nobody else can run it). A record without our nonce means the slot
//     is not ours, whether the write was lost or was applied and then
//     superseded, and the slot is not run.
//
// # What "once" means when a run crashes
//
// A slot is claimed before its job runs, so a job that crashes (or whose
// leader dies) mid-run is not run again for that slot: at most once per
// slot. Exactly once is not possible for side effects outside storage
// without the job's cooperation; running the slot again after a crash
// would need the job to be idempotent, and the old leader might still be
// running it when paused. The record keeps the last finished slot, so the
// next run sees Run.PreviousUnfinished and can repair or redo what the
// crashed run left (a job that is idempotent can simply redo it).
//
// Missed slots (no leader for a while, or a run longer than the interval)
// are skipped by default (Skip: the next run is the current slot); with
// CatchUp each missed slot runs in order, up to MaxCatchUp of them.
//
// # Cost
//
// Per slot and job: one LIST of the job's record (server time and the
// record's version), one PUT to claim and one PUT to record completion;
// the GET of the record happens only when another leader changed it. A
// job every minute costs 180 requests per hour; nothing is sent between
// slots.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/clock"
	"github.com/s3coord/coord/plugin/internal/nonce"
	"github.com/s3coord/coord/plugin/internal/sealed"
	"github.com/s3coord/coord/storage"
)

// MissedPolicy says what a leader does with slots that passed without a
// run.
type MissedPolicy int

const (
	// Skip runs only the current slot; missed ones are counted, not run.
	Skip MissedPolicy = iota
	// CatchUp runs missed slots one after another, oldest first, up to
	// Job.MaxCatchUp of them; older ones are skipped.
	CatchUp
)

// DefaultMaxCatchUp bounds CatchUp when Job.MaxCatchUp is 0.
const DefaultMaxCatchUp = 10

// Errors.
var (
	// ErrInvalidJob is returned by New for a job without a valid name, a
	// positive interval or a Run function, or a duplicate name.
	ErrInvalidJob = errors.New("scheduler: invalid job")
)

// Job is an interval job.
type Job struct {
	// Name identifies the job in storage; it must be a valid key segment
	// (no "/").
	Name string
	// Interval is the slot length; must be positive.
	Interval time.Duration
	// Offset shifts slot starts from the Unix epoch grid (an hourly job
	// with Offset 5m runs at :05).
	Offset time.Duration
	// Missed is the missed-slot policy (default Skip).
	Missed MissedPolicy
	// MaxCatchUp bounds CatchUp (default 10).
	MaxCatchUp int
	// Run is the job. Its ctx is cancelled when leadership ends; it must
	// return promptly then. An error is counted and recorded; the slot is
	// not retried.
	Run func(ctx context.Context, run Run) error
}

// Run describes one run of a job.
type Run struct {
	Job  string
	Slot int64
	// Scheduled is the slot's start by the server's clock.
	Scheduled time.Time
	Term      plugin.Term
	// PreviousUnfinished is true when the previously claimed slot never
	// recorded completion (its run crashed or its leader died), or when
	// that cannot be known (the job's record was found damaged).
	PreviousUnfinished bool
}

// Options tune a Scheduler. The zero value gives the defaults.
type Options struct {
	// RetryBackoff is the wait after a storage error before trying again
	// (default 1s, doubling up to 30s).
	RetryBackoff time.Duration
	// Clock paces the job loops (default: the time package). A Hub's
	// Config.Clock (or a virtual clock) can be passed as is
	// (plugin.Clock). Slots themselves are always numbered by the
	// server's clock.
	Clock plugin.Clock
	// Rand is the source of the random parts of ids and nonces (default
	// crypto/rand). Give a seeded reader (math/rand/v2.ChaCha8) only to
	// make a test or a simulation replay exactly.
	Rand io.Reader
	// CompletionTimeout bounds the write that records a slot's completion
	// after its leadership ended (the run did finish; the write is fenced
	// by IfMatch), so that Lead returns promptly whatever the store does
	// (default DefaultCompletionTimeout). The other requests end with the
	// leadership.
	CompletionTimeout time.Duration
}

// DefaultCompletionTimeout is the default Options.CompletionTimeout.
const DefaultCompletionTimeout = 10 * time.Second

// Stats are a Scheduler's counters since it was created.
type Stats struct {
	Runs       uint64 // runs started by this process
	Failed     uint64 // runs whose job returned an error
	Skipped    uint64 // missed slots not run (Skip policy, or beyond MaxCatchUp)
	CaughtUp   uint64 // runs of missed slots (CatchUp)
	Unfinished uint64 // claimed slots found without a recorded completion
	Lost       uint64 // claims lost to another writer of the record
	Stale      uint64 // job loops stopped because a newer epoch owns the job
	Errors     uint64 // storage errors
	// Recovered counts claims whose write reported a failure but had been
	// applied (recognised by their nonce), run after all.
	Recovered uint64
	// Corrupt counts records that stayed unreadable over three reads (a
	// damaged object): the job then skips the current slot and the next.
	Corrupt uint64
}

// JobStatus is a job's record as stored.
type JobStatus struct {
	Job       string    `json:"job"`
	Slot      int64     `json:"slot"`     // last slot claimed
	Finished  int64     `json:"finished"` // last slot that recorded completion
	Epoch     uint64    `json:"epoch"`    // epoch of the last claim
	Leader    string    `json:"leader"`
	Scheduled time.Time `json:"scheduled"` // start of Slot
	Error     string    `json:"error,omitempty"`
	Nonce     string    `json:"nonce"`
}

// Scheduler runs jobs while it leads. It is safe for concurrent use.
type Scheduler struct {
	store  *storage.Bucket
	prefix string
	jobs   []Job
	opts   Options
	rand   *nonce.Source

	runs, failed, skipped, caughtUp, unfinished, lost, stale, failures, recovered, corrupt atomic.Uint64
}

var _ plugin.Leader = (*Scheduler)(nil)

// New returns a scheduler of jobs keeping its records under prefix, which
// must be a valid driver prefix ending in "/". store is a driver or an
// application's *storage.Bucket; the scheduler reaches it through a
// storage.Bucket of its own, without a deadline of its own: a request
// ends with the context it is made with, even when the driver ignores
// that context.
func New(store driver.Store, prefix string, jobs []Job, opts Options) (*Scheduler, error) {
	if err := driver.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if prefix == "" || prefix[len(prefix)-1] != '/' {
		return nil, fmt.Errorf("scheduler: prefix %q must end with /: %w", prefix, driver.ErrInvalidKey)
	}
	seen := map[string]bool{}
	for i, j := range jobs {
		switch {
		case j.Name == "" || seen[j.Name] || driver.ValidateKey(prefix+"jobs/"+j.Name+".json") != nil ||
			containsSlash(j.Name):
			return nil, fmt.Errorf("%w: bad or duplicate name %q", ErrInvalidJob, j.Name)
		case j.Interval <= 0:
			return nil, fmt.Errorf("%w %q: interval must be positive", ErrInvalidJob, j.Name)
		case j.Run == nil:
			return nil, fmt.Errorf("%w %q: no Run function", ErrInvalidJob, j.Name)
		}
		seen[j.Name] = true
		if j.MaxCatchUp <= 0 {
			jobs[i].MaxCatchUp = DefaultMaxCatchUp
		}
	}
	opts.Clock = clock.Of(opts.Clock)
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.CompletionTimeout <= 0 {
		opts.CompletionTimeout = DefaultCompletionTimeout
	}
	return &Scheduler{store: storage.New(store, storage.Options{}), prefix: prefix, jobs: append([]Job(nil), jobs...), opts: opts, rand: nonce.New(opts.Rand)}, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func (s *Scheduler) recordKey(job string) string { return s.prefix + "jobs/" + job + ".json" }

// slotAt is the slot containing t; slotStart its inverse.
func slotAt(j Job, t time.Time) int64 {
	d := t.Add(-j.Offset).UnixNano()
	n := d / int64(j.Interval)
	if d < 0 && d%int64(j.Interval) != 0 {
		n--
	}
	return n
}

func slotStart(j Job, n int64) time.Time {
	return time.Unix(0, n*int64(j.Interval)).Add(j.Offset)
}

// Lead implements plugin.Leader: it runs every job's slots until ctx is
// cancelled. It returns an error for which errors.Is(err,
// plugin.ErrStaleEpoch) holds when every job found a newer epoch in its
// record (this process is a stale leader).
func (s *Scheduler) Lead(ctx context.Context, term plugin.Term) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.jobs))
	for i, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.loop(ctx, term, j)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// jobState is what a job loop knows of its record.
type jobState struct {
	rec     JobStatus
	version string // "" when the record does not exist; "?" to force a read
	// assumed is true when rec is not what the record says but a safe
	// stand-in for a damaged record (see readDamaged).
	assumed bool
	// inDoubt is a claim this loop sent whose outcome it does not know (a
	// timeout: the write may have been applied). If the record turns out
	// to hold it (same nonce), the slot is ours and runs; otherwise the
	// claim did not land, or landed and was superseded by a later slot,
	// and its slot is never run.
	inDoubt *pendingClaim
}

// pendingClaim is a claim whose write reported a failure.
type pendingClaim struct {
	rec        JobStatus
	unfinished bool // the slot before it had not finished
}

// forget drops what the loop knows of the record, so that the next step
// reads it, but keeps a claim in doubt.
func (c *jobState) forget() { *c = jobState{version: "?", inDoubt: c.inDoubt} }

func (s *Scheduler) loop(ctx context.Context, term plugin.Term, j Job) error {
	var cache jobState
	backoff := s.opts.RetryBackoff
	for ctx.Err() == nil {
		wait, err := s.step(ctx, term, j, &cache)
		switch {
		case errors.Is(err, plugin.ErrStaleEpoch):
			s.stale.Add(1)
			return err
		case err != nil && ctx.Err() == nil:
			s.failures.Add(1)
			cache.forget() // re-read after an error
			wait = backoff
			backoff = min(2*backoff, 30*time.Second)
		case err == nil:
			backoff = s.opts.RetryBackoff
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-s.opts.Clock.After(wait):
			}
		}
	}
	return nil
}

// step claims and runs at most one slot. It returns how long to wait
// before the next step.
func (s *Scheduler) step(ctx context.Context, term plugin.Term, j Job, cache *jobState) (time.Duration, error) {
	key := s.recordKey(j.Name)
	res, err := s.store.List(ctx, key)
	if err != nil {
		return 0, err
	}
	now, listed := res.ServerTime, s.opts.Clock.Now()
	version := ""
	for _, e := range res.Entries {
		if e.Key == key {
			version = e.Version
		}
	}
	if version != cache.version {
		st, err := s.read(ctx, key)
		switch {
		case errors.Is(err, sealed.ErrCorrupt):
			if st, err = s.readDamaged(ctx, j, key, st.version); err != nil || st.version == "?" {
				return 0, err // the record changed meanwhile: look again
			}
		case err != nil:
			return 0, err
		}
		st.inDoubt = cache.inDoubt
		*cache = st
	}
	if d := cache.inDoubt; d != nil && !cache.assumed {
		cache.inDoubt = nil
		if cache.version != "" && cache.rec.Nonce == d.rec.Nonce {
			// Our claim was applied although its write reported a
			// failure: the slot is ours, and nobody else can run it
			// (anyone else's claim would have replaced this record).
			s.recovered.Add(1)
			if err := s.run(ctx, term, j, cache, d.rec, cache.version, d.unfinished); err != nil {
				return 0, err
			}
			return 0, nil // look again: more may be due
		}
	}
	if cache.version != "" && !cache.assumed {
		if err := plugin.CheckEpoch(cache.rec.Epoch, term.Epoch); err != nil {
			return 0, fmt.Errorf("scheduler job %q: %w", j.Name, err)
		}
	}
	cur := slotAt(j, now)
	target := cur
	prev := cache.rec
	if cache.version != "" {
		if prev.Slot >= cur {
			// Nothing due: sleep until the next slot starts (by the
			// server's clock as last seen; a little late rather than early).
			return slotStart(j, prev.Slot+1).Sub(now) + time.Millisecond, nil
		}
		missed := cur - prev.Slot - 1
		if j.Missed == CatchUp && missed > 0 {
			target = max(prev.Slot+1, cur-int64(j.MaxCatchUp))
			s.skipped.Add(uint64(target - prev.Slot - 1))
		} else {
			s.skipped.Add(uint64(missed))
		}
	}
	unfinished := cache.version != "" && prev.Finished < prev.Slot
	if unfinished {
		s.unfinished.Add(1)
	}
	claim := JobStatus{
		Job: j.Name, Slot: target, Finished: prev.Finished, Epoch: term.Epoch, Leader: term.Leader,
		Scheduled: slotStart(j, target), Error: prev.Error, Nonce: s.rand.Hex(),
	}
	if cache.version == "" {
		claim.Finished = target - 1
	}
	cond := driver.IfAbsent()
	if cache.version != "" {
		cond = driver.IfMatch(cache.version)
	}
	v, err := s.write(ctx, key, claim, cond)
	if errors.Is(err, driver.ErrPrecondition) {
		s.lost.Add(1)
		cache.forget() // someone else wrote: re-read
		return 0, nil
	}
	if err != nil {
		// The claim may have been applied (a timeout hides the outcome):
		// the next read tells. It must not be judged as somebody else's
		// claim, nor as no claim.
		cache.inDoubt = &pendingClaim{rec: claim, unfinished: unfinished}
		return 0, err
	}
	if target < cur {
		s.caughtUp.Add(1)
	}
	if err := s.run(ctx, term, j, cache, claim, v, unfinished); err != nil {
		return 0, err
	}
	if target < cur {
		return 0, nil // more missed slots to catch up
	}
	// Sleep until the next slot by the server's clock as seen at the List,
	// advanced by the local time spent since (no LIST just to learn that
	// nothing is due).
	return max(0, slotStart(j, target+1).Sub(now)-s.opts.Clock.Now().Sub(listed)+time.Millisecond), nil
}

// run runs the slot of claim, which this loop holds at version v, and
// records its completion.
func (s *Scheduler) run(ctx context.Context, term plugin.Term, j Job, cache *jobState, claim JobStatus, v string, unfinished bool) error {
	key := s.recordKey(j.Name)
	*cache = jobState{rec: claim, version: v}
	target := claim.Slot

	// The slot is ours, and ours only. Run it.
	s.runs.Add(1)
	runErr := j.Run(ctx, Run{Job: j.Name, Slot: target, Scheduled: claim.Scheduled, Term: term, PreviousUnfinished: unfinished})
	done := claim
	done.Finished, done.Error, done.Nonce = target, "", s.rand.Hex()
	if runErr != nil {
		s.failed.Add(1)
		done.Error = runErr.Error()
	}
	// Record completion even if leadership just ended: the run did finish.
	// Bounded, so that Lead returns promptly after the leadership.
	wctx, cancel := deadline.WithTimeout(context.WithoutCancel(ctx), s.opts.Clock, s.opts.CompletionTimeout)
	v, err := s.write(wctx, key, done, driver.IfMatch(v))
	cancel()
	switch {
	case err == nil:
		*cache = jobState{rec: done, version: v}
	case errors.Is(err, driver.ErrPrecondition):
		s.lost.Add(1)
		cache.forget()
	default:
		return err
	}
	return nil
}

// read reads the job's record. A record that does not decode as an intact
// sealed record gives an error for which errors.Is(err, sealed.ErrCorrupt)
// holds, with the version that was read.
func (s *Scheduler) read(ctx context.Context, key string) (jobState, error) {
	obj, err := s.store.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return jobState{}, nil
	}
	if err != nil {
		return jobState{}, err
	}
	var rec JobStatus
	if err := sealed.Open(obj.Data, &rec); err != nil {
		return jobState{version: obj.Version}, fmt.Errorf("scheduler record %q: %w", key, err)
	}
	return jobState{rec: rec, version: obj.Version}, nil
}

// readDamaged is called when the record at version read as damaged. A
// damaged record must never count as empty: its slot could be the current
// one, already run, and its epoch a newer leader's. The record is read
// again (a damaged response is often a one-off). If it stays damaged, its
// content is unknown but bounded: every claim is written after the List
// that chose its slot, so no record can hold a slot beyond the server
// clock's current one. readDamaged lists again (the server's time now,
// after the damaged read) and, if the record still has that version,
// returns a stand-in whose slot is the current one plus one (the extra
// slot covers servers whose clocks disagree by less than an interval):
// the job then skips those slots and claims the next one by IfMatch of
// the damaged version, which replaces it. It returns version "?" when the
// record changed meanwhile.
func (s *Scheduler) readDamaged(ctx context.Context, j Job, key, version string) (jobState, error) {
	for range 2 {
		st, err := s.read(ctx, key)
		if !errors.Is(err, sealed.ErrCorrupt) {
			return st, err
		}
		version = st.version
	}
	s.corrupt.Add(1)
	res, err := s.store.List(ctx, key)
	if err != nil {
		return jobState{}, err
	}
	for _, e := range res.Entries {
		if e.Key == key && e.Version == version {
			floor := slotAt(j, res.ServerTime) + 1
			return jobState{
				rec:     JobStatus{Job: j.Name, Slot: floor, Finished: floor - 1, Scheduled: slotStart(j, floor)},
				version: version, assumed: true,
			}, nil
		}
	}
	return jobState{version: "?"}, nil
}

func (s *Scheduler) write(ctx context.Context, key string, rec JobStatus, cond driver.Condition) (string, error) {
	data, err := sealed.Seal(rec)
	if err != nil {
		return "", err
	}
	return s.store.Put(ctx, key, data, cond)
}

// Status returns each job's stored record (a zero Slot and Epoch for a job
// that never ran).
func (s *Scheduler) Status(ctx context.Context) ([]JobStatus, error) {
	out := make([]JobStatus, 0, len(s.jobs))
	for _, j := range s.jobs {
		st, err := s.read(ctx, s.recordKey(j.Name))
		if err != nil {
			return nil, err
		}
		st.rec.Job = j.Name
		out = append(out, st.rec)
	}
	return out, nil
}

// Stats returns the Scheduler's counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Runs: s.runs.Load(), Failed: s.failed.Load(), Skipped: s.skipped.Load(), CaughtUp: s.caughtUp.Load(),
		Unfinished: s.unfinished.Load(), Lost: s.lost.Load(), Stale: s.stale.Load(), Errors: s.failures.Load(),
		Recovered: s.recovered.Load(), Corrupt: s.corrupt.Load(),
	}
}
