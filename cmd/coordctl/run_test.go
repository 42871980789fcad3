package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// asMain makes the test binary act as coordctl when it is started with it
// set: the guard of "coordctl run" is coordctl itself (os.Executable).
const asMain = "COORDCTL_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		return
	}
	os.Setenv(asMain, "1") // inherited by the guards the tests start
	// The race runtime sleeps a second at exit by default: a guard's exit
	// would look slow.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// fastRun are engine timings for the tests: LeaseTimeout - RenewDeadline
// = 1s, so the largest grace is 650ms.
var fastRun = []string{"-heartbeat", "100ms", "-lease", "1500ms", "-renew-deadline", "500ms"}

// syncBuffer is a bytes.Buffer safe for the child's copy and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type runProc struct {
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
	cancel         context.CancelFunc // as SIGTERM would
}

// startRun runs "coordctl run args..." in-process on store.
func startRun(t *testing.T, store driver.Store, args ...string) *runProc {
	t.Helper()
	p := &runProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	c := &cli{
		stdout: p.stdout, stderr: p.stderr,
		getenv: func(string) string { return "" },
		open: func(context.Context, string) (driver.Store, func() error, error) {
			return store, func() error { return nil }, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.code = c.run(ctx, append([]string{"run", "-store", "mem://"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("coordctl run did not return after its stop\nstderr:\n%s", p.stderr)
		}
	})
	return p
}

func (p *runProc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("coordctl run still running after %v\nstderr:\n%s", within, p.stderr)
		return -1
	}
}

// waitFile waits until path exists and holds a line, and returns its
// content.
func waitFile(t *testing.T, path string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within %v", path, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, path, 10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// gone reports whether no process pid exists (zombies included).
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestRunEnvironmentAndExitCode(t *testing.T) {
	p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "report", "-worker-id", "w1", "-on-exit", "exit", "--",
		"/bin/sh", "-c", `echo "$COORD_JOB $COORD_EPOCH $COORD_LEADER $COORD_NAMESPACE"; exit 7`)...)
	if code := p.wait(t, 10*time.Second); code != 7 {
		t.Fatalf("exit code %d, want 7 (the command's)\nstderr:\n%s", code, p.stderr)
	}
	if got := p.stdout.String(); got != "report 1 w1 default\n" {
		t.Errorf("the command printed %q, want %q", got, "report 1 w1 default\n")
	}
}

// A command that leaves a grandchild behind (through /bin/sh) has it
// killed before coordctl returns, both when it exits and when it is
// stopped.
func TestRunKillsGrandchildren(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		stop         bool
	}{
		{"exited", `sleep 1000 & echo $! > "$PIDFILE"; exit 0`, false},
		{"stopped", `sleep 1000 & echo $! > "$PIDFILE"; wait`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			t.Setenv("PIDFILE", pidFile)
			p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "-on-exit", "exit", "--", "/bin/sh", "-c", tc.script)...)
			pid := readPid(t, pidFile)
			if tc.stop {
				p.cancel()
			}
			p.wait(t, 10*time.Second)
			if !gone(pid) {
				t.Errorf("grandchild %d still exists after coordctl run returned\nstderr:\n%s", pid, p.stderr)
			}
		})
	}
}

// A command that ignores SIGTERM is killed after the grace; coordctl
// waits that long, no less.
func TestRunSIGKILLAfterGrace(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("PIDFILE", pidFile)
	grace := 300 * time.Millisecond
	p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "-on-exit", "exit", "-grace", grace.String(), "--",
		"/bin/sh", "-c", `trap "" TERM; echo $$ > "$PIDFILE"; while :; do sleep 0.05; done`)...)
	pid := readPid(t, pidFile)
	at := time.Now()
	p.cancel()
	code := p.wait(t, 10*time.Second)
	if took := time.Since(at); took < grace {
		t.Errorf("stopped after %v, before the grace of %v", took, grace)
	}
	if code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want %d (killed)\nstderr:\n%s", code, 128+int(syscall.SIGKILL), p.stderr)
	}
	if !gone(pid) {
		t.Errorf("command %d still exists", pid)
	}
}

func TestRunRefusesGraceThatDoesNotFit(t *testing.T) {
	p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "-grace", "651ms", "--", "true")...)
	if code := p.wait(t, 5*time.Second); code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(p.stderr.String(), "may be at most 650ms") {
		t.Errorf("the refusal does not name the bound: %s", p.stderr)
	}
	p = startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "-grace", "650ms", "-on-exit", "exit", "--", "true")...)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("a grace that fits: exit code %d, want 0\n%s", code, p.stderr)
	}
}

func TestTimingDefaults(t *testing.T) {
	ro, msg := (&cli{getenv: func(string) string { return "" }}).parseRun(&options{store: "mem://", timeout: time.Second, workerTimeout: time.Minute}, []string{"-job", "j", "true"})
	if msg != "" {
		t.Fatal(msg)
	}
	if want := 3250 * time.Millisecond; ro.grace != want {
		t.Errorf("default grace %v at the engine's defaults, want %v", ro.grace, want)
	}
	tm := timingOf(ro.cfg)
	if tm.maxGrace+tm.reserve+2*tm.report != ro.cfg.LeaseTimeout-ro.cfg.RenewDeadline {
		t.Errorf("grace %v + reserve %v + 2 reports %v != lease - renew deadline", tm.maxGrace, tm.reserve, tm.report)
	}
}

func TestRunCommandNotFound(t *testing.T) {
	p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "--", "/nonexistent/cmd")...)
	if code := p.wait(t, 5*time.Second); code != exitRunNotFound {
		t.Fatalf("exit code %d, want %d", code, exitRunNotFound)
	}
}

