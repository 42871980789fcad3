package coord_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// serve is a complete service with one leader-only job: it leads the job
// while it runs and stops gracefully on SIGTERM or SIGINT.
func serve(ctx context.Context, store driver.Store, started chan<- plugin.Term) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	host, _ := os.Hostname() // one id per process: two live processes must never share one
	hub, err := coord.NewHub(store, coord.Config{WorkerID: fmt.Sprintf("reporter-%s-%d", host, os.Getpid())})
	if err != nil {
		return err
	}
	// ctx is cancelled by the time this runs: Close still steps down, waits
	// for the job to return, releases the lease and deletes the worker
	// record, within HeartbeatInterval whatever the store does.
	defer hub.Close(ctx)
	report := plugin.Func{OnLead: func(ctx context.Context, term plugin.Term) error {
		started <- term
		<-ctx.Done() // work until the leadership ends or the service stops
		return nil
	}}
	if _, err := hub.Use(ctx, "nightly-report", report, coord.UseOptions{}); err != nil {
		return err // coord.ErrUnsafeStore, a missing bucket, denied access, ...
	}
	<-ctx.Done()
	return nil
}

// A service stopped by a signal hands its job over at once: its lease is
// released even though its context was already cancelled when it closed.
// The example sends itself a real SIGTERM, as systemd or Kubernetes would.
func Example_service() {
	store := mem.New(mem.Options{})
	started := make(chan plugin.Term, 1)
	done := make(chan error)
	go func() { done <- serve(context.Background(), store, started) }()
	term := <-started
	fmt.Println("leading", term.Plugin, "epoch", term.Epoch)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		fmt.Println(err)
	}
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	st, _ := coord.ReadStatus(context.Background(), store, "", "default", 0)
	fmt.Println("namespace lease released:", st.Leader.Released, "workers:", len(st.Workers))
	// Output:
	// leading nightly-report epoch 1
	// namespace lease released: true workers: 0
}
