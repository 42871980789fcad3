package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// The multi-process test of "coordctl run": several coordctl processes on
// MinIO, each through its own FaultProxy, supervise a command shaped like
// a tree that escapes its process group: a grandchild in a session of its
// own, a double-forked daemon and a chain runChain deep, each in a session
// of its own, all ignoring SIGTERM. The command takes an flock on a shared
// file that every descendant inherits, so the kernel holds it while any
// of the tree lives: a successor whose non-blocking flock fails is an
// overlap. The command appends "start", "tick" (every 20ms) and, on
// SIGTERM after 200ms of clean-up, "stop" lines with its epoch to one
// shared file. The orchestrator finds the leader from that file and kills
// it -9, SIGSTOPs it for longer than the lease or partitions it (and stops
// one gracefully now and then), waits for the next epoch's start, and in
// the end turns the file into Intervals for Check: the old leader's
// command must have acted for the last time before the new one starts, in
// every trial; no descendant may survive, and no graceful stop may cut the
// command's clean-up.

// runTimings are the engine timings of the coordctl processes:
// LeaseTimeout - RenewDeadline = 800ms, so the default grace is 520ms.
var runTimings = []string{"-heartbeat", "200ms", "-lease", "1500ms", "-renew-deadline", "700ms"}

// runChain is the depth of the chain of sessions below each command.
const runChain = 30

const runScript = `log() { echo "$1 $COORD_EPOCH $COORD_LEADER $(date +%s%N)" >> "$RUN_LOG"; }
case $1 in
leaf)
	trap '' TERM
	echo "$$ $COORD_EPOCH" >> "$RUN_PIDS"
	exec sleep 1000 ;;
chain)
	trap '' TERM
	echo "$$ $COORD_EPOCH" >> "$RUN_PIDS"
	if [ "$2" -gt 1 ]; then setsid sh "$0" chain $(($2 - 1)) & fi
	exec sleep 1000 ;;
dfork)
	setsid sh "$0" leaf &
	exit 0 ;;
esac
exec 9>>"$RUN_LOCK"
if ! flock -n 9; then log overlap; exit 1; fi
log start
setsid sh "$0" leaf &
sh "$0" dfork
setsid sh "$0" chain "$RUN_CHAIN" &
trap 'sleep 0.2; log stop; exit 0' TERM
while :; do log tick; sleep 0.02; done`

type runSlot struct {
	index, gen int
	id         string
	proxy      *FaultProxy
	cmd        *exec.Cmd
	exited     chan struct{}
	stopped    bool
}

type runRig struct {
	t        *testing.T
	bin, log string
	store    string // URL without host
	srv      testserver.Server
	slots    []*runSlot
	dir      string
}

// RunTrial is one fault aimed at the leader and the takeover after it.
type RunTrial struct {
	Kind   string
	Victim string
	Epoch  uint64 // the victim's
	// Took is from the fault to the successor command's start line.
	Took time.Duration
}

func buildCoordctl(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "coordctl")
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/s3coord/coord/cmd/coordctl").CombinedOutput(); err != nil {
		t.Fatalf("build coordctl: %v\n%s", err, b)
	}
	return out
}

