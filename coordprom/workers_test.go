package coordprom_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordprom"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestWorkersOnFollowers: coord_workers is 3 on the leader and on both
// followers of three processes within WorkerTimeout + HeartbeatInterval
// of their start (it was 0 on followers, and 1 on the leader until its
// next listing).
func TestWorkersOnFollowers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		var hubs []*coord.Hub
		for i := range 3 {
			h, err := coord.NewHub(store, coord.Config{WorkerID: fmt.Sprint("w", i), RandSeed: uint64(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			if _, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
				t.Fatal(err)
			}
			hubs = append(hubs, h)
		}
		cfg := coord.DefaultConfig()
		time.Sleep(cfg.WorkerTimeout + cfg.HeartbeatInterval)
		synctest.Wait()
		want := `# HELP coord_workers Active workers of the election, this process included: the leader's count from the listing that is one renewal's read-back in three at defaults, written in its lease for followers; equal to the active workers within WorkerTimeout + HeartbeatInterval.
# TYPE coord_workers gauge
coord_workers{mode="global",namespace="default",plugin=""} 3
`
		for i, h := range hubs {
			if err := testutil.CollectAndCompare(coordprom.New(h), strings.NewReader(want), "coord_workers"); err != nil {
				t.Errorf("w%d (leader %v): %v", i, h.Coordinators()[0].Metrics().IsLeader, err)
			}
		}
	})
}
