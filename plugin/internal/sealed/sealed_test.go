package sealed

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

type sample struct {
	Slot   int64     `json:"slot"`
	Epoch  uint64    `json:"epoch"`
	Leader string    `json:"leader"`
	Body   []byte    `json:"body"`
	At     time.Time `json:"at"`
}

func TestRoundTrip(t *testing.T) {
	in := sample{Slot: 236671221, Epoch: 946684853852, Leader: "p3", Body: []byte("m-p0.0-7"), At: time.Unix(1700000000, 5).UTC()}
	data, err := Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out sample
	if err := Open(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
}

// Every single-bit flip and every truncation of a sealed record is either
// reported as ErrCorrupt or decodes to exactly the sealed value (a flip
// that only changes the case of an envelope key).
func TestEveryFlipAndTruncationIsCaught(t *testing.T) {
	in := sample{Slot: 236671221, Epoch: 7, Leader: "p3", Body: []byte("body"), At: time.Unix(1700000000, 0).UTC()}
	data, err := Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte) {
		t.Helper()
		var out sample
		err := Open(b, &out)
		if err == nil {
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("%s: accepted as a different record %+v", what, out)
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error %v is not ErrCorrupt", what, err)
		}
	}
	caught := 0
	for i := range data {
		for bit := range 8 {
			b := append([]byte(nil), data...)
			b[i] ^= 1 << bit
			var out sample
			if Open(b, &out) != nil {
				caught++
			}
			check("flip", b)
		}
	}
	if caught < len(data)*8*9/10 {
		t.Fatalf("only %d of %d flips reported corrupt", caught, len(data)*8)
	}
	for n := range len(data) {
		var out sample
		if err := Open(data[:n], &out); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncation to %d bytes: %v", n, err)
		}
	}
}

func TestForeignData(t *testing.T) {
	for _, b := range []string{"", "garbage", `{"slot":5}`, `{"crc32c":"00000000","record":{"slot":5}}`, `null`, `{"crc32c":"x","record":null}`} {
		var out sample
		if err := Open([]byte(b), &out); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(%q) = %v, want ErrCorrupt", b, err)
		}
	}
}