// A crash-looping command is restarted with a doubling back-off, and a
// stop while it waits exits 0.
func TestRunRestartsWithBackOff(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	t.Setenv("RUNS", runs)
	p := startRun(t, mem.New(mem.Options{}), append(fastRun, "-job", "j", "-restart-delay", "50ms", "--",
		"/bin/sh", "-c", `echo run >> "$RUNS"; exit 3`)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(runs)
		if strings.Count(string(b), "\n") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 runs in 10s\n%s", p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cancel()
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after a stop, want 0", code)
	}
	for _, want := range []string{"restarting in 50ms", "restarting in 100ms"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, p.stderr)
		}
	}
}

// Two processes: the leader's command runs, the follower's does not; the
// leader partitioned from the store loses its leadership, its command is
// stopped (exit code 75 with -on-exit exit) and dead before the
// follower's command starts.
func TestRunFailoverStopsOldCommandFirst(t *testing.T) {
	store := mem.New(mem.Options{})
	dir := t.TempDir()
	t.Setenv("DIR", dir)
	script := `echo "start $COORD_EPOCH $(date +%s%N)" >> "$DIR/log"; while :; do echo "tick $COORD_EPOCH $(date +%s%N)" >> "$DIR/log"; sleep 0.01; done`
	// Roomier timings than fastRun: under load the leader must keep its
	// leadership until the partition.
	timings := []string{"-heartbeat", "200ms", "-lease", "3s", "-renew-deadline", "1s"}
	viewA := faultstore.New(store, 1)
	a := startRun(t, viewA, append(timings, "-job", "j", "-worker-id", "a", "-on-exit", "exit", "--", "/bin/sh", "-c", script)...)
	waitFile(t, filepath.Join(dir, "log"), 30*time.Second)
	b := startRun(t, store, append(timings, "-job", "j", "-worker-id", "b", "--", "/bin/sh", "-c", script)...)
	viewA.Partition(0)
	if code := a.wait(t, 20*time.Second); code != exitRunLost {
		t.Fatalf("the partitioned leader exited %d, want %d\n%s", code, exitRunLost, a.stderr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readString(filepath.Join(dir, "log")), "start 2 ") {
		if time.Now().After(deadline) {
			t.Fatalf("the follower did not take over\n%s", b.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lastTick1, start2 int64
	for _, l := range strings.Split(readString(filepath.Join(dir, "log")), "\n") {
		var kind string
		var epoch, at int64
		if _, err := fmt.Sscan(l, &kind, &epoch, &at); err != nil {
			continue
		}
		switch {
		case epoch == 1 && kind == "tick":
			lastTick1 = max(lastTick1, at)
		case epoch == 2 && kind == "start" && start2 == 0:
			start2 = at
		}
	}
	if lastTick1 == 0 || start2 <= lastTick1 {
		t.Fatalf("epoch 1 ticked at %d, after epoch 2 started at %d", lastTick1, start2)
	}
	t.Logf("old command's last tick to the new one's start: %v", time.Duration(start2-lastTick1))
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// -once: beside a live holder the command does not run and coordctl
// exits 0 after -timeout; without one, it runs and its code is the exit
// code.
func TestRunOnce(t *testing.T) {
	store := mem.New(mem.Options{})
	dir := t.TempDir()
	t.Setenv("DIR", dir)
	holder := startRun(t, store, append(fastRun, "-job", "nightly", "-worker-id", "a", "--", "/bin/sh", "-c", `echo a > "$DIR/a"; exec sleep 1000`)...)
	waitFile(t, filepath.Join(dir, "a"), 10*time.Second)
	other := startRun(t, store, append(fastRun, "-job", "nightly", "-worker-id", "b", "-once", "-timeout", "2s", "--", "/bin/sh", "-c", `echo b > "$DIR/b"`)...)
	if code := other.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("-once beside a holder exited %d, want 0\n%s", code, other.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); err == nil {
		t.Fatal("-once ran the command beside a live holder")
	}
	holder.cancel()
	holder.wait(t, 10*time.Second)
	once := startRun(t, store, append(fastRun, "-job", "nightly", "-worker-id", "c", "-once", "--", "/bin/sh", "-c", `exit 4`)...)
	if code := once.wait(t, 10*time.Second); code != 4 {
		t.Fatalf("-once after the holder released exited %d, want 4 (the command's)\n%s", code, once.stderr)
	}
}

// coordctl killed -9 or frozen: the guard kills the command's group
// within LeaseTimeout - RenewDeadline - reserve of the last moment
// coordctl knew it led, before any successor may start.
func TestRunGuardOutlivesCoordctl(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pid")
			cmd := exec.Command(os.Args[0], append(append([]string{"run", "-store", "bolt://" + filepath.Join(dir, "db")}, fastRun...),
				"-job", "j", "--", "/bin/sh", "-c", `sleep 1000 & echo $! > "$PIDFILE"; wait`)...)
			cmd.Env = append(os.Environ(), "PIDFILE="+pidFile)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGCONT)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			pid := readPid(t, pidFile)
			at := time.Now()
			_ = cmd.Process.Signal(sig)
			bound := 750 * time.Millisecond // budget - reserve after coordctl's last report
			// The bound is measured by the chaos runs; here the guard must
			// kill at all (without it the grandchild lives on), with room
			// for a loaded machine's scheduling.
			deadline := at.Add(bound + 10*time.Second)
			for !gone(pid) && !zombie(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("grandchild %d alive %v after coordctl got %v\n%s", pid, time.Since(at), sig, &stderr)
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("grandchild dead %v after %v to coordctl (bound %v after its last report)\n%s", time.Since(at).Round(time.Millisecond), sig, bound, &stderr)
		})
	}
}

// zombie reports whether pid has exited and awaits its reaper (a frozen
// coordctl, its subreaper, cannot reap it).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
