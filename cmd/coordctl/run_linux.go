package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
)

// How a run keeps CMD from outliving its leadership.
//
// coordctl starts, for each run of CMD, a guard: coordctl itself with
// guardFlag, as the leader of a new process group; the guard starts CMD in
// that group (and in the run's cgroup, see run_tree_linux.go) and is a
// child subreaper, so every orphaned descendant stays below it. Three
// things end the tree:
//
//   - coordctl, when the leadership ends (the term's context is cancelled,
//     at the renew deadline at the latest) or on SIGTERM/SIGINT: it sends
//     the group SIGTERM (the signal it got); after the grace (and one
//     report period) it closes the guard's pipe, and the guard SIGKILLs
//     the whole tree. coordctl waits for the guard's exit, which means
//     the tree is gone; a guard that does not exit in time is SIGKILLed
//     and coordctl kills the tree itself (the orphans are its own then).
//   - the guard, when CMD exits: it sends the rest of the tree SIGTERM,
//     then SIGKILL after the grace, and exits with CMD's code once it has
//     no child left.
//   - the guard's dead-man's switch: every report period coordctl reads
//     CLOCK_MONOTONIC (one clock for every process of the host), checks
//     that its leadership holds, and sends the guard the reading plus
//     budget - reserve. When that moment passes without a newer one, or
//     the pipe closes (coordctl died), the guard SIGKILLs the tree. A
//     leadership that held at t ends no sooner than t, so no successor
//     takes over before t + LeaseTimeout - RenewDeadline: a frozen
//     (SIGSTOP) or killed coordctl leaves the reserve.

// supervisor is one "coordctl run".
type supervisor struct {
	c      *cli
	stderr io.Writer // c.stderr, serialised
	ro     runOptions
	t      timing
	self   string // the executable, for the guard
	worker string
	cgBase string // where runs' cgroups go; "": the /proc walk
	runs   int
	done1  *onceRecord // -once: the completion record of the slot

	subReady chan struct{}
	sub      *coord.Subscription

	stopReq chan struct{} // closed by the first SIGTERM/SIGINT (or ctx)
	killNow chan struct{} // closed by the second
	done    chan struct{} // closed by finish

	mu       sync.Mutex
	stopSig  syscall.Signal
	running  bool // a run of CMD is under way
	stopping bool
	decided  bool   // -once: this process leads, or gave up
	holder   string // -once: another process seen holding the job
	finished bool
	code     int
}

func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "coordctl run: "+format+"\n", args...)
}

// finish sets the exit code, once. Callers hold s.mu.
func (s *supervisor) finishLocked(code int) {
	if s.finished {
		return
	}
	s.finished, s.code = true, code
	close(s.done)
}

func (s *supervisor) finish(code int) {
	s.mu.Lock()
	s.finishLocked(code)
	s.mu.Unlock()
}

// requestStop handles the first SIGTERM/SIGINT: a run of CMD under way
// stops it (lead sees stopReq); otherwise coordctl is done.
func (s *supervisor) requestStop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	s.stopping, s.stopSig = true, sig
	close(s.stopReq)
	if !s.running {
		s.finishLocked(exitOK)
	}
}

