package coord_test

import (
	"context"
	"fmt"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// The README's quickstart, line for line, on the default configuration
// (the first heartbeat runs at start, so a cold namespace has its leader
// after two store round trips).
func Example_quickstart() {
	ctx := context.Background()
	store := mem.New(mem.Options{})                 // or bolt.Open, s3.New, minio.New, storeurl.Open
	hub, err := coord.NewHub(store, coord.Config{}) // zero fields take the defaults
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx) // releases leadership, deregisters the worker

	terms := make(chan plugin.Term, 2)
	lead := func(ctx context.Context, term plugin.Term) error {
		// Runs while this process leads the plugin. ctx is cancelled the moment
		// leadership is lost; term.Epoch fences every write the leader makes.
		terms <- term
		<-ctx.Done()
		return nil
	}
	for _, name := range []string{"queue", "ttl"} {
		// Both plugins share the namespace's ONE election loop.
		if _, err := hub.Use(ctx, name, &plugin.Func{OnLead: lead}, coord.UseOptions{Mode: coord.Global}); err != nil {
			panic(err)
		}
	}
	a, b := <-terms, <-terms
	fmt.Println("leading", a.Mode, "epochs", a.Epoch, b.Epoch)

	c, _ := hub.GlobalCoordinator(ctx, "default")
	leader, _ := c.Leader(ctx)         // id, epoch, released, version
	workers, _ := c.ActiveWorkers(ctx) // judged on the server's clock
	m := c.Metrics()                   // HeartbeatCount, ElectionCount, LeaderChanges, WorkerCount, ...
	fmt.Println("leader is me:", leader.ID == m.WorkerID, "is leader:", m.IsLeader)
	_ = workers // this process's worker record may still be on its way
	// Output:
	// leading global epochs 1 1
	// leader is me: true is leader: true
}
