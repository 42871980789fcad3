package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
)

// TestLockContention opens the same file twice in one process: flock locks
// belong to open files, so the second Open contends like another process
// would. Time is virtual, so the bounded wait is measured exactly.
func TestLockContention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coord.db")
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		wantWait time.Duration
	}{
		{"default", 0, bolt.DefaultLockTimeout},
		{"explicit", 300 * time.Millisecond, 300 * time.Millisecond},
		{"no wait", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				first, err := bolt.Open(path, bolt.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer first.Close()

				start := time.Now()
				second, err := bolt.Open(path, bolt.Options{LockTimeout: tc.timeout})
				waited := time.Since(start)
				if err == nil {
					second.Close()
					t.Fatal("second Open of a locked file succeeded")
				}
				if !errors.Is(err, bolt.ErrLocked) {
					t.Fatalf("second Open: %v, want an error for which errors.Is(err, bolt.ErrLocked) holds", err)
				}
				if !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not say that %s is in use by another process", err, path)
				}
				// bbolt polls the lock every 50ms.
				if waited < tc.wantWait-50*time.Millisecond || waited > tc.wantWait+50*time.Millisecond {
					t.Errorf("waited %v for the lock, want about %v", waited, tc.wantWait)
				}
			})
		})
	}
}

// TestLockAcrossProcesses holds the file in a child process, checks that
// Open fails with ErrLocked, then lets the child exit without Close and
// checks that the lock is gone and the child's committed write survived.
func TestLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv("COORD_BOLT_HOLD"); path != "" {
		holdAndExit(path)
		return
	}
	path := filepath.Join(t.TempDir(), "coord.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "COORD_BOLT_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var version string
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "ready %s", &version); err != nil {
			t.Fatalf("child said %q, want \"ready <version>\"", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child did not open the store within 30s")
	}

	_, err = bolt.Open(path, bolt.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("Open while another process holds the file: %v, want ErrLocked", err)
	}

	stdin.Close() // the child exits without closing its store
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	st, err := bolt.Open(path, bolt.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	defer st.Close()
	o, err := st.Get(t.Context(), "held/key")
	if err != nil {
		t.Fatalf("the child's committed write is gone: %v", err)
	}
	if string(o.Data) != "from child" || o.Version != version {
		t.Errorf("Get = %q@%s, want %q@%s", o.Data, o.Version, "from child", version)
	}
}

// holdAndExit runs in the child: open, write, report, wait for stdin to
// close, exit without Close.
func holdAndExit(path string) {
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	v, err := st.Put(context.Background(), "held/key", []byte("from child"), driver.None)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("ready %s\n", v)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
