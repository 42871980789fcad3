package ttl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/ttl"
)

// flipTTL damages an entry read (a faultstore Got hook): one bit flipped
// in the first digit of the entry's ttl ('3' to '1'), a damaged response
// that still decodes.
func flipTTL(_ string, obj driver.Object) driver.Object {
	obj.Data = bytes.Replace(obj.Data, []byte(`"ttl":3`), []byte(`"ttl":1`), 1)
	return obj
}

// A sweeper whose reads come back with a flipped bit in the ttl (1h read
// as 1000s) must not sweep the entry early: it is recognised as damaged
// (found by internal/sim: "swept 2.8s before it expired").
func TestDamagedTTLIsNotSweptEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		mustPut(t, newTTL(t, base, ttl.Options{}), "a", "1", time.Hour)
		view := faultstore.New(base, 0)
		view.SetHooks(faultstore.Hooks{Got: flipTTL})
		sweeper := newTTL(t, view, ttl.Options{})
		ctx := context.Background()
		for range 40 {
			time.Sleep(time.Minute)
			if err := sweeper.Tick(ctx, term(1)); err != nil {
				t.Fatal(err)
			}
		}
		if got := stored(t, base); len(got) != 1 {
			t.Fatalf("entry swept 20 minutes before it expired: stored %v", got)
		}
		if st := sweeper.Stats(); st.Swept != 0 || st.Corrupt != 3 {
			t.Fatalf("stats %+v", st)
		}
		if _, err := sweeper.Get(ctx, "a"); !errors.Is(err, ttl.ErrCorrupt) {
			t.Fatalf("Get through damaged reads = %v, want ErrCorrupt", err)
		}
		// Read right, the entry goes once it has expired.
		clean := newTTL(t, base, ttl.Options{})
		time.Sleep(21 * time.Minute)
		if err := clean.Tick(ctx, term(2)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, base); len(got) != 0 {
			t.Fatalf("expired entry not swept: %v", got)
		}
	})
}

// judge fails the test when an entry of base is removed by a conditional
// delete before it expired by the server's clock (the store's
// modification time plus the ttl the test put it with): a faultstore
// Before hook, which sees the deletes that are sent.
type judge struct {
	base driver.Store
	t    *testing.T
	mu   sync.Mutex
	ttl  map[string]time.Duration // entry key -> ttl of its current Put
}

func (j *judge) before(ctx context.Context, c faultstore.Call) error {
	if v, ok := c.Cond.Match(); ok && c.Op == faultstore.OpDelete {
		j.mu.Lock()
		d := j.ttl[c.Key]
		j.mu.Unlock()
		if obj, err := j.base.Get(ctx, c.Key); err == nil && obj.Version == v {
			if early := time.Until(obj.Modified.Add(d)); early > 0 {
				j.t.Errorf("%s swept %v before it expired", c.Key, early)
			}
		}
	}
	return nil
}

// Random faults on the sweepers (damaged reads, 409s, ambiguous writes,
// errors, latency), clocks hours off on every process, a new sweeper
// every 40s while the old ones keep sweeping: no entry is ever removed
// before it expired by the server's clock.
func TestRandomFaultsNeverSweepEarly(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := &judge{base: mem.New(mem.Options{}), t: t, ttl: map[string]time.Duration{}}
				rng := rand.New(rand.NewPCG(seed, 7))
				skewed := func() plugin.Clock {
					return plugintest.Skewed(time.Duration(rng.Int64N(int64(6*time.Hour))) - 3*time.Hour)
				}
				writer := newTTL(t, j.base, ttl.Options{Clock: skewed()})
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				wrng := rand.New(rand.NewPCG(seed, 8)) // the writer's own
				wg.Go(func() {
					rng := wrng
					for ctx.Err() == nil {
						time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
						key := fmt.Sprintf("k%d", rng.IntN(200))
						d := time.Duration(1000+rng.Int64N(19000)) * time.Millisecond
						j.mu.Lock()
						j.ttl[prefix+"entries/"+key] = d // before the Put lands: never judged too early
						err := writer.Put(ctx, key, []byte("v"), d)
						j.mu.Unlock()
						_ = err
					}
				})
				var sweepers []*ttl.Store
				for epoch := uint64(1); epoch <= 6; epoch++ {
					view := faultstore.New(j.base, seed*10+epoch)
					view.SetHooks(faultstore.Hooks{Before: j.before})
					view.Set(faultstore.Faults{
						RequestDelay: faultstore.Delay{Max: 100 * time.Millisecond}, ErrorRate: 0.1, ConflictRate: 0.2,
						AmbiguousRate: 0.3, CorruptRate: 0.4,
					})
					s := newTTL(t, view, ttl.Options{Interval: time.Second, Grace: 10 * time.Millisecond, Clock: skewed()})
					sweepers = append(sweepers, s)
					wg.Go(func() {
						for ctx.Err() == nil {
							time.Sleep(s.Interval())
							_ = s.Tick(ctx, term(epoch))
						}
					})
					time.Sleep(40 * time.Second)
				}
				cancel()
				wg.Wait()
				var swept, damaged uint64
				for _, s := range sweepers {
					swept += s.Stats().Swept
					damaged += s.Stats().Corrupt
				}
				if swept < 100 {
					t.Fatalf("only %d entries swept", swept)
				}
				t.Logf("%d swept, %d damaged reads", swept, damaged)
			})
		})
	}
}
