package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/scheduler"
)

func ExampleScheduler() {
	store := mem.New(mem.Options{})
	ran := make(chan scheduler.Run, 1)
	nightly := scheduler.Job{
		Name:     "nightly-report",
		Interval: 24 * time.Hour,
		Missed:   scheduler.Skip,
		Run: func(ctx context.Context, run scheduler.Run) error {
			ran <- run
			return nil
		},
	}
	s, err := scheduler.New(store, "app/scheduler/", []scheduler.Job{nightly}, scheduler.Options{})
	if err != nil {
		panic(err)
	}
	// In a service: hub.Use(ctx, "scheduler", s, coord.UseOptions{}) runs
	// Lead on whichever process leads. Here we lead by hand at epoch 1.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Lead(ctx, plugin.Term{Plugin: "scheduler", Leader: "worker-1", Epoch: 1}) }()
	run := <-ran
	cancel()
	<-done
	fmt.Printf("%s ran at epoch %d for the slot starting %s\n", run.Job, run.Term.Epoch, run.Scheduled.UTC().Format("15:04"))
	status, _ := s.Status(context.Background())
	fmt.Println("finished:", status[0].Finished == status[0].Slot)
	// Output:
	// nightly-report ran at epoch 1 for the slot starting 00:00
	// finished: true
}
