package queue_test

import (
	"context"
	"fmt"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin/queue"
)

func ExampleQueue() {
	ctx := context.Background()
	store := mem.New(mem.Options{})
	jobs, err := queue.New(store, "app/jobs/", queue.Options{MaxAttempts: 3})
	if err != nil {
		panic(err)
	}
	// In a service: hub.Use(ctx, "jobs", jobs, coord.UseOptions{}) lets the
	// leader redeliver messages whose consumer died.
	for _, body := range []string{"resize photo 1", "resize photo 2"} {
		if _, err := jobs.Enqueue(ctx, []byte(body)); err != nil {
			panic(err)
		}
	}
	for {
		m, err := jobs.Claim(ctx, "worker-1")
		if err != nil { // queue.ErrEmpty: nothing left to do
			break
		}
		fmt.Printf("%s (attempt %d)\n", m.Body, m.Attempt)
		if err := jobs.Ack(ctx, m); err != nil {
			fmt.Println("lost the claim:", err)
		}
	}
	n, _ := jobs.Len(ctx)
	fmt.Println("left:", n)
	// Output:
	// resize photo 1 (attempt 1)
	// resize photo 2 (attempt 1)
	// left: 0
}
