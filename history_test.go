package coord_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
)

// TestHistoryKeepsLeaderChanges: a Hub's History lists the changes of
// each subscribed plugin's leader, oldest first, including those of other
// processes it learnt from the records, and it answers while the store
// is unreachable (no request).
func TestHistoryKeepsLeaderChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		rec := &recorder{}
		a := newHub(t, store, coord.Config{WorkerID: "a", RandSeed: 1})
		b := newHub(t, store, coord.Config{WorkerID: "b", RandSeed: 2})
		sa, err := a.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads", sa)
		sb, err := b.Use(t.Context(), "job", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		crash(a)
		waitLeader(t, time.Minute, "b leads after a crashed", sb)
		synctest.Wait() // every goroutine blocked: no request is in flight
		before := b.Coordinators()[0].Metrics().Requests.Total()
		got := b.History()
		if after := b.Coordinators()[0].Metrics().Requests.Total(); after != before {
			t.Errorf("History made %d requests", after-before)
		}
		var seq []string
		for _, e := range got {
			if e.Plugin != "job" || e.Namespace != "default" || e.At.IsZero() {
				t.Errorf("entry %+v", e)
			}
			seq = append(seq, e.From+">"+e.To)
		}
		want := []string{">a", "a>b"}
		if len(seq) < 2 || seq[0] != want[0] || seq[len(seq)-1] != want[1] {
			t.Fatalf("b's history %v, want it to start %q and end %q", seq, want[0], want[1])
		}
		if last := got[len(got)-1]; !last.Self || last.Epoch < 2 {
			t.Errorf("last entry %+v: want b itself, epoch >= 2", last)
		}
		_ = b.Close(context.Background())
	})
}
