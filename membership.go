package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3coord/coord/driver"
)

// Worker is one process taking part in an election, as its worker record
// says.
type Worker struct {
	ID string
	// LastSeen is the server's modification time of the record.
	LastSeen time.Time
	// Age is the server's time of the listing minus LastSeen: both on the
	// server's clock.
	Age time.Duration
	// Mode, Started and Meta (Config.WorkerMeta) come from the record's
	// body: filled by Status and ReadStatus (one GET per active worker),
	// empty from ActiveWorkers (one LIST).
	Mode    Mode
	Started time.Time
	Meta    map[string]string
}

// maxWorkerDetails bounds the worker records an operator view reads.
const maxWorkerDetails = 100

// readWorkerDetails fills Mode, Started and Meta of ws from their records
// under prefix (one GET each, at most maxWorkerDetails; a record that
// cannot be read keeps them empty).
func readWorkerDetails(ctx context.Context, store driver.Store, prefix string, ws []Worker) {
	for i := range ws[:min(len(ws), maxWorkerDetails)] {
		obj, err := store.Get(ctx, prefix+ws[i].ID+".json")
		if err != nil {
			continue
		}
		if r, err := decodeWorker(obj.Data); err == nil && r.ID == ws[i].ID {
			ws[i].Mode, ws[i].Started, ws[i].Meta = Mode(r.Mode), r.Started, r.Meta
		}
	}
}

// staleAfter is how old (server time) a worker record must be before the
// leader deletes it, in WorkerTimeouts.
const staleAfter = 3

// countEvery is how long after its last count the leader counts the
// worker records again (and it counts at its second renewal after each
// election, see askCleanup). It counts with its read-back (see leaseKeeper.readBack): the
// first renewal due at or after that time reads its record back with one
// LIST of the directory that holds the record and the worker records,
// instead of the GET, counts the active workers, writes the count in that
// very renewal (followers read it there, with the lease they read
// anyway) and deletes stale records. A change of the active workers is
// counted within countEvery + HeartbeatInterval + HeartbeatJitter (the
// renewal due then may start that much later), written by the renewal
// that follows the LIST, and read by a follower within HeartbeatInterval
// + HeartbeatJitter/2 more: so every process's WorkerCount equals the
// active workers within WorkerTimeout + HeartbeatInterval (when
// WorkerTimeout - HeartbeatInterval - 3/2 HeartbeatJitter is above the
// floor of HeartbeatInterval/2). Defaults: 13.5 s, so every third
// renewal (renewals are 5 to 6 s apart): 218 LISTs and 436 GETs an hour
// instead of 654 GETs, by the leader only; no request is added.
func countEvery(cfg Config) time.Duration {
	return max(cfg.WorkerTimeout-cfg.HeartbeatInterval-cfg.HeartbeatJitter*3/2, cfg.HeartbeatInterval/2)
}

// beatEvery is how often a follower writes its worker record: as seldom
// as one failed write still allows. A write that fails (even one that
// hangs to its deadline, a request timeout T) is retried once it ends, or
// WorkerTimeout/12 after it started if that is later, so the record is at
// most beatEvery + max(T, WorkerTimeout/12) + the retry's own latency old
// when the retry lands; WorkerTimeout/10 is left for that latency. Never
// more often than every WorkerTimeout/3. Defaults (20 s, T = 5 s): 13 s.
func beatEvery(workerTimeout, requestTimeout time.Duration) time.Duration {
	return max(workerTimeout/3, workerTimeout-max(requestTimeout, workerTimeout/12)-workerTimeout/10)
}

// membership writes this process's worker record every beatEvery (an
// unconditional PUT) while it follows, and, on the leader, deletes stale
// records. A leader writes no worker record (but its first): its lease
// renewals prove it alive, and the views of the workers list it from its
// lease (see withLeader); it writes its record again the moment it stops
// leading. The
// loop schedules the work (cycle) but never waits for it: each beat or
// cleanup runs in a goroutine of its own, one at a time, so that a slow or
// hung worker-record request never delays the election loop.
type membership struct {
	c           *Coordinator
	prefix, key string
	started     time.Time
	nextCount   time.Time // loop-owned: when the leader counts again
	led         bool      // loop-owned: the last cycle saw this process lead

	mu       sync.Mutex
	seq      uint64
	nextBeat time.Time
	wrote    bool
	// version is the store version of our last confirmed write of the
	// record ("" when unknown): a beat is conditioned on it, so that a
	// write by another process with our WorkerID fails it (see
	// duplicateCheck).
	version   string
	attempted bool           // a beat was sent: the next is never IfAbsent
	running   chan struct{}  // closed when the job in flight ends; nil: none
	stale     []driver.Entry // stale worker records a count found, to delete

	duplicates atomic.Uint64 // beats that found our record written by another process
}

