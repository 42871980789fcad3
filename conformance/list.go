package conformance

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// paginationKeys is more than one S3 page (1,000 keys).
const paginationKeys = 1100

// writeParallelism bounds concurrent writes when the suite fills a store.
const writeParallelism = 32

func keysOf(es []driver.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

// putAll writes data under every key with bounded parallelism and returns
// the versions by key.
func putAll(t T, st driver.Store, keys []string, data func(key string) []byte) map[string]string {
	t.Helper()
	versions := make(map[string]string, len(keys))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	sem := make(chan struct{}, writeParallelism)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v, err := st.Put(t.Context(), k, data(k), driver.None)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("Put(%q): %w", k, err))
				return
			}
			versions[k] = v
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d writes failed; first: %v", len(errs), len(keys), errs[0])
	}
	return versions
}

// list lists prefix and fails the test on error.
func list(t T, st driver.Store, prefix string) driver.ListResult {
	t.Helper()
	res, err := st.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return res
}

// wantKeys checks that List(prefix) returns exactly want, in byte order.
func wantKeys(t T, st driver.Store, prefix string, want []string) driver.ListResult {
	t.Helper()
	res := list(t, st, prefix)
	got := keysOf(res.Entries)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		if len(got) > 20 || len(want) > 20 {
			t.Errorf("List(%q) returned %d keys (sorted: %v), want %d keys in byte order (first difference at %d)",
				prefix, len(got), slices.IsSorted(got), len(want), firstDiff(got, want))
		} else {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	return res
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func (r *rules) testListEmpty(t T, st driver.Store) {
	for _, p := range []string{"", "nothing/", "nothing"} {
		res := list(t, st, p)
		if len(res.Entries) != 0 {
			t.Errorf("List(%q) on a fresh store = %q, want nothing", p, keysOf(res.Entries))
		}
		if res.ServerTime.IsZero() {
			t.Errorf("List(%q) on a fresh store: ServerTime is zero", p)
		}
	}
}

func (r *rules) testListEntries(t T, st driver.Store) {
	start := time.Now()
	va := put(t, st, "e/a", []byte("12345"), driver.None)
	put(t, st, "e/b", nil, driver.None)
	vb := put(t, st, "e/b", []byte("xy"), driver.None)
	end := time.Now()
	res := wantKeys(t, st, "e/", []string{"e/a", "e/b"})
	want := map[string]struct {
		version string
		size    int64
	}{"e/a": {va, 5}, "e/b": {vb, 2}}
	for _, e := range res.Entries {
		w := want[e.Key]
		if e.Version != w.version {
			t.Errorf("entry %q: Version = %q, want %q (what Put returned)", e.Key, e.Version, w.version)
		}
		if e.Size != w.size {
			t.Errorf("entry %q: Size = %d, want %d", e.Key, e.Size, w.size)
		}
		// S3 reports LastModified with one-second resolution.
		if !within(e.Modified, start, end, r.opts.ClockSkew+time.Second) {
			t.Errorf("entry %q: Modified = %v, want within the writes [%v, %v] (skew %v, plus 1s resolution)",
				e.Key, e.Modified, start, end, r.opts.ClockSkew)
		}
	}
}

func (r *rules) testListPrefix(t T, st driver.Store) {
	keys := []string{"p/a", "p/b", "p/sub/c", "pa", "q/a", "p-x"}
	putAll(t, st, keys, func(k string) []byte { return []byte(k) })
	wantKeys(t, st, "p/", []string{"p/a", "p/b", "p/sub/c"})
	wantKeys(t, st, "p", []string{"p/a", "p/b", "p/sub/c", "pa", "p-x"})
	wantKeys(t, st, "p/sub/", []string{"p/sub/c"})
	wantKeys(t, st, "p/a", []string{"p/a"})
	wantKeys(t, st, "zz/", nil)
	wantKeys(t, st, "", keys)
}

func (r *rules) testListByteOrder(t T, st driver.Store) {
	// Byte order, not locale or path order: "-" < "." < "/" < "0" < "A" <
	// "a" < "~" < multi-byte UTF-8. No key is also a "directory" of
	// another, which file-backed servers cannot represent.
	keys := []string{"o/a-b", "o/a.b", "o/a/b", "o/a0", "o/A", "o/ab", "o/z", "o/~", "o/é", "o/ß", "o/Z"}
	putAll(t, st, keys, func(k string) []byte { return []byte(k) })
	wantKeys(t, st, "o/", keys)
}

func (r *rules) testListPagination(t T, st driver.Store) {
	keys := make([]string, paginationKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("page/%05d", i)
	}
	versions := putAll(t, st, keys, func(k string) []byte { return []byte(k) })
	// Two neighbours outside the prefix must not leak in.
	putAll(t, st, []string{"pagf", "pag"}, func(k string) []byte { return []byte(k) })
	res := wantKeys(t, st, "page/", keys)
	bad := 0
	for _, e := range res.Entries {
		if v, ok := versions[e.Key]; ok && (e.Version != v || e.Size != int64(len(e.Key))) {
			bad++
			if bad <= 3 {
				t.Errorf("entry %q: version %q size %d, want %q size %d", e.Key, e.Version, e.Size, v, len(e.Key))
			}
		}
	}
	if bad > 3 {
		t.Errorf("%d entries in all have a wrong version or size", bad)
	}
}

func (r *rules) testListServerTime(t T, st driver.Store) {
	put(t, st, "t/x", []byte("x"), driver.None)
	for range 3 {
		start := time.Now()
		res := list(t, st, "t/")
		end := time.Now()
		if res.ServerTime.IsZero() {
			t.Fatalf("List ServerTime is zero; it must be the server's time taken during the call")
		}
		if !within(res.ServerTime, start, end, r.opts.ClockSkew) {
			t.Errorf("List ServerTime = %v, want within the call [%v, %v] (skew %v)", res.ServerTime, start, end, r.opts.ClockSkew)
		}
	}
}
