package ttl_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/ttl"
)

// eventually polls cond every 200ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMinIO runs the ttl store on a real MinIO server (no conditional
// delete: the sweeper's tombstone fallback) in real time.
func TestMinIO(t *testing.T) {
	st := plugintest.MinIO(t)
	if st.Capabilities().ConditionalDelete {
		t.Fatal("MinIO claims conditional delete; this test covers the fallback")
	}
	ctx := context.Background()
	s := newTTL(t, st, ttl.Options{})
	// S3 modification times have whole-second resolution and Get hides an
	// entry up to ClockSkew (1s) early, so a ttl under ~3s can read as
	// expired at once.
	mustPut(t, s, "short", "1", 4*time.Second)
	mustPut(t, s, "long", "2", time.Hour)
	if v, err := s.Get(ctx, "short"); err != nil || string(v) != "1" {
		t.Fatalf("Get short = %q, %v", v, err)
	}
	eventually(t, 10*time.Second, "short expires for Get", func() bool {
		_, err := s.Get(ctx, "short")
		return errors.Is(err, driver.ErrNotFound)
	})
	eventually(t, 15*time.Second, "short is swept", func() bool {
		if err := s.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		return s.Stats().Swept == 1
	})
	if got := stored(t, st); len(got) != 1 || got[0] != "long" {
		t.Fatalf("stored %v, want [long]", got)
	}
	mustPut(t, s, "short", "3", time.Hour) // over the tombstone
	if v, err := s.Get(ctx, "short"); err != nil || string(v) != "3" {
		t.Fatalf("Get re-put = %q, %v", v, err)
	}
	// Epoch 2 sweeps; epoch 1 is then refused.
	mustPut(t, s, "x", "x", time.Second)
	eventually(t, 15*time.Second, "x is swept by epoch 2", func() bool {
		if err := s.Tick(ctx, term(2)); err != nil {
			t.Fatal(err)
		}
		return s.Stats().Swept == 2
	})
	mustPut(t, s, "y", "y", time.Second)
	time.Sleep(3 * time.Second) // let y expire (by the server's clock, Grace included)
	if err := s.Tick(ctx, term(1)); !errors.Is(err, plugin.ErrStaleEpoch) {
		t.Fatalf("stale Tick = %v, want ErrStaleEpoch", err)
	}
}
