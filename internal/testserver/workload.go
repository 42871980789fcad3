package testserver

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/s3coord/coord/driver"
)

// CheckCountsMatchServer runs a mixed workload on st, which must reach its
// server through proxy and nothing else, and checks that the requests st
// counted equal, class by class, the requests the proxy forwarded. The
// workload has successful and failed conditional writes, a 32-way
// IfAbsent race, hits and misses, lists and deletes, and conditional
// deletes (which a store without that capability must refuse without a
// request).
func CheckCountsMatchServer(t *testing.T, st driver.Store, proxy *CountingProxy) {
	t.Helper()
	ctx := t.Context()
	before, ok := driver.RequestsOf(st)
	if !ok {
		t.Fatalf("%T does not count requests", st)
	}
	server0 := proxy.Counts()

	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wantKind := func(err, kind error, what string) {
		t.Helper()
		if !errors.Is(err, kind) {
			t.Fatalf("%s: %v, want %v", what, err, kind)
		}
	}

	v1, err := st.Put(ctx, "w/a", []byte("1"), driver.None)
	must(err, "put w/a")
	v2, err := st.Put(ctx, "w/a", []byte("2"), driver.IfMatch(v1))
	must(err, "put w/a IfMatch")
	_, err = st.Put(ctx, "w/a", []byte("3"), driver.IfMatch(v1))
	wantKind(err, driver.ErrPrecondition, "stale IfMatch")
	_, err = st.Put(ctx, "w/missing", []byte("3"), driver.IfMatch(v1))
	wantKind(err, driver.ErrPrecondition, "IfMatch on a missing key")
	_, err = st.Put(ctx, "w/a", []byte("4"), driver.IfAbsent())
	wantKind(err, driver.ErrPrecondition, "IfAbsent on an existing key")
	vb, err := st.Put(ctx, "w/b", []byte("b"), driver.IfAbsent())
	must(err, "put w/b IfAbsent")

	// A race: losers may get 412 or 409, and the SDKs may retry; every
	// attempt must be counted on both sides.
	var wg sync.WaitGroup
	wins := make(chan struct{}, 32)
	for i := range 32 {
		wg.Go(func() {
			if _, err := st.Put(ctx, "w/race", fmt.Appendf(nil, "r%d", i), driver.IfAbsent()); err == nil {
				wins <- struct{}{}
			} else if !errors.Is(err, driver.ErrPrecondition) {
				t.Errorf("race contender %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := len(wins); n != 1 {
		t.Errorf("IfAbsent race: %d winners, want 1", n)
	}

	_, err = st.Get(ctx, "w/a")
	must(err, "get w/a")
	_, err = st.Get(ctx, "w/missing")
	wantKind(err, driver.ErrNotFound, "get missing")
	for _, p := range []string{"", "w/", "none/"} {
		_, err = st.List(ctx, p)
		must(err, "list "+p)
	}

	err = st.Delete(ctx, "w/b", driver.IfMatch(v2)) // stale version
	if st.Capabilities().ConditionalDelete {
		wantKind(err, driver.ErrPrecondition, "stale conditional delete")
		must(st.Delete(ctx, "w/b", driver.IfMatch(vb)), "conditional delete")
	} else {
		wantKind(err, driver.ErrUnsupported, "conditional delete without the capability")
	}
	must(st.Delete(ctx, "w/a", driver.None), "delete w/a")
	must(st.Delete(ctx, "w/missing", driver.None), "delete missing")

	after, _ := driver.RequestsOf(st)
	counted := after.Sub(before)
	received := proxy.Counts().Sub(server0)
	t.Logf("driver counted: %v (conflicts %d); server received: %v", counted, counted.Conflicts, received)
	for _, c := range driver.Classes() {
		if counted.Of(c) != received.Of(c) {
			t.Errorf("%s: driver counted %d requests, server received %d", c, counted.Of(c), received.Of(c))
		}
	}
	if counted.Put < 6+32 {
		t.Errorf("driver counted %d PUTs, want at least %d (one per call)", counted.Put, 6+32)
	}
}
