package ttl_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/ttl"
)

func ExampleStore() {
	ctx := context.Background()
	clock := &handClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} // a hand-driven clock for the example
	store := mem.New(mem.Options{Now: clock.Now})

	sessions, err := ttl.New(store, "app/sessions/", ttl.Options{Clock: clock})
	if err != nil {
		panic(err)
	}
	// In a service: hub.Use(ctx, "sessions", sessions, coord.UseOptions{})
	// makes one process the sweeper. Here the leader's Tick is called by hand.
	_ = sessions.Put(ctx, "alice", []byte("token-1"), time.Minute)

	v, _ := sessions.Get(ctx, "alice")
	fmt.Printf("alice: %s\n", v)

	clock.now = clock.now.Add(2 * time.Minute)
	_, err = sessions.Get(ctx, "alice")
	fmt.Println("after 2m, expired:", errors.Is(err, driver.ErrNotFound))

	leader := plugin.Term{Plugin: "sessions", Leader: "worker-1", Epoch: 1}
	_ = sessions.Tick(ctx, leader)
	fmt.Println("swept:", sessions.Stats().Swept)
	// Output:
	// alice: token-1
	// after 2m, expired: true
	// swept: 1
}

// handClock is a plugin.Clock moved by hand.
type handClock struct{ now time.Time }

func (c *handClock) Now() time.Time                         { return c.now }
func (c *handClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
