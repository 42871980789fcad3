package coord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/testserver"
)

// The engine on a real MinIO server, in real time with short intervals:
// three processes (two global, one per-plugin) elect one leader per
// plugin, hand over after a crash and after a graceful stop, and never
// have two leaders at once.
func TestMinIOElection(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	store, err := s3.New(srv.S3Client(), bucket, "coord/", s3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	testElection(t, store)
}

// testElection is TestMinIOElection on any store.
func testElection(t *testing.T, store driver.Store) {
	cfg := coord.Config{
		HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatJitter:   50 * time.Millisecond,
		LeaseTimeout:      1200 * time.Millisecond,
		RenewDeadline:     700 * time.Millisecond,
		WorkerTimeout:     time.Second,
	}
	rec := &recorder{}
	var hubs []*coord.Hub
	var subs [][]*coord.Subscription
	modes := []coord.Mode{coord.Global, coord.Global, coord.PerPlugin}
	for i, mode := range modes {
		c := cfg
		c.WorkerID, c.RandSeed = fmt.Sprintf("w%d", i), uint64(i+1)
		h := newHub(t, store, c)
		var ss []*coord.Subscription
		for _, name := range []string{"queue", "ttl"} {
			s, err := h.Use(t.Context(), name, rec.plugin(), coord.UseOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		hubs, subs = append(hubs, h), append(subs, ss)
	}
	leaders := func(j int) []int {
		var l []int
		for i, ss := range subs {
			if ss != nil && isLeading(ss[j]) {
				l = append(l, i)
			}
		}
		return l
	}
	settle := func(what string) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if len(leaders(0)) == 1 && len(leaders(1)) == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: leaders %v / %v", what, leaders(0), leaders(1))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	settle("first election")
	time.Sleep(time.Second)
	l := leaders(0)[0]
	crash(hubs[l])
	subs[l] = nil
	settle("after a crash")
	time.Sleep(time.Second)
	l = leaders(0)[0]
	if err := hubs[l].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	subs[l] = nil
	settle("after a graceful stop")
	for _, h := range hubs {
		h.Close(context.Background())
	}
	ls := rec.intervals()
	checkNoOverlap(t, ls)
	if len(ls) < 4 {
		t.Errorf("%d leaderships, want at least 4 (two plugins, handovers)", len(ls))
	}
}
