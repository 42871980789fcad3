package ttl_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/ttl"
)

// TestThroughCoord runs the ttl store on three processes coordinated by
// coord, in both modes, rewrites keys with random ttls while cutting the
// leader off from storage twice, and checks that a live entry is never
// swept (each is read back until just before it expires) and that every
// expired entry is eventually gone from storage.
func TestThroughCoord(t *testing.T) {
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		for _, fac := range plugintest.Stores() {
			t.Run(string(mode)+"/"+fac.Name, func(t *testing.T) {
				dir := t.TempDir()
				synctest.Test(t, func(t *testing.T) {
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
					opts := ttl.Options{Interval: 5 * time.Second}
					var stores []*ttl.Store
					var subs []*coord.Subscription
					for _, p := range procs {
						s := newTTL(t, p.Store, opts)
						sub, err := p.Hub.Use(ctx, "ttl", s, coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						stores, subs = append(stores, s), append(subs, sub)
					}
					// The writer and reader is an outside process on the
					// healthy store.
					client := newTTL(t, base, opts)
					type put struct {
						value string
						until time.Time
					}
					latest := map[string]put{}
					rng := rand.New(rand.NewPCG(1, 2))
					epochs := map[uint64]bool{}
					partitioned := -1
					for sec := range 200 {
						if sec == 40 || sec == 120 { // cut the leader off for 40s
							for i, s := range subs {
								if term, ok := s.Term(); ok {
									epochs[term.Epoch] = true
									partitioned = i
									procs[i].Partition(true)
								}
							}
						}
						if (sec == 80 || sec == 160) && partitioned >= 0 {
							procs[partitioned].Partition(false)
						}
						key := fmt.Sprintf("k%d", rng.IntN(10))
						d := time.Duration(3+rng.IntN(20)) * time.Second
						value := fmt.Sprintf("v%d", sec)
						mustPut(t, client, key, value, d)
						latest[key] = put{value, time.Now().Add(d)}
						for k, p := range latest {
							v, err := client.Get(ctx, k)
							live := time.Now().Add(ttl.DefaultClockSkew).Before(p.until)
							switch {
							case live && (err != nil || string(v) != p.value):
								t.Fatalf("at %ds, %s = %q, %v; want live %q until %v", sec, k, v, err, p.value, p.until)
							case !live && !errors.Is(err, driver.ErrNotFound):
								t.Fatalf("at %ds, expired %s = %q, %v", sec, k, v, err)
							}
						}
						time.Sleep(time.Second)
					}
					for _, s := range subs {
						if term, ok := s.Term(); ok {
							epochs[term.Epoch] = true
						}
					}
					time.Sleep(40 * time.Second) // everything expired; sweeps continue
					if left := stored(t, base); len(left) != 0 {
						t.Errorf("expired entries left in storage: %v", left)
					}
					if err := procs.Close(); err != nil {
						t.Error(err)
					}
					var swept uint64
					for _, s := range stores {
						swept += s.Stats().Swept
					}
					if len(epochs) < 3 || swept == 0 {
						t.Errorf("epochs %v, swept %d: want three leaderships and sweeping", epochs, swept)
					}
					t.Logf("epochs %v, %d swept", epochs, swept)
				})
			})
		}
	}
}
