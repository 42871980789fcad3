package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// These tests run coordctl as users do: a process of its own (the test
// binary acting as coordctl, see TestMain) on a bolt file, driven by
// kill(2).

// roomy are timings that keep a leadership on a loaded machine:
// LeaseTimeout - RenewDeadline = 2s, so the largest grace is 1.3s.
var roomy = []string{"-heartbeat", "200ms", "-lease", "3s", "-renew-deadline", "1s"}

type realRun struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// startReal starts "coordctl run -store bolt://DIR/db args..." as a
// process; env is added to its environment.
func startReal(t *testing.T, db string, stdin string, env []string, args ...string) *realRun {
	t.Helper()
	r := &realRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(os.Args[0], append([]string{"run", "-store", "bolt://" + db}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	r.cmd.WaitDelay = 5 * time.Second // a surviving descendant holds the pipes
	if stdin != "" {
		r.cmd.Stdin = strings.NewReader(stdin)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *realRun) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, sig); err != nil {
		t.Fatal(err)
	}
}

func (r *realRun) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(within):
		t.Fatalf("coordctl still running after %v\nstderr:\n%s", within, r.stderr)
		return -1
	}
}

// waitLog waits until coordctl's stderr holds s.
func (r *realRun) waitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(r.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in coordctl's log within %v:\n%s", s, within, r.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One SIGTERM (what systemd, Kubernetes and docker stop send) gives the
// command the full grace: a command that needs 300ms to stop cleanly
// does, and its code 0 is coordctl's.
func TestRunOneSIGTERMGivesFullGrace(t *testing.T) {
	dir := t.TempDir()
	r := startReal(t, filepath.Join(dir, "db"), "", []string{"DIR=" + dir}, append(roomy, "-job", "j", "-on-exit", "exit", "--",
		"/bin/sh", "-c", `trap 'sleep 0.3; echo clean > "$DIR/clean"; exit 0' TERM; echo $$ > "$DIR/ready"; while :; do sleep 0.05; done`)...)
	waitFile(t, filepath.Join(dir, "ready"), 30*time.Second)
	r.signal(t, syscall.SIGTERM)
	if code := r.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit code %d after one SIGTERM, want 0 (the command's)\n%s", code, r.stderr)
	}
	if readString(filepath.Join(dir, "clean")) != "clean\n" {
		t.Errorf("the command's clean shutdown was cut\n%s", r.stderr)
	}
	if strings.Contains(r.stderr.String(), "again") {
		t.Errorf("one SIGTERM counted twice:\n%s", r.stderr)
	}
}

// A second SIGTERM within the grace kills the tree at once.
func TestRunSecondSignalEscalates(t *testing.T) {
	dir := t.TempDir()
	r := startReal(t, filepath.Join(dir, "db"), "", []string{"DIR=" + dir}, append(roomy, "-job", "j", "-on-exit", "exit", "--",
		"/bin/sh", "-c", `trap '' TERM; echo $$ > "$DIR/ready"; while :; do sleep 0.05; done`)...)
	waitFile(t, filepath.Join(dir, "ready"), 30*time.Second)
	r.signal(t, syscall.SIGTERM)
	r.waitLog(t, "got terminated: stopping", 10*time.Second)
	at := time.Now()
	r.signal(t, syscall.SIGINT)
	if code := r.wait(t, 20*time.Second); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want %d\n%s", code, 128+int(syscall.SIGKILL), r.stderr)
	}
	if took := time.Since(at); took > time.Second {
		t.Errorf("the second signal took %v to kill (grace 1.3s)", took)
	}
}

