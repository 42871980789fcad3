package mem_test

import (
	"context"
	"testing"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

type harness struct{}

func (harness) MakeStore(context.Context, *testing.T) (driver.Store, error) {
	return mem.New(mem.Options{MaxRead: 64 << 10}), nil
}

func (harness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: 64 << 10}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }
