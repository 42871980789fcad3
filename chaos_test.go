package coord_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// Mixed modes over a store that is slow, fails, reports lost races that
// did not happen (409), hides applied writes behind timeouts, returns
// garbage and pauses: still never two leaders for a plugin, and a leader
// for every plugin once the faults stop.
func TestChaosNeverTwoLeaders(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	if n, err := strconv.Atoi(os.Getenv("COORD_CHAOS_SEEDS")); err == nil && n > 0 {
		seeds = n // more, for a soak run
	}
	plugins := []string{"queue", "ttl"}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(seed), 7))
				base := mem.New(mem.Options{})
				rec := &recorder{}
				var fss []*faultstore.Store
				var subs [][]*coord.Subscription
				var hubs []*coord.Hub
				for i := range 4 {
					fs := faultstore.New(base, uint64(seed*100+i))
					fs.Set(faultstore.Faults{
						RequestDelay:  faultstore.Delay{Max: 300 * time.Millisecond},
						ResponseDelay: faultstore.Delay{Max: 300 * time.Millisecond},
						ErrorRate:     0.05,
						ConflictRate:  0.02,
						AmbiguousRate: 0.05,
						CorruptRate:   0.01,
						OversizeRate:  0.01,
					})
					h := newHub(t, fs, coord.Config{RandSeed: uint64(seed*100 + i + 1), WorkerID: fmt.Sprintf("w%d", i)})
					var ss []*coord.Subscription
					for _, name := range plugins {
						mode := coord.Global
						if rng.IntN(2) == 0 {
							mode = coord.PerPlugin
						}
						s, err := h.Use(t.Context(), name, rec.plugin(), coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						ss = append(ss, s)
					}
					fss, hubs, subs = append(fss, fs), append(hubs, h), append(subs, ss)
				}
				for range 20 {
					time.Sleep(time.Duration(5+rng.IntN(40)) * time.Second)
					fs := fss[rng.IntN(len(fss))]
					switch rng.IntN(3) {
					case 0:
						fs.Partition(0)
						time.AfterFunc(time.Duration(rng.IntN(30))*time.Second, fs.Heal)
					case 1:
						fs.Pause()
						time.AfterFunc(time.Duration(rng.IntN(30))*time.Second, fs.Resume)
					}
				}
				time.Sleep(time.Minute)
				for _, fs := range fss {
					fs.Set(faultstore.Faults{})
					fs.Heal()
					fs.Resume()
				}
				time.Sleep(2 * time.Minute)
				for j, name := range plugins {
					n := 0
					for _, ss := range subs {
						if isLeading(ss[j]) {
							n++
						}
					}
					if n != 1 {
						t.Errorf("plugin %s: %d leaders after the faults stopped", name, n)
					}
				}
				for _, h := range hubs {
					h.Close(context.Background())
				}
				checkNoOverlap(t, rec.intervals())
				var injected faultstore.Counts
				for _, fs := range fss {
					injected = injected.Add(fs.Injected())
				}
				t.Logf("faults injected: %v; %d leaderships", injected, len(rec.intervals()))
			})
		})
	}
}
