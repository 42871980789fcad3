package faultstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// Two simulated processes share one store; one of them has its writes
// applied but reported as timeouts, the other is partitioned away.
func Example() {
	ctx := context.Background()
	shared := mem.New(mem.Options{})
	p1 := faultstore.New(shared, 1) // process 1's view
	p2 := faultstore.New(shared, 2) // process 2's view

	p1.Set(faultstore.Faults{AmbiguousRate: 1})
	_, err := p1.Put(ctx, "lease", []byte("p1"), driver.IfAbsent())
	fmt.Println("p1 put injected:", errors.Is(err, faultstore.ErrInjected))

	p2.Partition(0) // fail at once; pass a delay to model a timeout
	_, err = p2.Get(ctx, "lease")
	fmt.Println("p2 partitioned:", errors.Is(err, faultstore.ErrInjected))
	p2.Heal()
	o, _ := p2.Get(ctx, "lease")
	fmt.Printf("p2 sees %q\n", o.Data)

	fmt.Println(p1.Injected()[faultstore.Ambiguous], p2.Injected()[faultstore.Partition])
	// Output:
	// p1 put injected: true
	// p2 partitioned: true
	// p2 sees "p1"
	// 1 1
}
