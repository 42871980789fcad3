package coord

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func sampleLease() leaseRecord {
	return leaseRecord{
		Format: recordFormat, Namespace: "default", Leader: "gcs-default-1700000000000-abc123", Mode: "global",
		Epoch: 7, Seq: 42, Incarnation: "0123456789abcdef", LeaseMillis: 15000,
		Renewed: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC),
		Plugins: map[string]uint64{"beta": 3, "queue": 9}, Claims: []string{"alpha", "beta", "queue"},
	}
}

// TestChecksumCatchesEveryBitFlip flips every bit of an encoded namespace
// record (the sim's corrupt reads do this): no flipped record may decode
// to a different record (a flip in a plugin name of Plugins decoding is a
// per-plugin worker reading that the leader does not list its plugin:
// sim seed 1662).
func TestChecksumCatchesEveryBitFlip(t *testing.T) {
	want := sampleLease()
	data := encodeLease(&want)
	got, err := decodeLease(data, "default", "")
	if err != nil {
		t.Fatalf("decoding a record just encoded: %v", err)
	}
	want.Sum = got.Sum
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip: got %+v, want %+v", *got, want)
	}
	accepted := 0
	for i := range data {
		for bit := range 8 {
			flipped := bytes.Clone(data)
			flipped[i] ^= 1 << bit
			r, err := decodeLease(flipped, "default", "")
			if err != nil {
				if !errors.Is(err, ErrCorruptRecord) {
					t.Fatalf("byte %d bit %d: error %v is not ErrCorruptRecord", i, bit, err)
				}
				continue
			}
			accepted++ // e.g. the case of a JSON key: same fields
			if !reflect.DeepEqual(*r, want) {
				t.Errorf("byte %d bit %d: %q decoded to a different record %+v", i, bit, flipped, *r)
			}
		}
	}
	t.Logf("%d of %d bit flips decode to the same record (JSON keys match case-insensitively)", accepted, 8*len(data))
}

func TestRecordWithoutChecksumIsCorrupt(t *testing.T) {
	rec := sampleLease()
	data, err := json.Marshal(&rec) // Sum empty: omitted
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLease(data, "default", ""); !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("record without a checksum: err %v, want a checksum mismatch", err)
	}
}