func (m *membership) init(c *Coordinator) {
	m.c = c
	m.prefix = workersPrefix(c.cfg.Root, c.ns, c.plugin)
	m.key = workerKey(c.cfg.Root, c.ns, c.plugin, c.worker)
	m.started = c.clock.Now()
	m.nextBeat = m.started
}

// askCleanup makes the leader's second renewal after an election count
// the workers and find stale records: not the first, which a failover's
// fault (worker LISTs hanging with the old leader's requests) would
// delay while the new leader's first renewal deadline is nearest. Loop
// only.
func (m *membership) askCleanup() {
	m.nextCount = m.c.clock.Now().Add(m.c.cfg.HeartbeatInterval)
}

// listFailed puts the next count off after a counting LIST failed (or
// hung to its budget): a store whose LISTs fail then delays at most one
// renewal in max(4 countEvery, LeaseTimeout), never every one. Loop
// only.
func (m *membership) listFailed(now time.Time) {
	m.nextCount = now.Add(max(4*countEvery(m.c.cfg), m.c.cfg.LeaseTimeout))
}

// listDue reports whether the read-back of keeper k's renewal starting at
// now is to count the workers, and the prefix to LIST: the directory of
// the lease record, which holds the worker records too. Only the
// coordinator's own lease counts. The next count is due countEvery later,
// whether this one succeeds or not. Loop only.
func (m *membership) listDue(k *leaseKeeper, now time.Time) (string, bool) {
	c := m.c
	if c.cfg.DisableMembership || k != c.lease || now.Before(m.nextCount) {
		return "", false
	}
	m.nextCount = now.Add(countEvery(c.cfg))
	return k.key[:strings.LastIndexByte(k.key, '/')+1], true
}

// counted takes the workers from a listing of the lease's directory (see
// listDue): it sets the worker count, counting this process,
// the leader, whose record may be old, and keeps the records older than
// staleAfter WorkerTimeouts by the server's clock for the next cycle to
// delete. Loop only.
func (m *membership) counted(res driver.ListResult) {
	c := m.c
	alive := 1
	var stale []driver.Entry
	for _, e := range res.Entries {
		id, ok := workerIDFromKey(m.prefix, e.Key)
		if !ok || id == c.worker {
			continue
		}
		age := res.ServerTime.Sub(e.Modified)
		if age <= c.cfg.WorkerTimeout {
			alive++
		}
		if age > staleAfter*c.cfg.WorkerTimeout {
			stale = append(stale, e)
		}
	}
	c.workerCount.Store(int64(alive))
	m.mu.Lock()
	m.stale = stale
	m.mu.Unlock()
}

// cycle starts what is due, unless a job is still in flight, and returns
// when the loop should call it again (zero: membership disabled). Loop
// only; ctx is the loop's.
func (m *membership) cycle(ctx context.Context) time.Time {
	c := m.c
	if c.cfg.DisableMembership {
		return time.Time{}
	}
	now := c.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running != nil {
		if now.Before(m.nextBeat) {
			return m.nextBeat
		}
		return time.Time{} // overdue: the job pokes the loop when it ends
	}
	beat, clean := m.due(now)
	if beat || clean {
		m.launch(ctx, now, beat, clean)
	}
	if m.led && m.wrote {
		return time.Time{} // the leader's renewals count (listDue)
	}
	return m.nextBeat
}

// due decides what membership work is due at now (m.mu held): a beat
// while following (or a leader's first), deleting the stale records a
// leader's count found.
func (m *membership) due(now time.Time) (beat, clean bool) {
	lead := m.c.lease.held
	if m.led && !lead {
		m.nextBeat = now // stopped leading: its record is old, write it now
	}
	m.led = lead
	// A leader writes its record once if it has none yet (Mode, Started
	// and Meta are read from it), then not while it leads.
	beat = (!lead || !m.wrote) && !now.Before(m.nextBeat)
	clean = lead && len(m.stale) > 0
	return beat, clean
}

