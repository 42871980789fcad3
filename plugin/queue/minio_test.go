package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/queue"
)

// TestMinIO runs the queue on a real MinIO server in real time: FIFO,
// concurrent consumers each getting distinct messages (server-side
// IfAbsent), and redelivery of an expired claim with the fallback Ack.
func TestMinIO(t *testing.T) {
	st := plugintest.MinIO(t)
	ctx := context.Background()
	q := newQueue(t, st, queue.Options{Visibility: 2 * time.Second})
	const n = 12
	for i := range n {
		enqueue(t, q, fmt.Sprintf("m%02d", i))
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for c := range 6 {
		wg.Go(func() {
			for {
				m, err := q.Claim(ctx, fmt.Sprintf("c%d", c))
				if errors.Is(err, queue.ErrEmpty) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[string(m.Body)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if b := fmt.Sprintf("m%02d", i); got[b] != 1 {
			t.Fatalf("%s claimed %d times while held (claims %v)", b, got[b], got)
		}
	}
	// All 12 are held for 2s; after that the leader redelivers them.
	var second *queue.Message
	deadline := time.Now().Add(20 * time.Second)
	for second == nil {
		if time.Now().After(deadline) {
			t.Fatal("no redelivery within 20s")
		}
		if err := q.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		m, err := q.Claim(ctx, "late")
		if err == nil {
			second = m
		} else if !errors.Is(err, queue.ErrEmpty) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if second.Attempt != 2 || string(second.Body) != "m00" {
		t.Fatalf("redelivered %s attempt %d, want m00 attempt 2 (front of the queue)", second.Body, second.Attempt)
	}
	if err := q.Ack(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, second); !errors.Is(err, queue.ErrClaimLost) {
		t.Fatalf("second Ack = %v, want ErrClaimLost", err)
	}
}