// wellFormed restates the rules a lease record at the key of (ns, plugin)
// must meet, independently of decodeLease.
func wellFormed(r *leaseRecord, ns, plugin string) bool {
	okName := func(s string) bool {
		if s == "" || len(s) > 128 || s[0] == '.' || strings.Contains(s, "..") {
			return false
		}
		for _, c := range []byte(s) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if r.Format != recordFormat || r.Namespace != ns || r.Plugin != plugin || !okName(r.Leader) || r.Epoch == 0 {
		return false
	}
	if r.LeaseMillis <= 0 || r.LeaseMillis > maxLease.Milliseconds() {
		return false
	}
	if r.Delegated && (plugin == "" || r.NamespaceEpoch == 0) {
		return false
	}
	if plugin != "" && (len(r.Plugins) > 0 || len(r.Claims) > 0) {
		return false
	}
	for p := range r.Plugins {
		if !okName(p) {
			return false
		}
	}
	for i, p := range r.Claims {
		if !okName(p) || (i > 0 && r.Claims[i-1] >= p) {
			return false
		}
	}
	return true
}

func FuzzDecodeLease(f *testing.F) {
	ns := sampleLease()
	f.Add(encodeLease(&ns), false)
	pl := leaseRecord{Format: recordFormat, Namespace: "default", Plugin: "beta", Leader: "w1", Mode: "global", Epoch: 2, Seq: 5,
		Incarnation: "x", LeaseMillis: 15000, Delegated: true, NamespaceEpoch: 7}
	f.Add(encodeLease(&pl), true)
	f.Add([]byte(`{"format":2,"namespace":"default","leader":"w","mode":"global","epoch":1,"seq":1,"incarnation":"i","lease_ms":1,"renewed":"0001-01-01T00:00:00Z"}`), false)
	f.Add([]byte(`{"format":1}`), false)
	f.Add([]byte(`{} {}`), true)
	f.Add([]byte("\x00\xff"), false)
	f.Fuzz(func(t *testing.T, data []byte, pluginKey bool) {
		plugin := ""
		if pluginKey {
			plugin = "beta"
		}
		// Whatever the bytes: no panic, and any error is ErrCorruptRecord.
		r, err := decodeLease(data, "default", plugin)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v is not ErrCorruptRecord", err)
			}
		} else {
			if !wellFormed(r, "default", plugin) {
				t.Fatalf("accepted a malformed record %+v", *r)
			}
			again, err := decodeLease(encodeLease(r), "default", plugin)
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("re-encoded record does not decode to the same value: %+v, %v; was %+v", again, err, *r)
			}
		}
		// The same fields with a valid checksum: accepted exactly when
		// well-formed.
		var raw leaseRecord
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		if raw.Claims != nil && len(raw.Claims) == 0 {
			raw.Claims = nil // omitempty: an empty list is not encoded
		}
		if raw.Plugins != nil && len(raw.Plugins) == 0 {
			raw.Plugins = nil
		}
		got, err := decodeLease(encodeLease(&raw), "default", plugin)
		if wf := wellFormed(&raw, "default", plugin); wf != (err == nil) {
			t.Fatalf("well-formed %v but decode error %v for %+v", wf, err, raw)
		}
		if err == nil {
			got.Sum, raw.Sum = "", ""
			if !reflect.DeepEqual(*got, raw) {
				t.Fatalf("sealed record decoded to %+v, want %+v", *got, raw)
			}
		}
	})
}

// validName restates ValidateName's documented rules.
func validName(s string) bool {
	if len(s) < 1 || len(s) > maxNameLen || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"default", "", ".", "..", "a..b", ".hidden", "a.b", "a/b", "a\x00", "é", "A-Z_0.9",
		strings.Repeat("x", maxNameLen), strings.Repeat("x", maxNameLen+1), "tab\t", "del\x7f", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName("plugin", name)
		if want := validName(name); want != (err == nil) {
			t.Fatalf("ValidateName(%q) = %v, want valid=%v", name, err, want)
		}
		if err != nil {
			var ne *nameError
			if !errors.Is(err, ErrInvalidName) || !errors.As(err, &ne) || ne.Rule == "" || ne.Kind != "plugin" {
				t.Fatalf("ValidateName(%q) error %v: want a *nameError satisfying ErrInvalidName", name, err)
			}
		}
	})
}

// A lease written with a worker count must decode, with the same checksum,
// in a binary whose record type predates the field: its decoder drops the
// field and recomputes the sum without it. Otherwise a rolling upgrade
// makes every old process see the new leader's lease as corrupt.
func TestLeaseChecksumLeavesOutWorkerCount(t *testing.T) {
	r := sampleLease()
	r.Workers = 3
	withCount := encodeLease(&r)
	if !bytes.Contains(withCount, []byte(`"workers":3`)) {
		t.Fatalf("no worker count in %s", withCount)
	}
	old := bytes.Replace(withCount, []byte(`,"workers":3`), nil, 1)
	got, err := decodeLease(old, r.Namespace, "")
	if err != nil {
		t.Fatalf("record without the count (as an older binary re-encodes it): %v", err)
	}
	if got.Workers != 0 {
		t.Fatalf("Workers = %d", got.Workers)
	}
	got, err = decodeLease(withCount, r.Namespace, "")
	if err != nil || got.Workers != 3 {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	// A changed judgement field still fails the sum.
	if _, err := decodeLease(bytes.Replace(withCount, []byte(`"epoch":7`), []byte(`"epoch":8`), 1), r.Namespace, ""); err == nil {
		t.Fatal("a changed epoch passed the checksum")
	}
}