// launch runs a beat and/or the deletion of stale records in a goroutine of its own (m.mu
// held); the goroutine pokes the loop if it fails or ends overdue.
func (m *membership) launch(ctx context.Context, now time.Time, beat, clean bool) {
	c := m.c
	var rec []byte
	var stale []driver.Entry
	if clean {
		stale, m.stale = m.stale, nil
	}
	if beat {
		m.seq++
		r := workerRecord{Format: recordFormat, ID: c.worker, Namespace: c.ns, Plugin: c.plugin, Mode: string(c.mode),
			Seq: m.seq, Started: m.started.UTC(), Beat: now.UTC(), Meta: c.cfg.WorkerMeta}
		rec = encodeWorker(&r)
		// The next beat as if this one succeeds; a failure brings it
		// forward (and pokes the loop).
		m.nextBeat = now.Add(beatEvery(c.cfg.WorkerTimeout, c.requestTimeout()))
	}
	done := make(chan struct{})
	m.running = done
	go func() {
		poke := false
		defer func() {
			m.mu.Lock()
			m.running = nil
			poke = poke || (!m.led && !c.clock.Now().Before(m.nextBeat))
			m.mu.Unlock()
			close(done)
			if poke {
				c.poke()
			}
		}()
		if beat {
			err := m.beat(ctx, rec)
			m.mu.Lock()
			if err != nil {
				c.log.Debug(c.prefix+" worker record write failed", "err", err)
				m.nextBeat = now.Add(c.cfg.WorkerTimeout / 12)
				poke = true
			} else {
				m.wrote = true
			}
			m.mu.Unlock()
		}
		if clean {
			m.deleteStale(ctx, stale)
		}
	}()
}

// beat writes our worker record: the first time if absent, then if it is
// still the version we wrote last. A write that loses its condition finds
// the record written by another process with our WorkerID (see
// duplicateCheck); the record is then written anyway.
func (m *membership) beat(ctx context.Context, rec []byte) error {
	m.mu.Lock()
	cond := driver.IfMatch(m.version)
	if m.version == "" {
		cond = driver.None // unknown after a failed write
		if !m.attempted {
			cond = driver.IfAbsent()
		}
	}
	m.attempted = true
	m.mu.Unlock()
	v, err := m.c.store.Put(ctx, m.key, rec, cond)
	if errors.Is(err, driver.ErrPrecondition) {
		m.duplicateCheck(ctx, cond.IsIfAbsent())
		v, err = m.c.store.Put(ctx, m.key, rec, driver.None)
	}
	m.mu.Lock()
	m.version = v // "" after an error: the write may have been applied
	m.mu.Unlock()
	return err
}

// duplicateCheck runs when a beat's condition failed: our record exists
// though we have not written it yet (first), or another write replaced
// ours. It warns, and counts in Metrics.DuplicateWorkerIDs, when the
// record is fresh (modified within WorkerTimeout, on the server's clock):
// another process runs with our WorkerID, or this is a restart within
// WorkerTimeout of the previous process's last beat. A record deleted
// meanwhile (a leader's cleanup of one gone stale) says nothing. One LIST.
func (m *membership) duplicateCheck(ctx context.Context, first bool) {
	c := m.c
	res, err := c.store.List(ctx, m.key)
	if err != nil {
		return
	}
	for _, e := range res.Entries {
		if e.Key == m.key && res.ServerTime.Sub(e.Modified) <= c.cfg.WorkerTimeout {
			m.duplicates.Add(1)
			what := "another process wrote the worker record of this WorkerID"
			if first {
				what = "the worker record of this WorkerID is fresh at start: another process runs with it, or this process restarted within WorkerTimeout"
			}
			c.log.Warn(c.prefix+" duplicate worker id: "+what+"; give every process its own WorkerID (its host name, say)",
				c.attrs("", "worker", c.worker, "key", m.key)...)
		}
	}
}

// deleteStale deletes worker records a count found stale
// (conditionally when the store can, so that a record rewritten meanwhile
// survives).
func (m *membership) deleteStale(ctx context.Context, stale []driver.Entry) {
	c := m.c
	condDelete := c.store.Capabilities().ConditionalDelete
	for _, e := range stale {
		cond := driver.None
		if condDelete {
			cond = driver.IfMatch(e.Version)
		}
		if err := c.store.Delete(ctx, e.Key, cond); err != nil && !errors.Is(err, driver.ErrPrecondition) {
			c.log.Debug(c.prefix+" deleting stale worker record failed", "key", e.Key, "err", err)
		}
	}
}

