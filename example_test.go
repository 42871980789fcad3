package coord_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// fastConfig is a configuration for examples: short intervals so that
// they run in milliseconds. Production code uses the defaults.
func fastConfig() coord.Config {
	return coord.Config{
		HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatJitter:   10 * time.Millisecond,
		LeaseTimeout:      150 * time.Millisecond,
		WorkerTimeout:     200 * time.Millisecond,
	}
}

// The quickstart: two plugins share the namespace's single election loop;
// each runs its leader-only work while this process leads.
func ExampleHub_Use() {
	ctx := context.Background()
	store := mem.New(mem.Options{}) // or bolt.Open, s3, minio
	hub, err := coord.NewHub(store, fastConfig())
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx)

	leading := make(chan plugin.Term, 2)
	lead := func(ctx context.Context, term plugin.Term) error {
		leading <- term
		<-ctx.Done() // work until leadership is lost
		return nil
	}
	for _, name := range []string{"queue", "ttl"} {
		if _, err := hub.Use(ctx, name, &plugin.Func{OnLead: lead}, coord.UseOptions{Mode: coord.Global}); err != nil {
			panic(err)
		}
	}
	seen := map[string]plugin.Term{}
	for len(seen) < 2 {
		t := <-leading
		seen[t.Plugin] = t
	}
	fmt.Println("queue:", seen["queue"].Mode, "epoch", seen["queue"].Epoch)
	fmt.Println("ttl:", seen["ttl"].Mode, "epoch", seen["ttl"].Epoch)
	fmt.Println("coordinators:", len(hub.Coordinators()))
	// Output:
	// queue: global epoch 1
	// ttl: global epoch 1
	// coordinators: 1
}

// The namespace's coordinator: leader, epoch and metrics.
func ExampleHub_GlobalCoordinator() {
	ctx := context.Background()
	hub, err := coord.NewHub(mem.New(mem.Options{}), fastConfig())
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx)
	sub, err := hub.Use(ctx, "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
	if err != nil {
		panic(err)
	}
	if _, err := sub.WaitLeader(ctx); err != nil { // blocks until this process leads
		panic(err)
	}
	c, err := hub.GlobalCoordinator(ctx, "default")
	if err != nil {
		panic(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		panic(err)
	}
	m := c.Metrics()
	fmt.Println("leader is me:", leader.ID == m.WorkerID)
	fmt.Println("epoch:", m.Epoch, "elections:", m.ElectionCount) // the namespace lease and queue's claim
	// Output:
	// leader is me: true
	// epoch: 1 elections: 2
}

// Per-plugin mode: the plugin has an election of its own.
func ExampleUseOptions_perPlugin() {
	ctx := context.Background()
	hub, err := coord.NewHub(mem.New(mem.Options{}), fastConfig())
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx)
	sub, err := hub.Use(ctx, "scheduler", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin, Namespace: "tenant-a"})
	if err != nil {
		panic(err)
	}
	term, err := sub.WaitLeader(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(sub.Metrics().Mode, sub.Namespace(), term.Plugin, "epoch", term.Epoch)
	// Output: per-plugin tenant-a scheduler epoch 1
}

// Validate says which field is wrong and why.
func ExampleConfig_Validate() {
	err := coord.Config{LeaseTimeout: 10 * time.Second, RenewDeadline: 12 * time.Second}.Validate()
	var ce *coord.ConfigError
	fmt.Println(errors.Is(err, coord.ErrInvalidConfig), errors.As(err, &ce) && ce.Field == "RenewDeadline")
	fmt.Println(err)
	// Output:
	// true true
	// coord: invalid config: RenewDeadline: must be less than LeaseTimeout (12s >= 10s)
}