// treePids waits for the 32 descendants of testdata/tree.sh and returns
// them.
func treePids(t *testing.T, dir string) []int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pids []int
		for _, f := range strings.Fields(readString(filepath.Join(dir, "pids"))) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= 32 {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 32 descendants started within 60s", len(pids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// survivors returns the pids still alive (zombies are dead) after
// waiting up to within for them to die.
func survivors(pids []int, within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		var alive []int
		for _, p := range pids {
			if !gone(p) && !zombie(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func treeScript(t *testing.T) []string {
	p, err := filepath.Abs("testdata/tree.sh")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"/bin/sh", p, "top"}
}

// Every descendant of the command dies, whatever sessions it made (a
// setsid grandchild, a double-forked daemon, a chain 30 deep, all
// ignoring SIGTERM), on a graceful stop, kill -9 or SIGSTOP of coordctl
// and a partition, with a cgroup and with the /proc walk.
func TestRunKillsTheWholeTree(t *testing.T) {
	for _, mode := range []string{"cgroup", "proc"} {
		for _, how := range []string{"graceful", "kill", "stop", "partition"} {
			t.Run(mode+"/"+how, func(t *testing.T) {
				if mode == "cgroup" {
					if base, why := cgroupBase(); base == "" {
						t.Skip("no cgroup v2 here:", why)
					}
				} else {
					t.Setenv(treeEnv, "proc")
				}
				dir := t.TempDir()
				t.Setenv("DIR", dir)
				bound := 10 * time.Second // scheduling on a loaded machine; the chaos runs measure
				if how == "partition" {
					view := faultstore.New(mem.New(mem.Options{}), 1)
					p := startRun(t, view, append(append(roomy, "-job", "j", "-on-exit", "exit", "--"), treeScript(t)...)...)
					pids := treePids(t, dir)
					view.Partition(0)
					if code := p.wait(t, 20*time.Second); code != exitRunLost {
						t.Errorf("exit code %d after the partition, want %d", code, exitRunLost)
					}
					if alive := survivors(pids, 0); len(alive) > 0 {
						t.Fatalf("%d of %d descendants alive after coordctl returned: %v\n%s", len(alive), len(pids), alive, p.stderr)
					}
					return
				}
				r := startReal(t, filepath.Join(dir, "db"), "", []string{"DIR=" + dir}, append(append(roomy, "-job", "j", "-on-exit", "exit", "--"), treeScript(t)...)...)
				pids := treePids(t, dir)
				switch how {
				case "graceful":
					r.signal(t, syscall.SIGTERM)
					if code := r.wait(t, 20*time.Second); code != 0 {
						t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, r.stderr)
					}
					if readString(filepath.Join(dir, "clean")) != "clean\n" {
						t.Errorf("the command's clean shutdown was cut")
					}
					bound = 0 // dead before coordctl exits
				case "kill":
					r.signal(t, syscall.SIGKILL)
				case "stop":
					r.signal(t, syscall.SIGSTOP)
				}
				if alive := survivors(pids, bound); len(alive) > 0 {
					t.Fatalf("%d of %d descendants alive: %v\n%s", len(alive), len(pids), alive, r.stderr)
				}
				if !strings.Contains(r.stderr.String(), "process tree: "+map[string]string{"cgroup": "a cgroup v2", "proc": "child subreaper"}[mode]) {
					t.Errorf("the log does not say which way the tree is held:\n%s", r.stderr)
				}
			})
		}
	}
}

// After a SIGSTOP past the lease, -on-exit exit exits 75 (the leadership
// ended), not the killed command's 137.
func TestRunExit75AfterSIGSTOP(t *testing.T) {
	for i := range 3 {
		dir := t.TempDir()
		r := startReal(t, filepath.Join(dir, "db"), "", []string{"DIR=" + dir}, append(fastRun, "-job", "j", "-on-exit", "exit", "--",
			"/bin/sh", "-c", `echo $$ > "$DIR/pid"; exec sleep 1000`)...)
		pid := readPid(t, filepath.Join(dir, "pid"))
		r.signal(t, syscall.SIGSTOP)
		if alive := survivors([]int{pid}, 20*time.Second); len(alive) > 0 {
			t.Fatal("the guard did not kill the command of a frozen coordctl")
		}
		time.Sleep(1500 * time.Millisecond) // past the lease
		r.signal(t, syscall.SIGCONT)
		if code := r.wait(t, 20*time.Second); code != exitRunLost {
			t.Fatalf("trial %d: exit code %d after SIGSTOP past the lease, want %d\n%s", i, code, exitRunLost, r.stderr)
		}
	}
}

// stdin passes through to the command.
func TestRunPassesStdin(t *testing.T) {
	dir := t.TempDir()
	r := startReal(t, filepath.Join(dir, "db"), "hello\nworld\n", nil, append(fastRun, "-job", "j", "-on-exit", "exit", "--", "cat")...)
	if code := r.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, r.stderr)
	}
	if got := r.stdout.String(); got != "hello\nworld\n" {
		t.Errorf("the command read %q from stdin, want %q", got, "hello\nworld\n")
	}
}

