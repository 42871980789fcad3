package dirstore_test

import (
	"context"
	"testing"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/examples/driver/dirstore"
)

const testMaxRead = 16 << 10

// harness: a fresh directory per store.
type harness struct{}

func (harness) MakeStore(_ context.Context, t *testing.T) (driver.Store, error) {
	return dirstore.Open(t.TempDir(), testMaxRead)
}

func (harness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: testMaxRead}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }
