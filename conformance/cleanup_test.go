package conformance_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

// prefixHarness makes every store as a fresh prefix of one shared mem
// store, through driver.WithPrefix: the suite holds the wrapper to the
// whole contract, and the shared store shows what the suite left behind.
type prefixHarness struct {
	shared *mem.Store
	n      *atomic.Int64
}

func (h prefixHarness) MakeStore(context.Context, *testing.T) (driver.Store, error) {
	return driver.WithPrefix(h.shared, fmt.Sprintf("run/%03d/", h.n.Add(1))), nil
}

func (h prefixHarness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: true, MaxRead: testMaxRead}
}

// TestSuiteLeavesNothing runs the whole suite on prefixes of one store and
// counts the objects left in it at the end: none.
func TestSuiteLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := prefixHarness{shared: mem.New(mem.Options{MaxRead: testMaxRead}), n: new(atomic.Int64)}
	t.Run("suite", func(t *testing.T) { conformance.Run(t, h) })
	res, err := h.shared.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 0 {
		t.Errorf("the suite left %d objects (first %q)", len(res.Entries), res.Entries[0].Key)
	}
	if n := h.n.Load(); n < 20 {
		t.Errorf("only %d stores made", n)
	}
}