func newRunRig(t *testing.T, n int) *runRig {
	t.Helper()
	srv := testserver.MinIO(t)
	r := &runRig{t: t, srv: srv, dir: t.TempDir(), bin: buildCoordctl(t)}
	r.log = filepath.Join(r.dir, "commands.log")
	if err := os.WriteFile(filepath.Join(r.dir, "command.sh"), []byte(runScript), 0o644); err != nil {
		t.Fatal(err)
	}
	r.store = "/" + srv.NewBucket(t) + "/run?secure=false"
	for i := range n {
		p, err := NewFaultProxy(srv.HostPort(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		s := &runSlot{index: i, proxy: p}
		r.slots = append(r.slots, s)
		r.start(s)
	}
	t.Cleanup(r.stopAll)
	return r
}

func (r *runRig) start(s *runSlot) {
	s.gen++
	s.id = fmt.Sprintf("w%d-%d", s.index, s.gen)
	args := append([]string{"run", "-store", "minio://" + s.proxy.Addr() + r.store, "-job", "j", "-worker-id", s.id}, runTimings...)
	args = append(args, "--", "/bin/sh", filepath.Join(r.dir, "command.sh"))
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), "RUN_LOG="+r.log, "RUN_PIDS="+filepath.Join(r.dir, "pids"), "RUN_LOCK="+filepath.Join(r.dir, "lock"),
		fmt.Sprintf("RUN_CHAIN=%d", runChain), "MINIO_ACCESS_KEY="+r.srv.AccessKey, "MINIO_SECRET_KEY="+r.srv.SecretKey)
	errf, err := os.Create(filepath.Join(r.dir, s.id+".stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = errf, errf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	s.cmd, s.exited, s.stopped = cmd, make(chan struct{}), false
	go func() {
		_ = cmd.Wait()
		errf.Close()
		close(s.exited)
	}()
}

func (r *runRig) stopAll() {
	for _, s := range r.slots {
		s.proxy.SetFault(Fault{})
		if s.stopped {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range r.slots {
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
}

// cmdLine is one line of the shared command log.
type cmdLine struct {
	kind   string
	epoch  uint64
	leader string
	at     int64
}

func (r *runRig) lines() []cmdLine {
	f, err := os.Open(r.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []cmdLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l cmdLine
		if _, err := fmt.Sscan(sc.Text(), &l.kind, &l.epoch, &l.leader, &l.at); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// leader returns the latest start line, or false when none.
func (r *runRig) leader() (cmdLine, bool) {
	var last cmdLine
	for _, l := range r.lines() {
		if l.kind == "start" && l.epoch >= last.epoch {
			last = l
		}
	}
	return last, last.kind != ""
}

// waitStart waits for a start line of an epoch above epoch and returns it.
func (r *runRig) waitStart(epoch uint64, within time.Duration) (cmdLine, bool) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l, ok := r.leader(); ok && l.epoch > epoch {
			return l, true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmdLine{}, false
}

func (r *runRig) slotOf(id string) *runSlot {
	for _, s := range r.slots {
		if s.id == id {
			return s
		}
	}
	return nil
}

// trial aims kind at the current leader and waits for the takeover.
func (r *runRig) trial(kind string) (RunTrial, error) {
	cur, ok := r.waitStart(0, 20*time.Second)
	if !ok {
		return RunTrial{}, fmt.Errorf("no leader's command started")
	}
	// A leader that has run a while, at a random phase of its renewals.
	time.Sleep(300*time.Millisecond + time.Duration(time.Now().UnixNano()%200)*time.Millisecond)
	cur, _ = r.leader()
	s := r.slotOf(cur.leader)
	if s == nil {
		return RunTrial{}, fmt.Errorf("leader %s is no running slot", cur.leader)
	}
	at := time.Now()
	switch kind {
	case "kill":
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	case "stop":
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
		s.stopped = true
	case "partition":
		s.proxy.SetFault(Fault{Blackhole: true})
	case "graceful":
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	next, ok := r.waitStart(cur.epoch, 20*time.Second)
	tr := RunTrial{Kind: kind, Victim: s.id, Epoch: cur.epoch, Took: time.Duration(next.at - at.UnixNano())}
	switch kind {
	case "kill", "graceful":
		<-s.exited
		r.start(s)
	case "stop":
		if d := time.Until(at.Add(2 * time.Second)); d > 0 {
			time.Sleep(d) // frozen past the lease in any case
		}
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.stopped = false
	case "partition":
		s.proxy.SetFault(Fault{})
	}
	if !ok {
		return tr, fmt.Errorf("%s of %s (epoch %d): no takeover within 20s", kind, s.id, cur.epoch)
	}
	return tr, nil
}

// check turns the command log into Intervals (one per epoch: from its
// start line to its last line) and checks them; it returns the report and
// the margins from each command's last line to its successor's start.
func (r *runRig) check() (Report, []time.Duration) {
	byEpoch := make(map[uint64]*Interval)
	for _, l := range r.lines() {
		iv := byEpoch[l.epoch]
		if iv == nil {
			iv = &Interval{Worker: l.leader, Plugin: "j", Epoch: l.epoch, Start: l.at, Acquired: l.at}
			byEpoch[l.epoch] = iv
		}
		if l.kind == "start" {
			iv.Start = min(iv.Start, l.at)
		}
		iv.LastAct, iv.End = max(iv.LastAct, l.at), max(iv.End, l.at)
	}
	var ivs []Interval
	for _, iv := range byEpoch {
		ivs = append(ivs, *iv)
	}
	slices.SortFunc(ivs, func(a, b Interval) int { return int(a.Start - b.Start) })
	rep := Check(ivs, nil, 0)
	var margins []time.Duration
	for _, l := range r.lines() {
		if l.kind == "overlap" {
			rep.Overlaps = append(rep.Overlaps, fmt.Sprintf("epoch %d (%s): the flock was still held by an earlier command's tree", l.epoch, l.leader))
		}
	}
	for i := 1; i < len(ivs); i++ {
		margins = append(margins, time.Duration(ivs[i].Start-ivs[i-1].LastAct))
	}
	return rep, margins
}

// stopped reports whether epoch's command logged its clean stop.
func (r *runRig) stopped(epoch uint64) bool {
	for _, l := range r.lines() {
		if l.kind == "stop" && l.epoch == epoch {
			return true
		}
	}
	return false
}

// survivors returns the descendants of every command (by the pids they
// logged) that are still alive: not gone, not a zombie, and still ours
// (their environment names this rig's pid file).
func (r *runRig) survivors() []string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "pids"))
	mark := []byte("RUN_PIDS=" + filepath.Join(r.dir, "pids") + "\x00")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		var pid int
		var epoch uint64
		if _, err := fmt.Sscan(l, &pid, &epoch); err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(st), ')'); i < 0 || i+2 >= len(st) || st[i+2] == 'Z' {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.Contains(env, mark) {
			out = append(out, fmt.Sprintf("%d (epoch %d)", pid, epoch))
			_ = syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind
		}
	}
	return out
}

func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("min %v p50 %v max %v (n=%d)", s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

// runSupervision runs trials of kinds in turn until failovers faults
// (graceful stops not counted) have each been followed by a takeover, and
// fails t on any overlap.
func runSupervision(t *testing.T, failovers int, kinds []string, gracefulEvery int) {
	began := time.Now()
	r := newRunRig(t, 3)
	var trials []RunTrial
	byKind := make(map[string][]time.Duration)
	n, cut := 0, 0
	for i := 0; n < failovers; i++ {
		kind := kinds[i%len(kinds)]
		if gracefulEvery > 0 && i%gracefulEvery == gracefulEvery-1 {
			kind = "graceful"
		}
		tr, err := r.trial(kind)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "graceful" && !r.stopped(tr.Epoch) {
			cut++
			t.Errorf("graceful stop of %s (epoch %d): the command's clean-up was cut (no stop line)", tr.Victim, tr.Epoch)
		}
		trials = append(trials, tr)
		byKind[kind] = append(byKind[kind], tr.Took)
		if kind != "graceful" {
			n++
		}
		t.Logf("%s of %s: successor's command started after %v", kind, tr.Victim, tr.Took.Round(time.Millisecond))
	}
	r.stopAll()
	surv := r.survivors()
	for _, s := range surv {
		t.Errorf("survivor: descendant %s alive after every coordctl exited", s)
	}
	rep, margins := r.check()
	for _, o := range rep.Overlaps {
		t.Errorf("overlap: %s", o)
	}
	for _, e := range rep.EpochErrors {
		t.Errorf("epoch: %s", e)
	}
	if rep.Intervals < len(trials)+1 {
		t.Errorf("%d command runs for %d trials: the log saw too little", rep.Intervals, len(trials))
	}
	t.Logf("coordctl run on MinIO: %d trials (%d failovers) in %v, %d command runs of %d processes each (chain %d deep), overlaps %d (flock and log), survivors %d, cut shutdowns %d; old command's last line to the new one's start: %s",
		len(trials), n, time.Since(began).Round(time.Second), rep.Intervals, runChain+3, runChain, len(rep.Overlaps), len(surv), cut, durations(margins))
	keys := make([]string, 0, len(byKind))
	for k := range byKind {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("  %s: fault to successor's start %s", k, durations(byKind[k]))
	}
	if t.Failed() {
		t.Logf("logs in %s: %s", r.dir, strings.Join([]string{"commands.log", "w*.stderr"}, ", "))
	}
}

// TestRunSupervisionQuick is the slice of the coordctl run test that `make
// test` runs: three coordctl processes on MinIO; the leader is killed -9,
// SIGSTOPped past its lease, partitioned, and stopped gracefully once.
func TestRunSupervisionQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts coordctl processes against a real server")
	}
	runSupervision(t, 3, []string{"kill", "stop", "partition"}, 2)
}
