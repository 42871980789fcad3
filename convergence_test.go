package coord_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestGlobalFollowersLearnLeadersWithinAHeartbeat: on a cold start in
// Global mode, every follower is told the leader of every plugin it
// subscribes within HeartbeatInterval + HeartbeatJitter of the election
// (the leader lists its claims in a renewal right after making them;
// followers read again early while a new leader does not list their
// plugins yet). Without either, followers learnt it about two heartbeats
// later.
func TestGlobalFollowersLearnLeadersWithinAHeartbeat(t *testing.T) {
	const workers, plugins = 3, 3
	bound := coord.DefaultConfig().HeartbeatInterval + coord.DefaultConfig().HeartbeatJitter
	for trial := range 8 {
		t.Run(fmt.Sprintf("trial%d", trial), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				start := time.Now()
				var mu sync.Mutex
				known := map[string]string{}         // worker/plugin -> leader it was told of
				learnt := map[string]time.Duration{} // worker/plugin -> when
				elected := time.Duration(-1)         // first Lead call
				hubs := make([]*coord.Hub, workers)
				subs := make([][]*coord.Subscription, workers)
				for w := range workers {
					hubs[w] = newHub(t, store, coord.Config{RandSeed: uint64(100*trial + w + 1), WorkerID: fmt.Sprintf("w%d", w)})
				}
				// Every worker starts at the same moment, each registering
				// its plugins in order.
				var wg sync.WaitGroup
				for w, h := range hubs {
					wg.Go(func() {
						for p := range plugins {
							key := fmt.Sprintf("w%d/p%d", w, p)
							f := &plugin.Func{
								OnChange: func(ch plugin.Change) {
									mu.Lock()
									defer mu.Unlock()
									if known[key] != ch.To {
										known[key], learnt[key] = ch.To, time.Since(start)
									}
								},
								OnLead: func(ctx context.Context, _ plugin.Term) error {
									mu.Lock()
									if elected < 0 {
										elected = time.Since(start)
									}
									mu.Unlock()
									<-ctx.Done()
									return nil
								},
							}
							s, err := h.Use(t.Context(), fmt.Sprintf("p%d", p), f, coord.UseOptions{Mode: coord.Global})
							if err != nil {
								t.Error(err)
								return
							}
							subs[w] = append(subs[w], s)
						}
					})
				}
				wg.Wait()
				if t.Failed() {
					return
				}
				synctest.Wait()
				mu.Lock()
				at := elected
				mu.Unlock()
				if at < 0 {
					t.Fatal("no plugin was led at the start of a cold namespace")
				}
				time.Sleep(at + bound - time.Since(start))
				synctest.Wait()

				mu.Lock()
				var slowest time.Duration
				for p := range plugins {
					leader := ""
					for w := range workers {
						if isLeading(subs[w][p]) {
							if leader != "" {
								mu.Unlock()
								t.Fatalf("p%d: two leaders, %s and w%d", p, leader, w)
							}
							leader = fmt.Sprintf("w%d", w)
						}
					}
					if leader == "" {
						mu.Unlock()
						t.Fatalf("p%d has no leader %v after the start", p, time.Since(start))
					}
					for w := range workers {
						key := fmt.Sprintf("w%d/p%d", w, p)
						if known[key] != leader {
							t.Errorf("%s: told of leader %q, want %q, %v after the election", key, known[key], leader, time.Since(start)-at)
						}
						slowest = max(slowest, learnt[key]-at)
					}
				}
				mu.Unlock()
				t.Logf("every worker knew every plugin's leader %v after the election (bound %v)", slowest, bound)
				for _, h := range hubs {
					if err := h.Close(context.Background()); err != nil {
						t.Error(err)
					}
				}
			})
		})
	}
}
