package bolt_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
)

const testMaxRead = 64 << 10

type harness struct{}

func (harness) MakeStore(_ context.Context, t *testing.T) (driver.Store, error) {
	return bolt.Open(filepath.Join(t.TempDir(), "coord.db"), bolt.Options{MaxRead: testMaxRead})
}

func (harness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: testMaxRead}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }
