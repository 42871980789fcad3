// Package nonce draws the random parts of the plugins' record ids and
// nonces from one source: crypto/rand by default, or a reader the user
// gives (the plugins' Options.Rand), for simulations that replay exactly.
package nonce

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"sync"
)

// Source is safe for concurrent use.
type Source struct {
	mu sync.Mutex
	r  io.Reader
}

// New returns a Source reading r; nil means crypto/rand.
func New(r io.Reader) *Source {
	if r == nil {
		r = rand.Reader
	}
	return &Source{r: r}
}

// Uint64 returns 8 random bytes as a number. A reader that fails leaves
// zeros in the bytes it did not give (crypto/rand never fails).
func (s *Source) Uint64() uint64 {
	var b [8]byte
	s.mu.Lock()
	_, _ = io.ReadFull(s.r, b[:])
	s.mu.Unlock()
	return binary.BigEndian.Uint64(b[:])
}

// Hex returns 8 random bytes in hex (16 characters).
func (s *Source) Hex() string {
	const digits = "0123456789abcdef"
	x := s.Uint64()
	var out [16]byte
	for i := 15; i >= 0; i-- {
		out[i] = digits[x&15]
		x >>= 4
	}
	return string(out[:])
}
