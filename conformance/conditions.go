package conformance

import (
	"time"

	"github.com/s3coord/coord/driver"
)

func (r *rules) testCapabilities(t T, st driver.Store) {
	before, counting := driver.RequestsOf(st)
	c := st.Capabilities()
	if c.Name == "" {
		t.Errorf("Capabilities().Name is empty")
	}
	if c.ConditionalDelete != r.opts.ConditionalDelete {
		t.Errorf("Capabilities().ConditionalDelete = %v, the harness expects %v", c.ConditionalDelete, r.opts.ConditionalDelete)
	}
	if c.MaxRead != r.opts.maxRead() {
		t.Errorf("Capabilities().MaxRead = %d, the harness expects %d", c.MaxRead, r.opts.maxRead())
	}
	if counting {
		after, _ := driver.RequestsOf(st)
		if d := after.Sub(before); d.Total() != 0 {
			t.Errorf("Capabilities() sent requests (%v); it must not do I/O", d)
		}
	}
}

func (r *rules) testGetMissing(t T, st driver.Store) {
	_, err := st.Get(t.Context(), "missing/key")
	wantErr(t, err, driver.ErrNotFound, "get", "missing/key")
}

func (r *rules) testPutNone(t T, st driver.Store) {
	const k = "put/none"
	start := time.Now()
	v1 := put(t, st, k, []byte("one"), driver.None)
	end := time.Now()
	o := get(t, st, k)
	if string(o.Data) != "one" || o.Version != v1 || o.Key != k {
		t.Errorf("after Put: Get = {Key:%q Data:%q Version:%q}, want {%q %q %q}", o.Key, o.Data, o.Version, k, "one", v1)
	}
	if !o.Modified.IsZero() && !within(o.Modified, start, end, r.opts.ClockSkew+time.Second) {
		t.Errorf("Get Modified = %v, want within the Put call [%v, %v] (skew %v, plus 1s resolution)", o.Modified, start, end, r.opts.ClockSkew)
	}

	v2 := put(t, st, k, []byte("two"), driver.None)
	if v2 == v1 {
		t.Errorf("overwriting with different bytes kept version %q", v1)
	}
	wantObject(t, st, k, []byte("two"), v2)

	v3 := put(t, st, k, []byte("one"), driver.None)
	if v3 == v2 {
		t.Errorf("overwriting with different bytes kept version %q", v2)
	}
	wantObject(t, st, k, []byte("one"), v3)

	// Empty objects are objects.
	ve := put(t, st, "put/empty", nil, driver.None)
	wantObject(t, st, "put/empty", nil, ve)
}

func (r *rules) testPutIfAbsent(t T, st driver.Store) {
	const k = "put/ifabsent"
	v1 := put(t, st, k, []byte("first"), driver.IfAbsent())
	wantObject(t, st, k, []byte("first"), v1)

	_, err := st.Put(t.Context(), k, []byte("second"), driver.IfAbsent())
	wantErr(t, err, driver.ErrPrecondition, "put", k)
	wantObject(t, st, k, []byte("first"), v1)

	if err := st.Delete(t.Context(), k, driver.None); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	v3 := put(t, st, k, []byte("third"), driver.IfAbsent())
	wantObject(t, st, k, []byte("third"), v3)
}

func (r *rules) testPutIfMatch(t T, st driver.Store) {
	const k = "put/ifmatch"
	v1 := put(t, st, k, []byte("a"), driver.None)
	v2 := put(t, st, k, []byte("b"), driver.IfMatch(v1))
	if v2 == v1 {
		t.Errorf("IfMatch write of different bytes kept version %q", v1)
	}
	wantObject(t, st, k, []byte("b"), v2)

	// A stale version, an empty one and a made-up one never match.
	for _, stale := range []string{v1, "", "no-such-version"} {
		_, err := st.Put(t.Context(), k, []byte("stale"), driver.IfMatch(stale))
		wantErr(t, err, driver.ErrPrecondition, "put", k)
		wantObject(t, st, k, []byte("b"), v2)
	}

	// The version Get reports is as good as the one Put returned.
	o := get(t, st, k)
	v3 := put(t, st, k, []byte("c"), driver.IfMatch(o.Version))
	wantObject(t, st, k, []byte("c"), v3)
}

func (r *rules) testPutIfMatchMissing(t T, st driver.Store) {
	// A version that existed under another key, and one that existed under
	// this key before it was deleted.
	other := put(t, st, "put/other", []byte("x"), driver.None)
	const k = "put/ifmatch-missing"
	old := put(t, st, k, []byte("old"), driver.None)
	if err := st.Delete(t.Context(), k, driver.None); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, v := range []string{other, old, ""} {
		_, err := st.Put(t.Context(), k, []byte("y"), driver.IfMatch(v))
		wantErr(t, err, driver.ErrPrecondition, "put", k)
		wantMissing(t, st, k)
	}
}

func (r *rules) testDeleteNone(t T, st driver.Store) {
	const k = "delete/none"
	put(t, st, k, []byte("x"), driver.None)
	if err := st.Delete(t.Context(), k, driver.None); err != nil {
		t.Fatalf("Delete(existing): %v", err)
	}
	wantMissing(t, st, k)
	if err := st.Delete(t.Context(), k, driver.None); err != nil {
		t.Errorf("Delete(missing): %v, want nil (an unconditional delete of a missing key succeeds)", err)
	}
	res, err := st.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(res.Entries) != 0 {
		t.Errorf("List after Delete = %v, want empty", keysOf(res.Entries))
	}
}

func (r *rules) testDeleteIfAbsent(t T, st driver.Store) {
	const k = "delete/ifabsent"
	v := put(t, st, k, []byte("x"), driver.None)
	err := st.Delete(t.Context(), k, driver.IfAbsent())
	wantErr(t, err, driver.ErrUnsupported, "delete", k)
	wantObject(t, st, k, []byte("x"), v)
}

func (r *rules) testDeleteIfMatch(t T, st driver.Store) {
	const k = "delete/ifmatch"
	v1 := put(t, st, k, []byte("a"), driver.None)
	v2 := put(t, st, k, []byte("b"), driver.None)
	if !r.opts.ConditionalDelete {
		// Every conditional delete is refused, current version included.
		for _, v := range []string{v1, v2, ""} {
			err := st.Delete(t.Context(), k, driver.IfMatch(v))
			wantErr(t, err, driver.ErrUnsupported, "delete", k)
			wantObject(t, st, k, []byte("b"), v2)
		}
		return
	}
	for _, stale := range []string{v1, "", "no-such-version"} {
		err := st.Delete(t.Context(), k, driver.IfMatch(stale))
		wantErr(t, err, driver.ErrPrecondition, "delete", k)
		wantObject(t, st, k, []byte("b"), v2)
	}
	if err := st.Delete(t.Context(), k, driver.IfMatch(v2)); err != nil {
		t.Fatalf("Delete(IfMatch(current)): %v", err)
	}
	wantMissing(t, st, k)
	err := st.Delete(t.Context(), k, driver.IfMatch(v2))
	wantErr(t, err, driver.ErrPrecondition, "delete", k)
}