// recordCount is the worker count a write of the lease of plugin's
// election ("" the namespace's) carries: this coordinator's, if the lease
// is its own election's (not a plugin lease it writes for the namespace
// leadership) and it has one.
func (m *membership) recordCount(plugin string) int {
	if m.c.cfg.DisableMembership || plugin != m.c.plugin {
		return 0
	}
	return int(m.c.workerCount.Load())
}

// deregister deletes our worker record, once the job in flight has ended
// (or ctx is done: a late beat is then cleaned up by the leader). The loop
// has stopped scheduling jobs.
func (m *membership) deregister(ctx context.Context) error {
	m.mu.Lock()
	running := m.running
	m.mu.Unlock()
	if running != nil {
		select {
		case <-running:
		case <-ctx.Done():
		}
	}
	m.mu.Lock()
	wrote := m.wrote
	m.wrote = false
	m.mu.Unlock()
	if !wrote {
		return nil
	}
	return m.c.store.Delete(ctx, m.key, driver.None)
}

// listWorkers lists the records under prefix and keeps those modified
// within timeout of the listing's server time.
func listWorkers(ctx context.Context, store driver.Store, prefix string, timeout time.Duration) ([]Worker, time.Time, error) {
	res, err := store.List(ctx, prefix)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []Worker
	for _, e := range res.Entries {
		id, ok := workerIDFromKey(prefix, e.Key)
		if !ok {
			continue
		}
		if age := res.ServerTime.Sub(e.Modified); age <= timeout {
			out = append(out, Worker{ID: id, LastSeen: e.Modified, Age: max(age, 0)})
		}
	}
	return out, res.ServerTime, nil
}

// withLeader adds the holder of a lease to ws, the active workers of its
// election (a leader writes no worker record: its lease is its record).
// modified is the lease's modification time on the server's clock, now
// the listing's; a lease older than timeout, or one whose holder does not
// renew it (delegated, released) or that a stand-in holds (it is listed
// with the namespace's workers), adds nobody.
func withLeader(ws []Worker, li LeaderInfo, now time.Time, timeout time.Duration) []Worker {
	if li.ID == "" || li.Released || li.Delegated || li.StandIn || li.Corrupt != nil {
		return ws
	}
	age := now.Sub(li.Modified)
	if li.Modified.IsZero() || age > timeout {
		return ws
	}
	for i := range ws {
		if ws[i].ID == li.ID {
			if li.Modified.After(ws[i].LastSeen) {
				ws[i].LastSeen, ws[i].Age = li.Modified, max(age, 0)
			}
			return ws
		}
	}
	return append(ws, Worker{ID: li.ID, LastSeen: li.Modified, Age: max(age, 0)})
}

// ActiveWorkers lists the workers of this election whose record the
// server modified within WorkerTimeout of the listing (one LIST, judged on
// the server's clock), and the leader, whose lease is its record: this
// process if it leads, else the holder of the lease as last read (no
// request of its own). With DisableMembership it returns nothing.
func (c *Coordinator) ActiveWorkers(ctx context.Context) ([]Worker, error) {
	if c.cfg.DisableMembership {
		return nil, nil
	}
	ws, now, err := listWorkers(ctx, c.store, workersPrefix(c.cfg.Root, c.ns, c.plugin), c.cfg.WorkerTimeout)
	if err != nil {
		return nil, err
	}
	if v := c.leaseView.Load(); v != nil {
		li := v.info
		if v.held {
			li.Modified = now // we hold it: alive now
		}
		ws = withLeader(ws, li, now, c.cfg.WorkerTimeout)
	}
	c.workerCount.Store(int64(len(ws)))
	return ws, nil
}

// leaseView is the loop's last view of its lease, for ActiveWorkers.
type leaseView struct {
	held bool
	info LeaderInfo // ID, Modified and the flags withLeader looks at
}

// publishLease stores the loop's view of its lease (loop only).
func (c *Coordinator) publishLease() {
	k := c.lease
	v := &leaseView{held: k.held}
	switch {
	case k.held:
		v.info = LeaderInfo{ID: c.worker}
	case k.obs.rec != nil && !k.ours():
		r := k.obs.rec
		v.info = LeaderInfo{ID: r.Leader, Released: r.Released, Delegated: r.Delegated, StandIn: r.StandIn, Modified: k.obs.modified}
		if r.Workers > 0 && !c.cfg.DisableMembership {
			c.workerCount.Store(int64(r.Workers)) // the leader's count
		}
	}
	c.leaseView.Store(v)
}
