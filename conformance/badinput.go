package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
)

// The bad-input rules: a store that cannot be used (its bucket is
// missing, its credentials are refused, its endpoint cannot be reached)
// must say so with the sentinel for it, on every call, promptly, and
// never in a way that reads as a missing key or a lost race. A harness
// opts in by implementing the optional interfaces below (in the style of
// gocloud's drivertest MakeDriverForNonexistentBucket); a harness without
// one gets the rule skipped, with the reason.

// BadStore is a store the harness made unusable on purpose, with what its
// errors must mention.
type BadStore struct {
	Store driver.Store
	// Mention lists strings every error message must contain: the bucket
	// name, the endpoint (never a secret).
	Mention []string
	// Limit bounds one call (its retries included); 0 means
	// DefaultBadInputLimit. A call that reaches the limit fails the rule:
	// it must fail on its own.
	Limit time.Duration
}

// DefaultBadInputLimit bounds one call in the bad-input rules.
const DefaultBadInputLimit = 20 * time.Second

// MissingBucketHarness is an optional Harness for stores with buckets (or
// an equivalent container). The suite's rule "BadInput/MissingBucket"
// checks that every call fails with driver.ErrBucketNotFound and that the
// bucket is not created.
type MissingBucketHarness interface {
	// MakeStoreMissingBucket returns a store on a bucket that does not
	// exist.
	MakeStoreMissingBucket(ctx context.Context, t *testing.T) (BadStore, error)
}

// BadCredentialsHarness is an optional Harness for stores with
// credentials. The rule "BadInput/BadCredentials" checks that every call
// fails with driver.ErrAccessDenied and that no message shows the secret.
type BadCredentialsHarness interface {
	// MakeStoreBadCredentials returns a store on an existing bucket with
	// credentials the server refuses, and the secret it was given.
	MakeStoreBadCredentials(ctx context.Context, t *testing.T) (st BadStore, secret string, err error)
}

// UnreachableHarness is an optional Harness for stores behind a network.
// The rule "BadInput/Unreachable" checks that every call fails with
// driver.ErrUnreachable and that nothing is counted as sent.
type UnreachableHarness interface {
	// MakeStoreUnreachable returns a store whose endpoint accepts no
	// connection (a loopback port that was opened and closed again).
	MakeStoreUnreachable(ctx context.Context, t *testing.T) (BadStore, error)
}

// StoreCall is one call of a driver.Store method that reaches the server.
type StoreCall struct {
	Name string // "Get", "PutIfAbsent", …
	Op   string // the operation its errors name: "get", "put", "delete", "list"
	Key  string // the key (or prefix) its errors carry
	Do   func(ctx context.Context, st driver.Store) error
}

// StoreCalls are one call of each kind a coordinator makes: Get, Put with
// each condition, unconditional Delete and List, on the key "k" (or the
// empty prefix).
var StoreCalls = []StoreCall{
	{"Get", "get", "k", func(ctx context.Context, st driver.Store) error { _, err := st.Get(ctx, "k"); return err }},
	{"Put", "put", "k", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.None)
		return err
	}},
	{"PutIfAbsent", "put", "k", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.IfAbsent())
		return err
	}},
	{"PutIfMatch", "put", "k", func(ctx context.Context, st driver.Store) error {
		_, err := st.Put(ctx, "k", []byte("x"), driver.IfMatch("0123456789abcdef0123456789abcdef"))
		return err
	}},
	{"Delete", "delete", "k", func(ctx context.Context, st driver.Store) error { return st.Delete(ctx, "k", driver.None) }},
	{"List", "list", "", func(ctx context.Context, st driver.Store) error { _, err := st.List(ctx, ""); return err }},
}

// CheckFailsWith runs every StoreCall on st, each bounded by limit, and
// checks that each fails, before the limit, with an error for which
// errors.Is(err, kind) holds, that is neither ErrNotFound nor
// ErrPrecondition (a misconfigured store must never look like a missing
// key or a lost race), that is wrapped once in a *driver.OpError naming
// its operation and key, and whose message contains every string of
// mention. It returns the errors by call name, for driver-specific checks
// of the native errors.
func CheckFailsWith(t T, st driver.Store, limit time.Duration, kind error, mention ...string) map[string]error {
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
		checkWrapped(t, err, c.Op, c.Key)
		for _, m := range mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: %q does not mention %q", c.Name, err, m)
			}
		}
	}
	return errs
}

// badStore checks what the harness made, closes it when t ends, and
// returns it with its limit.
func badStore(t *testing.T, bs BadStore, err error) BadStore {
	t.Helper()
	if err != nil {
		t.Fatalf("making the bad store: %v", err)
	}
	if bs.Store == nil {
		t.Fatal("the harness returned a nil bad store")
	}
	t.Cleanup(func() { _ = bs.Store.Close() })
	if bs.Limit <= 0 {
		bs.Limit = DefaultBadInputLimit
	}
	return bs
}

func (s *suite) testMissingBucket(t *testing.T) {
	h, ok := s.h.(MissingBucketHarness)
	if !ok {
		t.Skip("the harness does not implement conformance.MissingBucketHarness")
	}
	bs, err := h.MakeStoreMissingBucket(t.Context(), t)
	bs = badStore(t, bs, err)
	CheckFailsWith(t, bs.Store, bs.Limit, driver.ErrBucketNotFound, bs.Mention...)
	// The writes must not have created the bucket.
	if _, err := bs.Store.Get(t.Context(), "k"); !errors.Is(err, driver.ErrBucketNotFound) {
		t.Errorf("after the calls, Get: %v, want ErrBucketNotFound still (a write created the bucket?)", err)
	}
}

func (s *suite) testBadCredentials(t *testing.T) {
	h, ok := s.h.(BadCredentialsHarness)
	if !ok {
		t.Skip("the harness does not implement conformance.BadCredentialsHarness")
	}
	bs, secret, err := h.MakeStoreBadCredentials(t.Context(), t)
	bs = badStore(t, bs, err)
	errs := CheckFailsWith(t, bs.Store, bs.Limit, driver.ErrAccessDenied, bs.Mention...)
	for name, err := range errs {
		if secret != "" && err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the message shows the secret: %v", name, err)
		}
	}
}

func (s *suite) testUnreachable(t *testing.T) {
	h, ok := s.h.(UnreachableHarness)
	if !ok {
		t.Skip("the harness does not implement conformance.UnreachableHarness")
	}
	bs, err := h.MakeStoreUnreachable(t.Context(), t)
	bs = badStore(t, bs, err)
	before, counting := driver.RequestsOf(bs.Store)
	CheckFailsWith(t, bs.Store, bs.Limit, driver.ErrUnreachable, bs.Mention...)
	if after, _ := driver.RequestsOf(bs.Store); counting && after.Sub(before).Total() != 0 {
		t.Errorf("%v counted, want none: no request reached a server", after.Sub(before))
	}
}
