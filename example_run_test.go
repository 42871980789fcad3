package coord_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// One leader-only job, one call: Run campaigns, runs the job while this
// process leads, campaigns again after a loss, and returns once its ctx
// is done, after releasing the lease.
func Example_run() {
	store := mem.New(mem.Options{})
	ctx, stop := context.WithCancel(context.Background()) // signal.NotifyContext in a service
	err := coord.Run(ctx, store, coord.Config{}, "nightly-report", func(ctx context.Context, term plugin.Term) error {
		fmt.Println("leading with epoch", term.Epoch)
		stop() // the service stops (here: at once)
		<-ctx.Done()
		fmt.Println("ended by this process:", errors.Is(context.Cause(ctx), coord.ErrResigned))
		return nil
	})
	fmt.Println("Run returned", err)
	// Output:
	// leading with epoch 1
	// ended by this process: true
	// Run returned <nil>
}
