package conformance

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/s3coord/coord/driver"
)

// invalidKeys break a rule of driver.ValidateKey each.
var invalidKeys = map[string]string{
	"empty":            "",
	"too long":         strings.Repeat("k", driver.MaxKeyLen+1),
	"invalid UTF-8":    "bad/\xff\xfe",
	"NUL":              "a\x00b",
	"newline":          "a\nb",
	"DEL":              "a\x7fb",
	"C1 control":       "a\u0085b",
	"dot":              ".",
	"dot-dot":          "..",
	"dot segment":      "a/./b",
	"dot-dot segment":  "a/../b",
	"leading dot-dot":  "../a",
	"trailing dot-dot": "a/..",
	"leading slash":    "/a",
	"empty segment":    "a//b",
	"trailing slash":   "a/",
}

// invalidPrefixes break a rule of driver.ValidatePrefix each.
var invalidPrefixes = map[string]string{
	"too long":        strings.Repeat("p", driver.MaxKeyLen+1),
	"invalid UTF-8":   "\xff",
	"control":         "a\tb",
	"dot-dot segment": "a/../",
	"leading slash":   "/a",
	"empty segment":   "a//",
}

func (r *rules) testInvalidKeys(t T, st driver.Store) {
	before, counting := driver.RequestsOf(st)
	// Each error must be ErrInvalidKey wrapped once, with the operation
	// and the key as given.
	check := func(what, op, why, key string, err error) {
		t.Helper()
		if !errors.Is(err, driver.ErrInvalidKey) {
			t.Errorf("%s with an invalid key (%s, %q): %v, want an error for which errors.Is(err, driver.ErrInvalidKey) holds", what, why, short([]byte(key)), err)
			return
		}
		checkWrapped(t, err, op, key)
	}
	for why, k := range invalidKeys {
		_, err := st.Get(t.Context(), k)
		check("Get", "get", why, k, err)
		for _, c := range []driver.Condition{driver.None, driver.IfAbsent(), driver.IfMatch("1")} {
			_, err = st.Put(t.Context(), k, []byte("x"), c)
			check("Put "+c.String(), "put", why, k, err)
		}
		for _, c := range []driver.Condition{driver.None, driver.IfMatch("1")} {
			check("Delete "+c.String(), "delete", why, k, st.Delete(t.Context(), k, c))
		}
	}
	for why, p := range invalidPrefixes {
		_, err := st.List(t.Context(), p)
		check("List", "list", why, p, err)
	}
	if counting {
		after, _ := driver.RequestsOf(st)
		if d := after.Sub(before); d.Total() != 0 {
			t.Errorf("calls with invalid keys sent requests (%v); keys must be validated before any I/O", d)
		}
	}
	if res := list(t, st, ""); len(res.Entries) != 0 {
		t.Errorf("calls with invalid keys wrote %q", keysOf(res.Entries))
	}
}

func (r *rules) testValidKeys(t T, st driver.Store) {
	keys := []string{
		"dir/sub/file.json",
		"ünïcödé/ключ/鍵",
		"with space/and+plus",
		"a..b/.hidden/x.",
		"percent%20/question?/hash#/amp&",
		strings.Repeat("long/", 40) + "end",
	}
	for _, k := range keys {
		if err := driver.ValidateKey(k); err != nil {
			t.Fatalf("suite bug: %q is not a valid key: %v", k, err)
		}
		v := put(t, st, k, []byte(k), driver.IfAbsent())
		wantObject(t, st, k, []byte(k), v)
	}
	wantKeys(t, st, "", keys)
	for _, k := range keys {
		if err := st.Delete(t.Context(), k, driver.None); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
		wantMissing(t, st, k)
	}
}

func (r *rules) testReadAtCap(t T, st driver.Store) {
	const k = "read/at-cap"
	data := bytes.Repeat([]byte("c"), int(r.opts.maxRead()))
	v := put(t, st, k, data, driver.None)
	o := get(t, st, k)
	if !bytes.Equal(o.Data, data) || o.Version != v {
		t.Errorf("Get of an object of exactly MaxRead (%d) bytes returned %d bytes, version %q; want all bytes, version %q",
			len(data), len(o.Data), o.Version, v)
	}
}

func (r *rules) testReadTooLarge(t T, st driver.Store) {
	const k = "read/too-large"
	put(t, st, k, bytes.Repeat([]byte("x"), int(r.opts.maxRead())+1), driver.None)
	o, err := st.Get(t.Context(), k)
	wantErr(t, err, driver.ErrTooLarge, "get", k)
	if len(o.Data) != 0 {
		t.Errorf("Get of an oversize object returned %d bytes with the error", len(o.Data))
	}
}

// promptly is how long a call with a done context may take.
const promptly = 2 * time.Second

func (r *rules) testContextCanceled(t T, st driver.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r.checkDoneContext(t, st, ctx, context.Canceled)
}

func (r *rules) testContextDeadline(t T, st driver.Store) {
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	r.checkDoneContext(t, st, ctx, context.DeadlineExceeded)
}

