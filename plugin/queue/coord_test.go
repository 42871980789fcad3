package queue_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/queue"
)

// TestThroughCoord runs the queue on three processes coordinated by coord,
// in both modes, cuts the leader off from storage twice while consumers
// crash at random, and checks that every message is acked exactly once
// and never held by two consumers at once.
func TestThroughCoord(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, fac := range plugintest.Stores() {
			t.Run(string(mode)+"/"+fac.Name, func(t *testing.T) {
				dir := t.TempDir()
				synctest.Test(t, func(t *testing.T) { throughCoord(t, fac, dir, mode) })
			})
		}
	}
}

func throughCoord(t *testing.T, fac plugintest.Store, dir string, mode coord.Mode) {
	ctx := context.Background()
	base, err := fac.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	procs, err := plugintest.NewCluster(base, 3, coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	opts := queue.Options{Visibility: 10 * time.Second, Interval: 2 * time.Second, MaxAttempts: 1000}
	var queues []*queue.Queue
	var subs []*coord.Subscription
	for _, p := range procs {
		q := newQueue(t, p.Store, opts)
		sub, err := p.Hub.Use(ctx, "queue", q, coord.UseOptions{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		queues, subs = append(queues, q), append(subs, sub)
	}
	const messages = 40
	for i := range messages {
		enqueue(t, queues[0], fmt.Sprintf("m%02d", i))
	}

	type hold struct {
		consumer   string
		start, end time.Time
	}
	var mu sync.Mutex
	holds := map[string][]hold{}
	acked := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, q := range queues {
		name := fmt.Sprintf("c%d", i)
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				m, err := q.Claim(ctx, name)
				if err != nil { // empty, or cut off from storage
					time.Sleep(time.Second)
					continue
				}
				work := time.Duration(2000+rng.IntN(6000)) * time.Millisecond
				crash := rng.IntN(5) == 0
				time.Sleep(work)
				end := m.Deadline
				if !crash {
					if err := q.Ack(ctx, m); err == nil {
						end = time.Now()
						mu.Lock()
						acked[string(m.Body)]++
						mu.Unlock()
					} else if !errors.Is(err, queue.ErrClaimLost) && !errors.Is(err, faultstore.ErrInjected) {
						t.Error(err)
					}
				}
				mu.Lock()
				holds[string(m.Body)] = append(holds[string(m.Body)], hold{name, start, end})
				mu.Unlock()
			}
		})
	}

	epochs := map[uint64]bool{}
	for range 2 {
		time.Sleep(20 * time.Second)
		i, term := plugintest.WaitLeader(t, subs)
		epochs[term.Epoch] = true
		procs[i].Partition(true) // the leader's network breaks
		time.Sleep(40 * time.Second)
		procs[i].Partition(false)
	}
	_, term := plugintest.WaitLeader(t, subs)
	epochs[term.Epoch] = true
	for n := 0; ; n++ {
		if l, err := queues[0].Len(ctx); err == nil && l == 0 {
			break
		}
		if n > 600 {
			t.Fatal("queue did not drain in 10 minutes")
		}
		time.Sleep(time.Second)
	}
	close(stop)
	wg.Wait()
	if err := procs.Close(); err != nil {
		t.Error(err)
	}

	if len(epochs) < 3 {
		t.Errorf("leader epochs seen %v: want three leaderships", epochs)
	}
	var redelivered uint64
	for _, q := range queues {
		redelivered += q.Stats().Redelivered
	}
	if redelivered == 0 {
		t.Error("no claim was redelivered: the test exercised nothing")
	}
	for i := range messages {
		body := fmt.Sprintf("m%02d", i)
		if acked[body] != 1 {
			t.Errorf("%s acked %d times", body, acked[body])
		}
		hs := holds[body]
		for a := range hs {
			for b := a + 1; b < len(hs); b++ {
				if hs[a].start.Before(hs[b].end) && hs[b].start.Before(hs[a].end) {
					t.Errorf("%s held by %s and %s at once", body, hs[a].consumer, hs[b].consumer)
				}
			}
		}
	}
	t.Logf("epochs %v, %d redeliveries", epochs, redelivered)
}