func (c *cli) supervise(ctx context.Context, store driver.Store, o options, ro runOptions) int {
	if _, err := exec.LookPath(ro.argv[0]); err != nil {
		fmt.Fprintln(c.stderr, "coordctl run:", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return exitRunNotFound
		}
		return exitRunNoExec
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(c.stderr, "coordctl run: finding coordctl's own executable for the guard:", err)
		return exitRunFailed
	}
	setSubreaper()
	cgBase, why := cgroupBase()
	s := &supervisor{cgBase: cgBase,
		c: c, stderr: &lockedWriter{w: c.stderr}, ro: ro, t: timingOf(ro.cfg), self: self,
		subReady: make(chan struct{}), stopReq: make(chan struct{}), killNow: make(chan struct{}), done: make(chan struct{}),
	}
	cfg := ro.cfg
	if cfg.WorkerID == "" {
		cfg.WorkerID = defaultRunWorker()
	}
	s.worker = cfg.WorkerID
	cfg.Logger = slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := coord.NewHub(store, cfg)
	if err != nil {
		fmt.Fprintln(s.stderr, "coordctl run:", err)
		return exitUsage
	}
	sigs := make(chan os.Signal, 4)
	defer handleSignals(sigs)()
	go s.watchSignals(ctx, sigs)

	s.logf("%s; worker %s, namespace %s", ro.describe(), s.worker, o.namespace)
	if cgBase != "" {
		s.logf("process tree: a cgroup v2 per run under %s (cgroup.kill; gone when cgroup.procs is empty)", cgBase)
	} else {
		s.logf("process tree: child subreaper and /proc walk (no cgroup: %s)", why)
	}
	p := &plugin.Func{OnLead: s.lead}
	if ro.once {
		s.done1 = newOnceRecord(store, o, ro, s.stderr)
		s.logf("-once: slot %s (completion record %s)", ro.onceKey, s.done1.key)
		p.OnChange = s.changed
		go s.onceTimeout(o.timeout)
	}
	useCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	sub, err := h.Use(useCtx, ro.job, p, coord.UseOptions{Namespace: o.namespace})
	cancel()
	if err != nil {
		fmt.Fprintln(s.stderr, "coordctl run:", err)
		_ = h.Close(context.Background())
		if errors.Is(err, coord.ErrInvalidName) {
			return exitUsage
		}
		return exitRunFailed
	}
	s.sub = sub
	close(s.subReady)
	<-s.done
	// Every path to done has stopped CMD's group first: Close steps down,
	// waits for lead (which returns at once) and releases the lease, so a
	// follower takes over at its next heartbeat.
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*cfg.HeartbeatInterval)
	defer cancel()
	if err := h.Close(closeCtx); err != nil {
		s.logf("closing: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// watchSignals turns the first SIGTERM/SIGINT (main's one handler sends
// each here, see handleSignals; ctx's end counts as a SIGTERM) into a stop
// request and the second into an immediate kill.
func (s *supervisor) watchSignals(ctx context.Context, sigs <-chan os.Signal) {
	first := true
	done := ctx.Done()
	for {
		var sig syscall.Signal
		select {
		case v := <-sigs:
			sig = v.(syscall.Signal)
		case <-done:
			done = nil
			sig = syscall.SIGTERM
		case <-s.done:
			return
		}
		if first {
			first = false
			s.logf("got %v: stopping", sig)
			s.requestStop(sig)
			continue
		}
		s.logf("got %v again: killing the command's process tree now", sig)
		close(s.killNow)
		return
	}
}

// changed (-once) notes another process holding the job before this one
// leads it: this one keeps campaigning, and takes over when the holder
// releases or its lease expires (the engine judges that: the record
// unchanged for LeaseTimeout on this process's clock).
func (s *supervisor) changed(ch plugin.Change) {
	if ch.To == "" || ch.To == s.worker {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.decided || s.running || s.finished || s.holder == ch.To {
		return
	}
	s.holder = ch.To
	s.logf("-once: %s is held by %s (epoch %d): waiting for it to release or its lease to expire", s.ro.job, ch.To, ch.Epoch)
}

// onceTimeout (-once) ends a wait that has not led within timeout: exit 0
// when a live holder was seen all along (it runs the job), 125 otherwise.
func (s *supervisor) onceTimeout(timeout time.Duration) {
	select {
	case <-time.After(timeout):
	case <-s.done:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.decided || s.running {
		return
	}
	s.decided = true
	if s.holder != "" {
		s.logf("-once: %s still held by %s after -timeout %v: not running it", s.ro.job, s.holder, timeout)
		s.finishLocked(exitOK)
		return
	}
	s.logf("-once: neither led nor saw another holder of %s within -timeout %v", s.ro.job, timeout)
	s.finishLocked(exitRunFailed)
}

// lead is the job's Lead: it runs CMD while this process leads, and never
// returns before CMD's process group is dead.
func (s *supervisor) lead(ctx context.Context, term plugin.Term) error {
	select {
	case <-s.subReady:
	case <-ctx.Done():
		return nil
	}
	delay := s.ro.restartDelay
	for {
		s.mu.Lock()
		if s.stopping || s.finished || (s.ro.once && s.decided) {
			s.mu.Unlock()
			<-ctx.Done() // done: Close ends the leadership
			return nil
		}
		s.decided, s.running = true, true
		s.mu.Unlock()
		if s.ro.once {
			if done, err := s.done1.check(ctx); err != nil || done != "" {
				if err != nil {
					s.logf("-once: reading the completion record: %v", err)
					s.finish(exitRunFailed)
				} else {
					s.logf("-once: slot %s of %s already done (%s): not running it", s.ro.onceKey, s.ro.job, done)
					s.finish(exitOK)
				}
				<-ctx.Done()
				return nil
			}
		}
		g, err := s.start(term)
		if errors.Is(err, errNotLeading) {
			s.setRunning(false)
			<-ctx.Done()
			return nil
		}
		if err != nil {
			s.logf("starting the guard: %v", err)
			s.finish(exitRunFailed)
			<-ctx.Done()
			return nil
		}
		s.logf("leading %s (epoch %d): started %s (process group %d%s)", s.ro.job, term.Epoch, strings.Join(s.ro.argv, " "), g.pgid, cgNote(g.cgroup))
		select {
		case <-ctx.Done():
			at := time.Now()
			killed := g.stop(syscall.SIGTERM, s.ro.grace+s.t.report, s.killNow)
			s.logf("leadership of %s (epoch %d) ended (%v): process group %d stopped in %v%s, code %d",
				s.ro.job, term.Epoch, context.Cause(ctx), g.pgid, time.Since(at).Round(time.Millisecond), killedNote(killed), g.code)
			s.setRunning(false)
			if s.ro.onExit == "exit" {
				s.finish(exitRunLost)
			}
			return nil
		case <-s.stopReq:
			s.mu.Lock()
			sig := s.stopSig
			s.mu.Unlock()
			at := time.Now()
			killed := g.stop(sig, s.ro.grace+s.t.report, s.killNow)
			s.logf("process group %d stopped in %v%s, code %d; releasing %s", g.pgid, time.Since(at).Round(time.Millisecond), killedNote(killed), g.code, s.ro.job)
			code := exitOK
			if s.ro.onExit == "exit" {
				code = g.code
				if ctx.Err() != nil || g.code == exitRunLost {
					code = exitRunLost // the leadership ended during the grace
				}
			}
			s.finish(code)
			<-ctx.Done() // Close ends the leadership, then releases
			return nil
		case <-g.exited:
			g.stop(syscall.SIGKILL, 0, nil) // the guard is gone, and with it the tree; make sure
			ran := time.Since(g.started)
			if s.ro.onExit == "exit" {
				code := g.code
				if ctx.Err() != nil || g.code == exitRunLost {
					// The leadership ended (the guard's deadline passed while
					// coordctl was frozen, or the term was cancelled): 75,
					// whatever the killed command's own code.
					code = exitRunLost
					s.logf("leadership of %s (epoch %d) ended while %s ran (%v): its tree was killed", s.ro.job, term.Epoch, s.ro.argv[0], context.Cause(ctx))
				} else {
					s.logf("%s exited with code %d after %v; releasing %s", s.ro.argv[0], g.code, ran.Round(time.Millisecond), s.ro.job)
					if s.ro.once {
						s.done1.write(term, g.code)
					}
				}
				s.finish(code)
				<-ctx.Done()
				return nil
			}
			s.setRunning(false)
			if ran >= time.Minute {
				delay = s.ro.restartDelay
			}
			s.logf("%s exited with code %d after %v; restarting in %v", s.ro.argv[0], g.code, ran.Round(time.Millisecond), delay)
			select {
			case <-ctx.Done():
				return nil
			case <-s.stopReq:
				<-ctx.Done() // requestStop finished: nothing runs
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, max(time.Minute, s.ro.restartDelay))
		}
	}
}

func killedNote(killed bool) string {
	if killed {
		return " (SIGKILL after the grace)"
	}
	return ""
}

func (s *supervisor) setRunning(v bool) {
	s.mu.Lock()
	s.running = v
	if !v && s.stopping {
		s.finishLocked(exitOK)
	}
	s.mu.Unlock()
}

var errNotLeading = errors.New("no longer leading")

// alive reports whether this process still leads term at the moment
// monotonic reading t, taken before the call.
func (s *supervisor) alive(term plugin.Term) bool {
	cur, ok := s.sub.Term()
	return ok && cur.Epoch == term.Epoch
}

// group is one run of CMD: the guard, its process group and tree.
type group struct {
	cmd     *exec.Cmd
	pgid    int
	cgroup  string // the run's cgroup, or ""
	started time.Time
	exited  chan struct{} // the guard was reaped; code is set
	code    int
	report  *os.File // the write end of the guard's deadline pipe
	outWait func()
	// signaled: the guard itself was killed, and may have left its tree
	// (orphaned to this process, the subreaper).
	signaled bool
	closed   sync.Once
}

func cgNote(cg string) string {
	if cg == "" {
		return ""
	}
	return ", cgroup " + cg
}

// start starts the guard, which starts CMD, while term holds.
func (s *supervisor) start(term plugin.Term) (*group, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	t0 := monoNow()
	if !s.alive(term) {
		r.Close()
		w.Close()
		return nil, errNotLeading
	}
	deadline := t0 + int64(s.t.budget-s.t.reserve)
	var cg string
	if s.cgBase != "" {
		s.runs++
		if cg, err = newCgroup(s.cgBase, s.runs); err != nil {
			r.Close()
			w.Close()
			return nil, err
		}
	}
	args := append([]string{"run", guardFlag, "-grace", s.ro.grace.String(), "-deadline", fmt.Sprint(deadline), "-cgroup", cg, "--"}, s.ro.argv...)
	cmd := exec.Command(s.self, args...)
	cmd.Stdin = os.Stdin // passed through to CMD
	cmd.Env = append(os.Environ(),
		"COORD_JOB="+s.ro.job, fmt.Sprintf("COORD_EPOCH=%d", term.Epoch),
		"COORD_LEADER="+term.Leader, "COORD_NAMESPACE="+term.Namespace)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = []*os.File{r}
	stdout, ownOut, waitOut, err := fileFor(s.c.stdout)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	stderr, ownErr, waitErr, err := fileFor(s.stderr)
	if err != nil {
		r.Close()
		w.Close()
		if ownOut {
			stdout.Close()
		}
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Start()
	r.Close()
	if ownOut {
		stdout.Close() // the child has it
	}
	if ownErr {
		stderr.Close()
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	g := &group{cmd: cmd, pgid: cmd.Process.Pid, cgroup: cg, started: time.Now(), exited: make(chan struct{}), report: w,
		outWait: func() { waitOut(); waitErr() }}
	liveGuards.Store(g.pgid, struct{}{})
	go func() {
		_ = cmd.Wait()
		g.code = exitCodeOf(cmd.ProcessState)
		g.signaled = cmd.ProcessState != nil && cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled()
		close(g.exited)
	}()
	go s.reportTo(g, term)
	return g, nil
}

// reportTo tells the guard, every report period, how long the group may
// live: until budget - reserve after a moment the leadership held. It
// stops at the first moment it does not hold.
func (s *supervisor) reportTo(g *group, term plugin.Term) {
	tick := time.NewTicker(s.t.report)
	defer tick.Stop()
	var b [8]byte
	for {
		select {
		case <-g.exited:
			return
		case <-tick.C:
		}
		t := monoNow()
		if !s.alive(term) {
			return
		}
		binary.BigEndian.PutUint64(b[:], uint64(t+int64(s.t.budget-s.t.reserve)))
		if _, err := g.report.Write(b[:]); err != nil {
			return
		}
	}
}

// stop ends the tree: sig to the process group; after grace (or at once
// when kill closes) the guard's pipe is closed and the guard SIGKILLs the
// whole tree. It returns once the guard has exited, which means the tree
// is gone; a guard that does not exit within guardWait is SIGKILLed and
// this process kills what is left (orphaned to it, or in the cgroup)
// until a walk finds nothing alive. It reports whether SIGKILL was needed.
func (g *group) stop(sig syscall.Signal, grace time.Duration, kill <-chan struct{}) (killed bool) {
	_ = syscall.Kill(-g.pgid, sig)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-g.exited:
	case <-timer.C:
		killed = true
	case <-kill:
		killed = true
	}
	g.closeReport()
	if killed {
		select {
		case <-g.exited:
		case <-time.After(guardWait):
			_ = syscall.Kill(g.pgid, syscall.SIGKILL)
			<-g.exited
		}
	}
	if g.signaled || g.cgroup != "" {
		root := -1 // the cgroup holds the tree
		if g.signaled {
			root = os.Getpid() // the dead guard's orphans are this process's
		}
		// Never give up: the lease is not released while any of it lives.
		for !killTree(g.cgroup, root, true, time.Now().Add(time.Minute)) {
		}
		removeCgroup(g.cgroup)
	}
	liveGuards.Delete(g.pgid)
	g.outWait()
	return killed
}

// guardWait is how long a guard may take to kill its tree and exit once
// told to. It is no part of the bound: the guard kills at once, and only
// its exit may be slow (a loaded machine); the lease is not released
// before.
const guardWait = 5 * time.Second

func (g *group) closeReport() { g.closed.Do(func() { g.report.Close() }) }

func exitCodeOf(ps *os.ProcessState) int {
	if ps == nil {
		return exitRunFailed
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// fileFor returns w as a file for a child: w itself when it is one (own
// false), otherwise the write end of a pipe copied into w (own true: the
// caller closes it once the child has it), and a wait for the copy
// (bounded: a descendant that left the group may hold the pipe).
func fileFor(w io.Writer) (f *os.File, own bool, wait func(), err error) {
	if lw, ok := w.(*lockedWriter); ok {
		if f, ok := lw.w.(*os.File); ok {
			return f, false, func() {}, nil
		}
	}
	if f, ok := w.(*os.File); ok {
		return f, false, func() {}, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, false, nil, err
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(w, r)
		r.Close()
		close(copied)
	}()
	return pw, true, func() {
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
	}, nil
}

// lockedWriter serialises writes of coordctl's messages and the child's.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// defaultRunWorker is a worker id naming the host and process.
func defaultRunWorker() string {
	host, _ := os.Hostname()
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, host)
	clean = strings.TrimLeft(clean, ".")
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("run-%s-%d-%s", clean, os.Getpid(), hex.EncodeToString(b[:]))
	const maxNameLen = 128 // coord's longest worker id (coord.ValidateName)
	if len(id) > maxNameLen {
		id = id[:maxNameLen]
	}
	return id
}

// monoNow is CLOCK_MONOTONIC in nanoseconds: one clock for every process
// of the host, unaffected by steps of the wall clock.
func monoNow() int64 {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		panic("clock_gettime(CLOCK_MONOTONIC): " + e.Error())
	}
	return ts.Nano()
}

// setSubreaper makes this process the reaper of its orphaned descendants
// (PR_SET_CHILD_SUBREAPER), so that they stay reachable and are reaped
// here rather than by init.
func setSubreaper() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
}
