package faultstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// harness wraps a fresh mem store; arm configures the wrapper before the
// suite uses it.
type harness struct {
	arm func(*faultstore.Store)
}

func (h harness) MakeStore(_ context.Context, t *testing.T) (driver.Store, error) {
	inner := mem.New(mem.Options{MaxRead: 64 << 10})
	t.Cleanup(func() { _ = inner.Close() })
	s := faultstore.New(inner, 1)
	if h.arm != nil {
		h.arm(s)
	}
	return s, nil
}

func (harness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: 64 << 10}
}

// With faults off the wrapper must be a faithful store, as the wrappers of
// thanos objstore are held to the providers' acceptance test.
func TestConformance(t *testing.T) {
	t.Run("Off", func(t *testing.T) { conformance.Run(t, harness{}) })
	// Every fault at certainty, but matched to no call: the filter must
	// hold for every operation.
	t.Run("ArmedUnmatched", func(t *testing.T) {
		conformance.Run(t, harness{arm: func(s *faultstore.Store) {
			s.Set(faultstore.Faults{
				Match:         func(op, key string) bool { return false },
				ErrorRate:     1,
				ConflictRate:  1,
				AmbiguousRate: 1,
				CorruptRate:   1,
				OversizeRate:  1,
				// A hang that slipped through fails fast.
				HangRate:           1,
				HangIgnoresContext: true,
				HangFor:            faultstore.Delay{Min: time.Millisecond},
				IgnoreIfAbsentRate: 1,
				IgnoreIfMatchRate:  1,
			})
		}})
	})
}
