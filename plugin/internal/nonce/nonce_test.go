package nonce

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestSeededReaderRepeats(t *testing.T) {
	seed := [32]byte{1, 2, 3}
	a, b := New(rand.NewChaCha8(seed)), New(rand.NewChaCha8(seed))
	for range 10 {
		if x, y := a.Hex(), b.Hex(); x != y || len(x) != 16 {
			t.Fatalf("same seed gave %q and %q", x, y)
		}
	}
}

func TestDefaultIsRandom(t *testing.T) {
	s := New(nil)
	seen := map[uint64]bool{}
	for range 4 {
		seen[s.Uint64()] = true
	}
	if len(seen) < 2 {
		t.Fatal("crypto/rand gave the same 8 bytes four times")
	}
}

func TestHexOfKnownBytes(t *testing.T) {
	s := New(bytes.NewReader([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}))
	if got := s.Hex(); got != "0123456789abcdef" {
		t.Fatalf("Hex = %q", got)
	}
}