// -once after a holder was killed -9 mid-run: a later firing waits for
// the lease to expire and runs the command.
func TestRunOnceTakesOverACrashedHolder(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	a := startReal(t, db, "", []string{"DIR=" + dir}, append(fastRun, "-job", "nightly", "-once", "-once-key", "s1", "--",
		"/bin/sh", "-c", `echo $$ > "$DIR/a"; exec sleep 1000`)...)
	pid := readPid(t, filepath.Join(dir, "a"))
	a.signal(t, syscall.SIGKILL)
	a.wait(t, 10*time.Second)
	if alive := survivors([]int{pid}, 10*time.Second); len(alive) > 0 {
		t.Fatal("the crashed holder's command is alive")
	}
	b := startReal(t, db, "", []string{"DIR=" + dir}, append(fastRun, "-job", "nightly", "-once", "-once-key", "s1", "-timeout", "20s", "--",
		"/bin/sh", "-c", `echo ran > "$DIR/b"; exit 3`)...)
	if code := b.wait(t, 30*time.Second); code != 3 {
		t.Fatalf("-once after a crashed holder exited %d, want 3 (the command's)\n%s", code, b.stderr)
	}
	if readString(filepath.Join(dir, "b")) != "ran\n" {
		t.Error("the command did not run")
	}
}

// A firing that comes after the job completed for its slot does not run
// it again; another slot does.
func TestRunOnceCompletionRecord(t *testing.T) {
	store := mem.New(mem.Options{})
	dir := t.TempDir()
	t.Setenv("DIR", dir)
	for _, tc := range []struct {
		key  string
		want string
	}{{"2026-12-08T02:00", "1\n"}, {"2026-12-08T02:00", "1\n"}, {"2026-12-09T02:00", "1\n1\n"}} {
		p := startRun(t, store, append(fastRun, "-job", "nightly", "-once", "-once-key", tc.key, "--",
			"/bin/sh", "-c", `echo 1 >> "$DIR/runs"`)...)
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit code %d\n%s", code, p.stderr)
		}
		if got := readString(filepath.Join(dir, "runs")); got != tc.want {
			t.Fatalf("slot %s: runs %q, want %q\n%s", tc.key, got, tc.want, p.stderr)
		}
	}
}

// "coordctl run -h" prints run's usage only.
func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"run", "-h"}, &out, &errb)
	if code != 0 || !strings.HasPrefix(out.String(), "coordctl run [flags]") || strings.Contains(out.String(), "coordctl check") {
		t.Errorf("run -h: code %d, output:\n%s", code, out.String())
	}
}

// The other commands still stop at the first SIGTERM or SIGINT (main's
// context), now that main has the one handler.
func TestOtherCommandsStopOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "watch", "-interval", "50ms", "-store", "bolt://"+filepath.Join(dir, "db"))
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		// Its first line comes after main installed its handler.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "namespace default"); {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("watch printed nothing in 30s\n%s", &out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("watch still running 10s after %v\n%s", sig, &out)
		}
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
			t.Errorf("watch died of %v instead of handling it\n%s", ws.Signal(), &out)
		}
	}
}
