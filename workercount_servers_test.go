package coord_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/testserver"
	"github.com/s3coord/coord/plugin"
)

// TestServersWorkerCountAndDuplicates: on real MinIO and versitygw, in
// real time with short intervals, three processes agree on WorkerCount 3
// within WorkerTimeout + HeartbeatInterval, and two more sharing one
// WorkerID are counted as duplicates (the servers refuse the stale
// If-Match of a worker record as they do a lease's).
func TestServersWorkerCountAndDuplicates(t *testing.T) {
	for name, start := range map[string]func(testing.TB) testserver.Server{"minio": testserver.MinIO, "versitygw": testserver.VersityGW} {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			store, err := s3.New(srv.S3Client(), srv.NewBucket(t), "coord/", s3.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg := coord.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatJitter: 50 * time.Millisecond,
				LeaseTimeout: 1200 * time.Millisecond, RenewDeadline: 700 * time.Millisecond, WorkerTimeout: 2 * time.Second}
			var hubs []*coord.Hub
			for i, id := range []string{"w0", "w1", "w2", "dup", "dup"} {
				c := cfg
				c.WorkerID, c.RandSeed = id, uint64(i+1)
				h := newHub(t, store, c)
				defer h.Close(context.Background())
				if _, err := h.Use(t.Context(), "job", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
					t.Fatal(err)
				}
				hubs = append(hubs, h)
			}
			bound := cfg.WorkerTimeout + cfg.HeartbeatInterval
			start := time.Now()
			for {
				var counts []int
				var dups uint64
				agree := true
				for _, h := range hubs {
					m := h.Coordinators()[0].Metrics()
					counts = append(counts, m.WorkerCount)
					agree = agree && m.WorkerCount == 4 // "dup" is one worker record
					dups += m.DuplicateWorkerIDs
				}
				if agree && dups > 0 {
					t.Logf("%s: WorkerCounts %v, %d duplicate beats, after %v", name, counts, dups, time.Since(start).Round(time.Millisecond))
					break
				}
				if time.Since(start) > 2*bound+2*time.Second {
					t.Fatalf("%s: WorkerCounts %v, %d duplicate beats after %v", name, counts, dups, time.Since(start))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
