package sim_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// leadLog records, per process, the leaderships of one plugin in true time.
type leadLog struct {
	mu   sync.Mutex
	runs []leadRun
}

type leadRun struct {
	who      string
	epoch    uint64
	from, to time.Time
}

func (l *leadLog) plugin(who string) plugin.Plugin {
	return &plugin.Func{OnLead: func(ctx context.Context, term plugin.Term) error {
		l.mu.Lock()
		i := len(l.runs)
		l.runs = append(l.runs, leadRun{who: who, epoch: term.Epoch, from: time.Now()})
		l.mu.Unlock()
		context.AfterFunc(ctx, func() {
			l.mu.Lock()
			l.runs[i].to = time.Now()
			l.mu.Unlock()
		})
		return nil
	}}
}

func (l *leadLog) overlaps(end time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, a := range l.runs {
		for _, b := range l.runs[i+1:] {
			ato, bto := a.to, b.to
			if ato.IsZero() {
				ato = end
			}
			if bto.IsZero() {
				bto = end
			}
			if a.who != b.who && a.from.Before(bto) && b.from.Before(ato) {
				out = append(out, a.who+" and "+b.who)
			}
		}
	}
	return out
}

// TestRegressionCorruptDelegatedPluginLease is the minimised form of sweep
// seeds 12, 22 and 39 (first sweep): a global leader A leads plugin "beta"
// through a delegated plugin lease, which it never rewrites while its
// namespace lease lives. Garbage lands in the plugin lease, and the
// per-plugin worker B cannot read the namespace record for a while (an
// error spell on its connection). B must not take the plugin over while A
// leads it.
//
// An unreadable plugin lease is taken only after a good read of the
// namespace record shows the plugin free, not once the namespace reads
// have failed for a lease.
func TestRegressionCorruptDelegatedPluginLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			nsKey     = "plg_coordinator_global/sim/state.json"
			pluginKey = "plg_coordinator_global/sim/plugins/beta/state.json"
		)
		base := mem.New(mem.Options{})
		var log leadLog
		hubA, err := coord.NewHub(base, coord.Config{WorkerID: "a", RandSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hubA.Use(t.Context(), "beta", log.plugin("a"), coord.UseOptions{Namespace: "sim"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // A leads the namespace and beta
		viewB := faultstore.New(base, 2)
		hubB, err := coord.NewHub(viewB, coord.Config{WorkerID: "b", RandSeed: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hubB.Use(t.Context(), "beta", log.plugin("b"), coord.UseOptions{Namespace: "sim", Mode: coord.PerPlugin}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		viewB.Set(faultstore.Faults{
			Match:     func(op, key string) bool { return op == faultstore.OpGet && key == nsKey },
			ErrorRate: 1,
		})
		if _, err := viewB.WriteGarbage(context.Background(), pluginKey, 16); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		log.mu.Lock()
		runs := slices.Clone(log.runs)
		log.mu.Unlock()
		t.Logf("leaderships %+v; injected %v", runs, viewB.Injected())
		if o := log.overlaps(time.Now()); len(o) > 0 {
			t.Errorf("two leaders of beta at once: %v; leaderships %+v", o, runs)
		}
		_ = hubB.Close(context.Background())
		_ = hubA.Close(context.Background())
	})
}