// checkDoneContext checks that every call with a done ctx fails promptly
// with its error and changes nothing.
func (r *rules) checkDoneContext(t T, st driver.Store, ctx context.Context, want error) {
	const k = "ctx/existing"
	v := put(t, st, k, []byte("keep"), driver.None)
	calls := []struct {
		op, key string
		call    func() error
	}{
		{"get", k, func() error { _, err := st.Get(ctx, k); return err }},
		{"put", "ctx/new", func() error { _, err := st.Put(ctx, "ctx/new", []byte("x"), driver.None); return err }},
		{"put", "ctx/new", func() error { _, err := st.Put(ctx, "ctx/new", []byte("x"), driver.IfAbsent()); return err }},
		{"put", k, func() error { _, err := st.Put(ctx, k, []byte("x"), driver.IfMatch(v)); return err }},
		{"delete", k, func() error { return st.Delete(ctx, k, driver.None) }},
		{"list", "", func() error { _, err := st.List(ctx, ""); return err }},
	}
	if r.opts.ConditionalDelete {
		calls = append(calls, struct {
			op, key string
			call    func() error
		}{"delete", k, func() error { return st.Delete(ctx, k, driver.IfMatch(v)) }})
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		if d := time.Since(start); d > promptly {
			t.Errorf("%s with a done context took %v, want < %v", c.op, d, promptly)
		}
		wantErr(t, err, want, c.op, c.key)
	}
	wantObject(t, st, k, []byte("keep"), v)
	wantMissing(t, st, "ctx/new")
}

func (r *rules) testClose(t T, st driver.Store) {
	const k = "close/x"
	v := put(t, st, k, []byte("x"), driver.None)
	// Nothing is left behind: the suite cannot clean a closed store.
	if err := st.Delete(t.Context(), k, driver.None); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	before, counting := driver.RequestsOf(st)
	ctx := t.Context()
	_, err := st.Get(ctx, k)
	wantErr(t, err, driver.ErrClosed, "get", k)
	_, err = st.Put(ctx, k, []byte("y"), driver.None)
	wantErr(t, err, driver.ErrClosed, "put", k)
	_, err = st.Put(ctx, k, []byte("y"), driver.IfMatch(v))
	wantErr(t, err, driver.ErrClosed, "put", k)
	wantErr(t, st.Delete(ctx, k, driver.None), driver.ErrClosed, "delete", k)
	_, err = st.List(ctx, "")
	wantErr(t, err, driver.ErrClosed, "list", "")
	if counting {
		after, _ := driver.RequestsOf(st)
		if d := after.Sub(before); d.Total() != 0 {
			t.Errorf("calls after Close sent requests (%v)", d)
		}
	}
	_ = st.Close() // a second Close must not panic
}

// CheckRequestCounts checks the request accounting of st, a fresh store
// (or a fresh prefix of one) that no one else uses while it runs: a fixed
// mix of calls, hits and misses, successes and failed conditions, must
// be counted class by class, every call once, or between once and
// maxAttempts times when the driver retries (maxAttempts > 1). It is the
// suite's rule "Requests/Counts"; a driver that does not implement
// driver.RequestCounter fails it.
func CheckRequestCounts(t T, st driver.Store, maxAttempts int, conditionalDelete bool) {
	r := &rules{opts: Options{MaxAttempts: maxAttempts, ConditionalDelete: conditionalDelete}}
	r.testRequestCounts(t, st)
}

func (r *rules) testRequestCounts(t T, st driver.Store) {
	c0, ok := driver.RequestsOf(st)
	if !ok {
		t.Fatalf("%T does not implement driver.RequestCounter; every driver must count its requests", st)
	}
	ctx := t.Context()
	var want driver.Counts

	// PUT: successes and failed conditions are both billed.
	v1 := put(t, st, "req/a", []byte("1"), driver.None)
	v2 := put(t, st, "req/a", []byte("2"), driver.IfMatch(v1))
	if _, err := st.Put(ctx, "req/a", []byte("3"), driver.IfMatch(v1)); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stale IfMatch Put: %v, want ErrPrecondition", err)
	}
	vb := put(t, st, "req/b", []byte("b"), driver.IfAbsent())
	if _, err := st.Put(ctx, "req/b", []byte("b2"), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("IfAbsent Put on an existing key: %v, want ErrPrecondition", err)
	}
	want.Put = 5

	// GET: hits and misses.
	get(t, st, "req/a")
	if _, err := st.Get(ctx, "req/missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get(missing): %v, want ErrNotFound", err)
	}
	want.Get = 2

	// LIST
	list(t, st, "")
	list(t, st, "req/")
	list(t, st, "none/")
	want.List = 3

	// DELETE
	if err := st.Delete(ctx, "req/a", driver.None); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := st.Delete(ctx, "req/missing", driver.None); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	want.Delete = 2
	if r.opts.ConditionalDelete {
		if err := st.Delete(ctx, "req/b", driver.IfMatch(v2)); !errors.Is(err, driver.ErrPrecondition) {
			t.Fatalf("stale conditional Delete: %v, want ErrPrecondition", err)
		}
		if err := st.Delete(ctx, "req/b", driver.IfMatch(vb)); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		want.Delete += 2
	}

	c1, _ := driver.RequestsOf(st)
	got := c1.Sub(c0)
	attempts := uint64(max(r.opts.MaxAttempts, 1))
	for _, class := range driver.Classes() {
		n, lo := got.Of(class), want.Of(class)
		hi := lo * attempts
		switch {
		case attempts == 1 && n != lo:
			t.Errorf("%s requests counted = %d, want %d (one per call)", class, n, lo)
		case n < lo || n > hi:
			t.Errorf("%s requests counted = %d, want between %d and %d (every attempt, at most %d per call)", class, n, lo, hi, attempts)
		}
	}
}
