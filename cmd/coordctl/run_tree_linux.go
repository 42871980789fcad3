package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The process tree of one run of CMD: CMD and every descendant, whatever
// sessions and process groups it creates. Two ways to hold it:
//
//   - a cgroup v2 of its own, created under coordctl's cgroup, into which
//     the guard starts CMD (clone3 CLONE_INTO_CGROUP). Every descendant is
//     born in it and only a privileged write to another cgroup.procs moves
//     one out; cgroup.kill SIGKILLs all at once, and the tree is gone when
//     cgroup.procs lists no live process.
//   - otherwise the guard is a child subreaper: an orphaned descendant is
//     reparented to it, never to init, so the tree is exactly the guard's
//     descendants, found by a walk of /proc (PPid chains). A kill walks and
//     signals until a walk finds none alive.

// treeEnv set to "proc" makes coordctl run use the /proc walk even where
// it could create a cgroup.
const treeEnv = "COORD_RUN_TREE"

// cgroupBase returns the cgroup v2 directory of this process when a run
// may create its cgroup below it, or "" and why not.
func cgroupBase() (string, string) {
	if os.Getenv(treeEnv) == "proc" {
		return "", treeEnv + "=proc"
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err.Error()
	}
	var rel string
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			rel, found = p, true
		}
	}
	if !found {
		return "", "no cgroup v2 membership"
	}
	mnt := cgroup2Mount()
	if mnt == "" {
		return "", "no cgroup2 mount"
	}
	dir := filepath.Join(mnt, rel)
	probe := filepath.Join(dir, fmt.Sprintf("coordctl-run-%d-probe", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return "", "cannot create a cgroup under " + dir + ": " + err.Error()
	}
	defer os.Remove(probe)
	if _, err := os.Stat(filepath.Join(probe, "cgroup.kill")); err != nil {
		return "", "no cgroup.kill (kernel before 5.14?)"
	}
	return dir, ""
}

func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}

// procInfo is what the walk reads of one process.
type procInfo struct {
	pid, ppid int
	zombie    bool
}

func readProcs() []procInfo {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	out := make([]procInfo, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(s[i+1:]) // state ppid ...
	if len(f) < 2 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return procInfo{pid: pid, ppid: ppid, zombie: f[0] == "Z" || f[0] == "X"}, true
}

// liveGuards are the guards of this process's runs, left out of the walk
// of another run's leftovers.
var liveGuards sync.Map // pid → struct{}

// descendants returns the descendants of root, live and zombie, leaving
// out the subtrees of liveGuards other than root.
func descendants(root int) (live, zombies []int) {
	children := make(map[int][]procInfo)
	for _, p := range readProcs() {
		children[p.ppid] = append(children[p.ppid], p)
	}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if _, ok := liveGuards.Load(c.pid); ok && c.pid != root {
				continue
			}
			if c.zombie {
				zombies = append(zombies, c.pid)
			} else {
				live = append(live, c.pid)
			}
			queue = append(queue, c.pid)
		}
	}
	return live, zombies
}

// cgroupLive returns the processes of cgroup dir that have not exited.
func cgroupLive(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var live []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		if p, ok := readProc(pid); ok && !p.zombie {
			live = append(live, pid)
		}
	}
	return live
}

// signalTree sends sig to every live process of the tree below root (and
// in cgroup dir, when set; root 0 or less: the cgroup only) and returns
// how many it found.
func signalTree(dir string, root int, sig syscall.Signal) int {
	var live []int
	if root > 0 {
		live, _ = descendants(root)
	}
	if dir != "" {
		if sig == syscall.SIGKILL {
			_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
		}
		live = append(live, cgroupLive(dir)...)
	}
	for _, pid := range live {
		_ = syscall.Kill(pid, sig)
	}
	return len(live)
}

// killTree SIGKILLs the tree below root (and cgroup dir) until a walk
// finds none alive, reaping the zombies that are root's own children
// when reap (root is this process). It gives up at deadline (a process
// in uninterruptible sleep), reporting false.
func killTree(dir string, root int, reap bool, deadline time.Time) bool {
	for {
		n := signalTree(dir, root, syscall.SIGKILL)
		if reap && root > 0 {
			_, zombies := descendants(root)
			for _, z := range zombies {
				_, _ = syscall.Wait4(z, nil, syscall.WNOHANG, nil)
			}
		}
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newCgroup creates the cgroup of one run below base.
func newCgroup(base string, n int) (string, error) {
	dir := filepath.Join(base, fmt.Sprintf("coordctl-run-%d-%d", os.Getpid(), n))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	return dir, nil
}

// removeCgroup removes a run's cgroup once it is empty.
func removeCgroup(dir string) {
	if dir == "" {
		return
	}
	for range 100 {
		if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(5 * time.Millisecond) // zombies not yet reaped
	}
}
