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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
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
	// recorded completion (its run crashed or its leader died).
	PreviousUnfinished bool
}

// Options tune a Scheduler. The zero value gives the defaults.
type Options struct {
	// RetryBackoff is the wait after a storage error before trying again
	// (default 1s, doubling up to 30s).
	RetryBackoff time.Duration
}

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
	store  driver.Store
	prefix string
	jobs   []Job
	opts   Options

	runs, failed, skipped, caughtUp, unfinished, lost, stale, failures atomic.Uint64
}

var _ plugin.Leader = (*Scheduler)(nil)

// New returns a scheduler of jobs keeping its records under prefix, which
// must be a valid driver prefix ending in "/".
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
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	return &Scheduler{store: store, prefix: prefix, jobs: append([]Job(nil), jobs...), opts: opts}, nil
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
	version string // "" when the record does not exist
}

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
			cache = jobState{} // re-read after an error
			wait = backoff
			backoff = min(2*backoff, 30*time.Second)
		case err == nil:
			backoff = s.opts.RetryBackoff
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
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
	now, listed := res.ServerTime, time.Now()
	version := ""
	for _, e := range res.Entries {
		if e.Key == key {
			version = e.Version
		}
	}
	if version != cache.version {
		if *cache, err = s.read(ctx, key); err != nil {
			return 0, err
		}
	}
	if cache.version != "" {
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
		Scheduled: slotStart(j, target), Error: prev.Error, Nonce: nonce(),
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
		*cache = jobState{version: "?"} // someone else wrote: re-read
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	*cache = jobState{rec: claim, version: v}

	// The slot is ours, and ours only. Run it.
	s.runs.Add(1)
	if target < cur {
		s.caughtUp.Add(1)
	}
	runErr := j.Run(ctx, Run{Job: j.Name, Slot: target, Scheduled: claim.Scheduled, Term: term, PreviousUnfinished: unfinished})
	done := claim
	done.Finished, done.Error, done.Nonce = target, "", nonce()
	if runErr != nil {
		s.failed.Add(1)
		done.Error = runErr.Error()
	}
	// Record completion even if leadership just ended: the run did finish.
	v, err = s.write(context.WithoutCancel(ctx), key, done, driver.IfMatch(v))
	switch {
	case err == nil:
		*cache = jobState{rec: done, version: v}
	case errors.Is(err, driver.ErrPrecondition):
		s.lost.Add(1)
		*cache = jobState{version: "?"}
	default:
		return 0, err
	}
	if target < cur {
		return 0, nil // more missed slots to catch up
	}
	// Sleep until the next slot by the server's clock as seen at the List,
	// advanced by the local time spent since (no LIST just to learn that
	// nothing is due).
	return max(0, slotStart(j, target+1).Sub(now)-time.Since(listed)+time.Millisecond), nil
}

func (s *Scheduler) read(ctx context.Context, key string) (jobState, error) {
	obj, err := s.store.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return jobState{}, nil
	}
	if err != nil {
		return jobState{}, err
	}
	var rec JobStatus
	if err := json.Unmarshal(obj.Data, &rec); err != nil {
		// A corrupt record is replaced by IfMatch as if it were empty:
		// its slot and epoch count as 0.
		return jobState{version: obj.Version}, nil
	}
	return jobState{rec: rec, version: obj.Version}, nil
}

func (s *Scheduler) write(ctx context.Context, key string, rec JobStatus, cond driver.Condition) (string, error) {
	data, err := json.Marshal(rec)
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
	}
}

func nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
