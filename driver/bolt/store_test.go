package bolt

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/s3coord/coord/driver"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func seq(t *testing.T, v string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("version %q is not a decimal sequence: %v", v, err)
	}
	return n
}

func TestDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coord.db")
	ctx := t.Context()
	st := open(t, path)
	if st.db.NoSync {
		t.Fatal("NoSync is set: commits would not be fsynced")
	}
	va, _ := st.Put(ctx, "d/a", []byte("a"), driver.None)
	vb, _ := st.Put(ctx, "d/b", []byte("b"), driver.IfAbsent())
	vgone, _ := st.Put(ctx, "d/gone", []byte("x"), driver.None)
	if err := st.Delete(ctx, "d/gone", driver.IfMatch(vgone)); err != nil {
		t.Fatal(err)
	}
	before, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, path)
	defer st.Close()
	for k, v := range map[string]string{"d/a": va, "d/b": vb} {
		o, err := st.Get(ctx, k)
		if err != nil || o.Version != v || string(o.Data) != k[2:] {
			t.Errorf("after reopen Get(%q) = %q@%s, %v; want %q@%s", k, o.Data, o.Version, err, k[2:], v)
		}
	}
	if _, err := st.Get(ctx, "d/gone"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("deleted key after reopen: %v, want ErrNotFound", err)
	}
	after, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Entries) != len(before.Entries) {
		t.Fatalf("List after reopen has %d entries, before %d", len(after.Entries), len(before.Entries))
	}
	for i := range after.Entries {
		a, b := after.Entries[i], before.Entries[i]
		if a.Key != b.Key || a.Version != b.Version || a.Size != b.Size || !a.Modified.Equal(b.Modified) {
			t.Errorf("entry %d after reopen = %+v, before %+v", i, a, b)
		}
	}
	// The sequence survives: a version is never reused, even one of a
	// deleted key.
	v, err := st.Put(ctx, "d/gone", []byte("again"), driver.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if seq(t, v) <= seq(t, vgone) {
		t.Errorf("version after reopen %s is not above the last one before it (%s)", v, vgone)
	}
}

func TestCorruptValue(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "coord.db"))
	defer st.Close()
	ctx := t.Context()
	for _, raw := range [][]byte{nil, []byte("garbage"), make([]byte, headerSize+3)} {
		const k = "bad/key"
		if err := st.db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketName).Put([]byte(k), append([]byte{}, raw...))
		}); err != nil {
			t.Fatal(err)
		}
		_, err := st.Get(ctx, k)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Get of %d garbage bytes: %v, want ErrCorrupt", len(raw), err)
		}
		var oe *driver.OpError
		if !errors.As(err, &oe) || oe.Op != "get" || oe.Key != k {
			t.Errorf("Get of garbage: %v is not an OpError for get %q", err, k)
		}
		// A corrupt value has no version: conditional writes fail.
		for _, c := range []driver.Condition{driver.IfAbsent(), driver.IfMatch(""), driver.IfMatch("0")} {
			if _, err := st.Put(ctx, k, []byte("x"), c); !errors.Is(err, driver.ErrPrecondition) {
				t.Errorf("Put %s over garbage: %v, want ErrPrecondition", c, err)
			}
		}
		if err := st.Delete(ctx, k, driver.IfMatch("")); !errors.Is(err, driver.ErrPrecondition) {
			t.Errorf("Delete IfMatch over garbage: %v, want ErrPrecondition", err)
		}
		// It is listed without a version, so that it can be seen.
		res, err := st.List(ctx, "bad/")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 || res.Entries[0].Version != "" || res.Entries[0].Size != int64(len(raw)) {
			t.Errorf("List over garbage = %+v, want one entry without version, size %d", res.Entries, len(raw))
		}
		// An unconditional write repairs it.
		v, err := st.Put(ctx, k, []byte("fixed"), driver.None)
		if err != nil {
			t.Fatal(err)
		}
		o, err := st.Get(ctx, k)
		if err != nil || string(o.Data) != "fixed" || o.Version != v {
			t.Errorf("after repair Get = %q@%s, %v", o.Data, o.Version, err)
		}
	}
}
