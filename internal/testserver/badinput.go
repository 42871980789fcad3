package testserver

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
)

// StoreCall is one call of a driver.Store method that reaches the server.
type StoreCall struct {
	Name string // "Get", "PutIfAbsent", …
	Op   string // the operation its errors name: "get", "put", "delete", "list"
	Do   func(ctx context.Context, st driver.Store) error
}

// StoreCalls are one call of each kind a coordinator makes: Get, Put with
// each condition, unconditional Delete and List, all on the key "k" (or
// the empty prefix).
var StoreCalls = []StoreCall{
	{"Get", "get", func(ctx context.Context, st driver.Store) error { _, err := st.Get(ctx, "k"); return err }},
	{"Put", "put", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.None)
		return err
	}},
	{"PutIfAbsent", "put", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.IfAbsent())
		return err
	}},
	{"PutIfMatch", "put", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.IfMatch("0123456789abcdef0123456789abcdef"))
		return err
	}},
	{"Delete", "delete", func(ctx context.Context, st driver.Store) error { return st.Delete(ctx, "k", driver.None) }},
	{"List", "list", func(ctx context.Context, st driver.Store) error { _, err := st.List(ctx, ""); return err }},
}

// CheckFailsWith runs every StoreCall on st, each bounded by limit, and
// checks that each fails with one *driver.OpError naming its operation,
// for which errors.Is(err, kind) holds and which is neither ErrNotFound
// nor ErrPrecondition (a misconfigured store must never look like a
// missing key or a lost race), and whose message contains every string of
// mention. It returns the errors by call name.
func CheckFailsWith(t *testing.T, st driver.Store, limit time.Duration, kind error, mention ...string) map[string]error {
	t.Helper()
	errs := make(map[string]error)
	for _, c := range StoreCalls {
		ctx, cancel := context.WithTimeout(t.Context(), limit)
		start := time.Now()
		err := c.Do(ctx, st)
		took := time.Since(start)
		cancel()
		errs[c.Name] = err
		if err == nil {
			t.Errorf("%s succeeded, want an error for which errors.Is(err, %v) holds", c.Name, kind)
			continue
		}
		if took >= limit {
			t.Errorf("%s took %v (the limit): it should have failed on its own", c.Name, took)
		}
		if !errors.Is(err, kind) {
			t.Errorf("%s: %v, want an error for which errors.Is(err, %v) holds", c.Name, err, kind)
		}
		if errors.Is(err, driver.ErrNotFound) || errors.Is(err, driver.ErrPrecondition) {
			t.Errorf("%s: %v also reads as ErrNotFound or ErrPrecondition", c.Name, err)
		}
		var op *driver.OpError
		if !errors.As(err, &op) || op.Op != c.Op {
			t.Errorf("%s: %v is not an *driver.OpError of operation %q", c.Name, err, c.Op)
		} else if errors.As(op.Err, new(*driver.OpError)) {
			t.Errorf("%s: %v is wrapped in two OpErrors", c.Name, err)
		}
		for _, m := range mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: %q does not mention %q", c.Name, err, m)
			}
		}
	}
	return errs
}

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
