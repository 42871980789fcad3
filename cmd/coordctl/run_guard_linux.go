package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// guard is the process between coordctl and CMD (see supervisor): the
// leader of CMD's process group and a child subreaper. It starts CMD (in
// the run's cgroup, with -cgroup), kills what is left of the tree when CMD
// exits (SIGTERM, SIGKILL after -grace), kills the whole tree at once when
// the deadline coordctl keeps moving (on fd 3) passes or coordctl closes
// the pipe (it escalates, or died), and exits once it has no child left,
// so that its exit means the tree is gone: with CMD's code, or 75 when the
// deadline passed.
func guard(c *cli, args []string) int {
	flags := flag.NewFlagSet("guard", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	grace := flags.Duration("grace", 0, "")
	first := flags.Int64("deadline", 0, "")
	cg := flags.String("cgroup", "", "")
	if err := flags.Parse(args); err != nil || flags.NArg() == 0 {
		return exitUsage
	}
	argv := flags.Args()
	syscall.CloseOnExec(3)
	// Deadlines coordctl sent while this process was starting (an exec is
	// slow on a loaded machine) count before the first check.
	deadline0 := drainDeadlines(3, *first)
	reports := os.NewFile(3, "deadline")
	setSubreaper()
	sigs := make(chan os.Signal, 4)
	// The group's SIGTERM/SIGINT reach CMD directly; the guard outlives
	// them to finish the job.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	var deadline atomic.Int64
	deadline.Store(deadline0)
	if monoNow() >= deadline0 {
		fmt.Fprintln(c.stderr, "coordctl run: the leadership was not confirmed in time; not starting", argv[0])
		return exitRunLost
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if *cg != "" {
		fd, err := syscall.Open(*cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintln(c.stderr, "coordctl run: guard: opening the run's cgroup:", err)
			return exitRunFailed
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(c.stderr, "coordctl run:", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return exitRunNotFound
		}
		return exitRunNoExec
	}
	main := cmd.Process.Pid

	moved := make(chan struct{}, 1)
	gone := make(chan struct{}) // coordctl closed the pipe or died
	go func() {
		var b [8]byte
		for {
			if _, err := io.ReadFull(reports, b[:]); err != nil {
				close(gone)
				return
			}
			if d := int64(binary.BigEndian.Uint64(b[:])); d > deadline.Load() {
				deadline.Store(d)
			}
			select {
			case moved <- struct{}{}:
			default:
			}
		}
	}()
	var status syscall.WaitStatus
	cmdDone := make(chan struct{})
	noChild := make(chan struct{})
	go func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				close(noChild)
				return
			}
			if pid == main {
				status = ws
				close(cmdDone)
			}
		}
	}()

	self := os.Getpid()
	var (
		graceUp  <-chan time.Time
		killing  bool
		lost     bool      // the deadline passed
		cmdEnded = cmdDone // never nil: closed when CMD was reaped
	)
	startGrace := func() {
		if graceUp == nil && !killing {
			graceUp = time.After(*grace)
		}
	}
	for {
		if killing {
			signalTree(*cg, self, syscall.SIGKILL)
		}
		wait := time.Duration(deadline.Load() - monoNow())
		if wait <= 0 && !killing {
			fmt.Fprintln(c.stderr, "coordctl run: guard: coordctl did not confirm the leadership in time; killing the process tree")
			killing, lost = true, true
			continue
		}
		if killing {
			wait = 5 * time.Millisecond
		}
		select {
		case <-noChild:
			// A subreaper without a child has no descendant left.
			removeCgroup(*cg)
			switch {
			case lost:
				return exitRunLost
			case isDone(cmdEnded):
				return waitCode(status)
			}
			return 128 + int(syscall.SIGKILL)
		case <-cmdDone:
			cmdDone = nil
			signalTree(*cg, self, syscall.SIGTERM)
			startGrace()
		case <-sigs:
			startGrace()
		case <-graceUp:
			killing = true
		case <-gone:
			gone = nil
			if !killing {
				fmt.Fprintln(c.stderr, "coordctl run: guard: coordctl closed the pipe (escalation, or it died); killing the process tree")
			}
			killing = true
		case <-moved:
		case <-time.After(wait):
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// drainDeadlines reads, without blocking, the 8-byte deadline reports
// already queued on fd and returns the latest of them and d. A report is
// one write of 8 bytes to a pipe, so it is read whole or not at all.
func drainDeadlines(fd int, d int64) int64 {
	if syscall.SetNonblock(fd, true) != nil {
		return d
	}
	defer syscall.SetNonblock(fd, false)
	var b [8]byte
	for {
		n, err := syscall.Read(fd, b[:])
		if err != nil || n != len(b) {
			return d
		}
		d = max(d, int64(binary.BigEndian.Uint64(b[:])))
	}
}
