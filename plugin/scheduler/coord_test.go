package scheduler_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/scheduler"
)

// TestThroughCoord runs the scheduler on three processes coordinated by
// coord, in both modes, cuts the leader off from storage twice, and
// checks that every slot from the first to the last ran exactly once
// (CatchUp fills the failover gaps).
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
					var l ledger
					job := l.job("tick", 10*time.Second, scheduler.CatchUp)
					var subs []*coord.Subscription
					for _, p := range procs {
						sub, err := p.Hub.Use(ctx, "scheduler", newScheduler(t, p.Store, job), coord.UseOptions{Mode: mode})
						if err != nil {
							t.Fatal(err)
						}
						subs = append(subs, sub)
					}
					epochs := map[uint64]bool{}
					leader := func() int {
						i, term := plugintest.WaitLeader(t, subs)
						epochs[term.Epoch] = true
						return i
					}
					for range 2 {
						time.Sleep(45 * time.Second)
						i := leader()
						procs[i].Partition(true)
						time.Sleep(40 * time.Second)
						procs[i].Partition(false)
					}
					leader()
					time.Sleep(45 * time.Second)
					if err := procs.Close(); err != nil {
						t.Error(err)
					}
					got := l.checkOnce(t)
					if len(epochs) < 3 {
						t.Errorf("epochs %v: want three leaderships", epochs)
					}
					for i := 1; i < len(got); i++ {
						if got[i] != got[i-1]+1 {
							t.Fatalf("slots %v: gap or disorder at %d", got, i)
						}
					}
					if len(got) < 20 {
						t.Fatalf("only %d slots ran in ~4 minutes of 10s slots", len(got))
					}
					t.Logf("%d slots, epochs %v", len(got), epochs)
				})
			})
		}
	}
}
