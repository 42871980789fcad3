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

// countingServer echoes like echoServer; when a connection ends it
// reports how many bytes it received on it. With oneShot it answers the
// first line and closes the connection.
func countingServer(t *testing.T, oneShot bool) (string, <-chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	received := make(chan int, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if oneShot {
					line, _ := bufio.NewReader(c).ReadString('\n')
					_, _ = c.Write([]byte(line))
					received <- len(line)
					return
				}
				n, _ := io.Copy(c, c)
				received <- int(n)
			}()
		}
	}()
	return ln.Addr().String(), received
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expectHeld checks that c, whose request went unanswered, is still
// open: a read waits out a short deadline.
func expectHeld(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(make([]byte, 64)); !isTimeout(err) {
		t.Fatalf("held connection: read got %v, want a timeout", err)
	}
}

// expectClosed checks that c is closed by the proxy within a generous
// deadline, and returns the read error.
func expectClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 64))
	if err == nil || isTimeout(err) {
		t.Fatalf("released connection: read got %v, want it closed", err)
	}
	return err
}

// closeWithin closes p and fails if Close (which waits for every
// goroutine of the proxy) does not return in time.
func closeWithin(t *testing.T, p *FaultProxy) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		_ = p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: a proxy goroutine is stuck")
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFaultProxyHang(t *testing.T) {
	for _, forward := range []bool{false, true} {
		t.Run(map[bool]string{false: "Swallowed", true: "Forwarded"}[forward], func(t *testing.T) {
			addr, received := countingServer(t, false)
			p, err := NewFaultProxy(addr, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(t, p)
			p.SetFault(Fault{HangRate: 1, HangForwards: forward})

			c := dial(t, p.Addr())
			if err := roundTrip(c, 200*time.Millisecond); !isTimeout(err) {
				t.Fatalf("unanswered request: got %v, want a timeout", err)
			}
			expectHeld(t, c)
			if p.Hung.Load() != 1 {
				t.Fatalf("Hung = %d, want 1", p.Hung.Load())
			}
			// Other settings keep the hold (and what it forwards);
			// turning the fault off releases it.
			p.SetFault(Fault{HangRate: 1, HangForwards: !forward})
			_ = c.SetWriteDeadline(time.Time{})
			if _, err := c.Write([]byte("more\n")); err != nil {
				t.Fatal(err)
			}
			expectHeld(t, c)
			p.SetFault(Fault{})
			if err := expectClosed(t, c); !errors.Is(err, io.EOF) {
				t.Fatalf("released connection: %v, want EOF (closed, not reset)", err)
			}
			want := 0
			if forward {
				want = len("ping\nmore\n")
			}
			select {
			case n := <-received:
				if n != want {
					t.Fatalf("server received %d bytes, want %d", n, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server's side of the held connection was not closed")
			}
			if err := dialAndRoundTrip(p.Addr()); err != nil {
				t.Fatalf("fault off: %v", err)
			}
		})
	}
}

// A held client hears nothing, not even the server closing its side.
func TestFaultProxyHangOutlivesServer(t *testing.T) {
	addr, received := countingServer(t, true)
	p, err := NewFaultProxy(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, p)
	p.SetFault(Fault{HangRate: 1, HangForwards: true})
	c := dial(t, p.Addr())
	if err := roundTrip(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("unanswered request: got %v, want a timeout", err)
	}
	select {
	case <-received: // the server answered and closed
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarded request did not reach the server")
	}
	expectHeld(t, c)
	p.SetFault(Fault{})
	expectClosed(t, c)
}

func TestFaultProxyHangReleasedByResetAll(t *testing.T) {
	p := newProxy(t)
	p.SetFault(Fault{HangRate: 1})
	c := dial(t, p.Addr())
	if err := roundTrip(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("unanswered request: got %v, want a timeout", err)
	}
	p.ResetAll()
	if err := expectClosed(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after ResetAll: %v, want ECONNRESET", err)
	}
	// Still on: the next request is held as well.
	c2 := dial(t, p.Addr())
	if err := roundTrip(c2, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("request after ResetAll: got %v, want a timeout", err)
	}
	if p.Hung.Load() != 2 {
		t.Fatalf("Hung = %d, want 2", p.Hung.Load())
	}
	closeWithin(t, p)
	expectClosed(t, c2)
}

// A client that half-closes a held connection is still held, and
// released like any other.
func TestFaultProxyHangAfterClientHalfClose(t *testing.T) {
	p, err := NewFaultProxy(echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.SetFault(Fault{HangRate: 1})
	c := dial(t, p.Addr())
	if err := roundTrip(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("unanswered request: got %v, want a timeout", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectHeld(t, c)
	closeWithin(t, p)
	expectClosed(t, c)
}

func TestFaultProxyHangReleasedByClose(t *testing.T) {
	p, err := NewFaultProxy(echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.SetFault(Fault{HangRate: 1, HangForwards: true})
	var conns []net.Conn
	for range 3 {
		c := dial(t, p.Addr())
		if err := roundTrip(c, 200*time.Millisecond); !isTimeout(err) {
			t.Fatalf("unanswered request: got %v, want a timeout", err)
		}
		conns = append(conns, c)
	}
	closeWithin(t, p)
	for _, c := range conns {
		expectClosed(t, c)
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
