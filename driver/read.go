package driver

import (
	"fmt"
	"io"
)

// ReadCapped reads all of r, failing with an error for which
// errors.Is(err, ErrTooLarge) holds when r yields more than max bytes. It
// never allocates more than max+1 bytes.
func ReadCapped(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxRead
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}
