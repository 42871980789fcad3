package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *FaultProxy {
	t.Helper()
	p, err := NewFaultProxy(echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip sends a line through the proxy and reads the echo, with a
// deadline.
func roundTrip(c net.Conn, within time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo mismatch: " + line)
	}
	return nil
}

// dialAndRoundTrip connects and round-trips a line; a connection reset
// can already fail the dial.
func dialAndRoundTrip(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, 5*time.Second)
}

func TestFaultProxy(t *testing.T) {
	p := newProxy(t)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("faithful proxy: %v", err)
	}

	p.SetFault(Fault{Latency: 50 * time.Millisecond})
	start := time.Now()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("latency: %v", err)
	}
	if took := time.Since(start); took < 100*time.Millisecond { // once each way
		t.Errorf("round trip with 50ms latency each way took %v", took)
	}

	p.SetFault(Fault{Blackhole: true})
	var ne net.Error
	if err := roundTrip(c, 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blackhole: got %v, want a timeout", err)
	}

	p.SetFault(Fault{ResetRate: 1})
	if err := roundTrip(c, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset on an open connection: got %v, want ECONNRESET", err)
	}
	if err := dialAndRoundTrip(p.Addr()); err == nil {
		t.Fatal("reset on a new connection: round trip succeeded")
	}

	p.SetFault(Fault{DropRate: 1})
	if err := dialAndRoundTrip(p.Addr()); err == nil {
		t.Fatal("drop: round trip succeeded")
	}

	p.SetFault(Fault{})
	c4, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if err := roundTrip(c4, 5*time.Second); err != nil {
		t.Fatalf("healed: %v", err)
	}
	if p.Reset.Load() < 2 || p.Dropped.Load() < 1 {
		t.Errorf("counters: reset %d, dropped %d", p.Reset.Load(), p.Dropped.Load())
	}
}

func TestFaultProxyResetAll(t *testing.T) {
	p := newProxy(t)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.ResetAll()
	if err := roundTrip(c, 5*time.Second); err == nil {
		t.Fatal("connection survived ResetAll")
	}
}

func TestLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.jsonl")
	r := NewLogReader(path)
	if lines, err := r.Next(); err != nil || len(lines) != 0 {
		t.Fatalf("missing file: %v, %v", lines, err)
	}
	w, err := CreateLog(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Line{Kind: KindStart, Worker: "w0-0", PID: 7, Plugin: "alpha", Epoch: 3, At: 1_700_000_000_123_456_789}
	if err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	// A partial line (a writer killed mid-write) is held back.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"kind":"end",`); err != nil {
		t.Fatal(err)
	}
	lines, err := r.Next()
	if err != nil || len(lines) != 1 {
		t.Fatalf("got %v, %v", lines, err)
	}
	want.AtWall = Wall(want.At)
	if lines[0] != want {
		t.Errorf("got %+v, want %+v", lines[0], want)
	}
	if _, err := f.WriteString(`"worker":"w0-0","plugin":"alpha","epoch":3,"at":5}` + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w.Close()
	lines, err = r.Next()
	if err != nil || len(lines) != 1 || lines[0].Kind != KindEnd || lines[0].At != 5 {
		t.Fatalf("completed line: %+v, %v", lines, err)
	}
}
