package testserver

import (
	"net"
	"testing"
)

// The rules a store given bad input must follow (StoreCalls,
// CheckFailsWith) live in package conformance, behind its harness hooks;
// here are the servers that give the bad input.

// ClosedPort returns a loopback address on which nothing listens: a port
// the system handed out and that was closed again at once.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// SilentServer returns the loopback address of a server that accepts
// connections and never answers, and closes it when t ends.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			select {
			case conns <- c: // held open, unanswered
			default:
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
