package coord_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFallbackToPerPluginMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		f := faultstore.New(base, 0)
		denied := errors.New("AccessDenied")
		f.SetHooks(failBy(func(op, key string) error {
			if key == "plg_coordinator_global/default/state.json" {
				return denied
			}
			return nil
		}))
		var logs syncBuffer
		h := newHub(t, f, coord.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), RandSeed: 3})
		sub, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.Global})
		if err != nil {
			t.Fatal(err)
		}
		if m := sub.Metrics(); !m.FallbackActive || m.Mode != coord.PerPlugin || m.Plugin != "queue" {
			t.Fatalf("FallbackActive=%v mode=%v plugin=%q, want a fallback to per-plugin mode", m.FallbackActive, m.Mode, m.Plugin)
		}
		if !strings.Contains(logs.String(), "[queue] Global coordinator unavailable, falling back to per-plugin mode") {
			t.Errorf("fallback not logged with the migration guide's text; logs:\n%s", logs.String())
		}
		waitLeader(t, time.Minute, "leader in fallback mode", sub)
		if _, err := base.Get(t.Context(), "plg_coordinator_global/default/plugins/queue/state.json"); err != nil {
			t.Errorf("plugin lease: %v", err)
		}
		// A store that works: no fallback.
		h2 := newHub(t, base, coord.Config{RandSeed: 4})
		sub2, err := h2.Use(t.Context(), "ttl", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil || sub2.Metrics().FallbackActive || sub2.Metrics().Mode != coord.Global {
			t.Fatalf("healthy store: err=%v fellBack=%v", err, sub2.Metrics().FallbackActive)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if err := h2.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func TestCorruptAndOversizeRecords(t *testing.T) {
	key := "plg_coordinator_global/default/state.json"
	cases := map[string][]byte{
		"garbage":     []byte("{not json"),
		"wrong types": []byte(`{"format":"one","leader":7,"epoch":"x"}`),
		"epoch 0":     []byte(`{"format":1,"namespace":"default","leader":"w9","mode":"global","epoch":0,"seq":1,"lease_ms":15000}`),
		"huge lease":  []byte(`{"format":1,"namespace":"default","leader":"w9","mode":"global","epoch":3,"seq":1,"lease_ms":999999999999}`),
		"oversize":    bytes.Repeat([]byte("x"), 2<<20),
		"other ns":    []byte(`{"format":1,"namespace":"tenant-b","leader":"w9","mode":"global","epoch":3,"seq":1,"lease_ms":15000}`),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				if _, err := store.Put(t.Context(), key, data, driver.None); err != nil {
					t.Fatal(err)
				}
				h := newHub(t, store, coord.Config{RandSeed: 5})
				c, err := h.GlobalCoordinator(t.Context(), "default")
				if err != nil {
					t.Fatal(err)
				}
				cfg := h.Config()
				// Held until unchanged for a whole lease, then taken over.
				time.Sleep(cfg.LeaseTimeout - time.Second)
				if c.Metrics().IsLeader {
					t.Fatal("took over a corrupt record before it stayed unchanged for a lease")
				}
				waitLeader(t, cfg.HeartbeatInterval+cfg.HeartbeatJitter+time.Second, "takeover", c)
				m := c.Metrics()
				if m.CorruptRecords == 0 {
					t.Error("corrupt record not counted")
				}
				// The epoch jumps above anything the record could have held.
				if m.Epoch < uint64(time.Now().Add(-time.Hour).UnixMilli()) {
					t.Errorf("epoch %d after taking over a corrupt record, want a jump to at least the wall clock in ms", m.Epoch)
				}
				li, err := c.Leader(t.Context())
				if err != nil || li.ID != c.Metrics().WorkerID {
					t.Errorf("Leader() = %+v, %v", li, err)
				}
				h.Close(context.Background())
			})
		})
	}
}

// A record overwritten by garbage while a leader holds it: the leader
// steps down at its next renewal; nobody takes over before a lease passed.
func TestCorruptionWhileLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		rec := &recorder{}
		var subs []*coord.Subscription
		var hubs []*coord.Hub
		for i := range 3 {
			h := newHub(t, store, coord.Config{RandSeed: uint64(20 + i), WorkerID: fmt.Sprintf("w%d", i)})
			s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hubs, subs = append(hubs, h), append(subs, s)
		}
		time.Sleep(time.Minute)
		if _, err := store.Put(t.Context(), "plg_coordinator_global/default/state.json", []byte("garbage"), driver.None); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if l := leaderOf(subs...); len(l) != 1 {
			t.Fatalf("leaders %v after corruption, want one", l)
		}
		for _, h := range hubs {
			h.Close(context.Background())
		}
		ls := rec.intervals()
		checkNoOverlap(t, ls)
		if len(ls) < 2 {
			t.Errorf("%d leaderships: the corruption should have caused a re-election", len(ls))
		}
	})
}

// Writes that are applied but reported as failed (a timeout after the
// server applied the write) are recognised by re-reading: the leader keeps
// its leadership and epoch.
func TestAmbiguousWrites(t *testing.T) {
	t.Run("renewal", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := mem.New(mem.Options{})
			f := faultstore.New(base, 0)
			rec := &recorder{}
			h := newHub(t, f, coord.Config{RandSeed: 9, WorkerID: "w0"})
			s, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{Mode: coord.PerPlugin})
			if err != nil {
				t.Fatal(err)
			}
			waitLeader(t, time.Minute, "leader", s)
			term, _ := s.Term()
			var n atomic.Int32
			f.SetHooks(ambiguousWhen(func(key string, _ []byte) bool { return isStateKey(key) && n.Add(1) <= 3 }))
			time.Sleep(time.Minute)
			if n.Load() < 3 {
				t.Fatalf("only %d ambiguous writes happened", n.Load())
			}
			now, ok := s.Term()
			if !ok || now.Epoch != term.Epoch {
				t.Fatalf("after ambiguous renewals: leading=%v epoch %d (was %d), want the same leadership", ok, now.Epoch, term.Epoch)
			}
			if m := s.Metrics(); m.PreconditionsLost != 0 {
				t.Errorf("%d renewals lost their precondition: the read before each renewal should have found the applied write and adopted it", m.PreconditionsLost)
			}
			h.Close(context.Background())
			if ls := rec.intervals(); len(ls) != 1 {
				t.Errorf("%d leaderships, want one uninterrupted", len(ls))
			}
		})
	})
	t.Run("acquisition", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := mem.New(mem.Options{})
			f := faultstore.New(base, 0)
			var once atomic.Bool
			f.SetHooks(ambiguousWhen(func(key string, _ []byte) bool { return isStateKey(key) && once.CompareAndSwap(false, true) }))
			h := newHub(t, f, coord.Config{RandSeed: 9, WorkerID: "w0"})
			c, err := h.GlobalCoordinator(t.Context(), "default")
			if err != nil {
				t.Fatal(err)
			}
			waitLeader(t, 10*time.Second, "leader", c)
			if c.Metrics().Epoch != 1 {
				t.Errorf("epoch %d, want 1: the applied acquisition should be adopted", c.Metrics().Epoch)
			}
			h.Close(context.Background())
		})
	})
}

func TestInputValidation(t *testing.T) {
	store := mem.New(mem.Options{})
	h := newHub(t, store, coord.Config{})
	defer h.Close(context.Background())
	bad := []string{"", "a/b", "..", "a..b", ".hidden", "tab\there", "nul\x00", strings.Repeat("x", 129), "ünï", "sp ace"}
	for _, name := range bad {
		if _, err := h.Use(t.Context(), name, plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); !errors.Is(err, coord.ErrInvalidName) {
			t.Errorf("Use(%q): %v, want ErrInvalidName", name, err)
		}
		if name != "" { // "" is the default namespace
			if _, err := h.Use(t.Context(), "ok", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Namespace: name}); !errors.Is(err, coord.ErrInvalidName) {
				t.Errorf("Use(namespace %q): %v, want ErrInvalidName", name, err)
			}
		}
		if _, err := h.GlobalCoordinator(t.Context(), name); !errors.Is(err, coord.ErrInvalidName) {
			t.Errorf("GlobalCoordinator(%q): %v, want ErrInvalidName", name, err)
		}
		if _, err := coord.NewHub(store, coord.Config{WorkerID: name}); name != "" && !errors.Is(err, coord.ErrInvalidConfig) {
			t.Errorf("WorkerID %q: %v, want ErrInvalidConfig", name, err)
		}
	}
	if got := store.Requests(); got.Total() != 0 {
		t.Errorf("rejected calls sent %v", got)
	}
	for _, good := range []string{"default", "tenant-a", "queue_1", "gcs-default-1234567890-abc123", "pod.name-0"} {
		if err := coord.ValidateName("plugin", good); err != nil {
			t.Errorf("ValidateName(%q): %v", good, err)
		}
	}
	if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: "both"}); !errors.Is(err, coord.ErrInvalidConfig) {
		t.Errorf("unknown mode: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (coord.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	d := coord.DefaultConfig()
	if d.HeartbeatInterval != 5*time.Second || d.HeartbeatJitter != time.Second || d.LeaseTimeout != 15*time.Second ||
		d.WorkerTimeout != 20*time.Second || d.RenewDeadline != 10*time.Second || d.Root != "plg_coordinator_global/" || d.Diagnostics {
		t.Errorf("defaults: %+v", d)
	}
	// The migration guide's development settings are valid as they are.
	if err := (coord.Config{HeartbeatInterval: time.Second, LeaseTimeout: 3 * time.Second, Diagnostics: true}).Validate(); err != nil {
		t.Errorf("development settings: %v", err)
	}
	cases := []struct {
		cfg   coord.Config
		field string
	}{
		{coord.Config{HeartbeatInterval: -1}, "HeartbeatInterval"},
		{coord.Config{HeartbeatJitter: -1}, "HeartbeatJitter"},
		{coord.Config{LeaseTimeout: 15 * time.Second, RenewDeadline: 15 * time.Second}, "RenewDeadline"},
		{coord.Config{HeartbeatInterval: 9 * time.Second, HeartbeatJitter: time.Second}, "HeartbeatInterval"},
		{coord.Config{WorkerTimeout: 9 * time.Second}, "WorkerTimeout"},
		{coord.Config{Root: "no-slash"}, "Root"},
		{coord.Config{Root: "a//b/"}, "Root"},
		{coord.Config{WorkerID: "a/b"}, "WorkerID"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		var ce *coord.ConfigError
		if !errors.Is(err, coord.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

// TestUseRefusesWhatNoFallbackCures: a store that refuses the credentials
// or has no bucket makes Use fail (per-plugin leases live under the same
// root with the same permissions, so a fallback could never lead), with
// the store check and without it; an unreachable store is tried 3 times
// and then falls back.
func TestUseRefusesWhatNoFallbackCures(t *testing.T) {
	for _, tc := range []struct {
		err      error
		attempts int64
	}{{driver.ErrAccessDenied, 0}, {driver.ErrBucketNotFound, 0}, {driver.ErrUnreachable, 3}} {
		for _, skip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/skipcheck=%v", tc.err, skip), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := faultstore.New(mem.New(mem.Options{}), 0)
					var reads atomic.Int64
					f.SetHooks(failBy(func(op, key string) error {
						if key == "plg_coordinator_global/default/state.json" {
							reads.Add(1)
						}
						return tc.err
					}))
					var logs syncBuffer
					h := newHub(t, f, coord.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), RandSeed: 3, SkipStoreCheck: skip})
					for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
						sub, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode})
						if tc.attempts == 0 {
							if !errors.Is(err, tc.err) || sub != nil {
								t.Fatalf("%s: Use gave %v, %v; want an error for which errors.Is(err, %v) holds", mode, sub, err, tc.err)
							}
							if n := len(h.Coordinators()); n != 0 {
								t.Errorf("%d coordinators running after a refused Use", n)
							}
							continue
						}
						if err != nil {
							t.Fatal(err)
						}
						if mode == coord.Global && (!sub.Metrics().FallbackActive || !strings.Contains(logs.String(), "[queue] Global coordinator unavailable, falling back to per-plugin mode")) {
							t.Fatalf("FellBack=%v; logs:\n%s", sub.Metrics().FallbackActive, logs.String())
						}
						if n := reads.Load(); mode == coord.Global && n != tc.attempts {
							t.Errorf("%d reads of the namespace lease before falling back, want %d", n, tc.attempts)
						}
						_ = sub.Close(t.Context())
					}
					_ = h.Close(context.Background())
				})
			})
		}
	}
}

// TestFallbackReturnsToGlobal: a Subscription that fell back to per-plugin
// mode while the namespace record could not be read returns to Global
// mode by itself once it can, without two leaders at any time, and leads
// there.
func TestFallbackReturnsToGlobal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := coord.DefaultConfig()
		base := mem.New(mem.Options{})
		f := faultstore.New(base, 0)
		var broken atomic.Bool
		broken.Store(true)
		f.SetHooks(failBy(func(op, key string) error {
			if broken.Load() && key == "plg_coordinator_global/default/state.json" {
				return driver.ErrUnreachable
			}
			return nil
		}))
		var logs syncBuffer
		rec := &recorder{}
		h := newHub(t, f, coord.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), RandSeed: 3, WorkerID: "a"})
		sub, err := h.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !sub.Metrics().FallbackActive || sub.Metrics().Mode != coord.PerPlugin {
			t.Fatalf("FellBack=%v mode=%v, want a fallback", sub.Metrics().FallbackActive, sub.Metrics().Mode)
		}
		waitLeader(t, time.Minute, "leader in fallback mode", sub)
		// A healthy Global process beside it.
		h2 := newHub(t, base, coord.Config{RandSeed: 4, WorkerID: "b"})
		sub2, err := h2.Use(t.Context(), "queue", rec.plugin(), coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		broken.Store(false)
		took := waitFor(t, 2*cfg.LeaseTimeout, "back in global mode", func() bool { return !sub.Metrics().FallbackActive && sub.Metrics().Mode == coord.Global })
		t.Logf("returned to global mode %v after the store healed", took)
		if !strings.Contains(logs.String(), "[queue] Global coordinator available again, returning to global mode") {
			t.Errorf("return not logged; logs:\n%s", logs.String())
		}
		// Subscription.Metrics follows the Subscription: it reads the
		// namespace coordinator now, which runs, not the stopped fallback.
		before := sub.Metrics()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if m := sub.Metrics(); m.Mode != coord.Global || m.Plugin != "" || m.HeartbeatCount <= before.HeartbeatCount {
			t.Errorf("after the return: mode %v plugin %q, %d heartbeats then %d", m.Mode, m.Plugin, before.HeartbeatCount, m.HeartbeatCount)
		}
		waitFor(t, time.Minute, "a leader after the return", func() bool { return isLeading(sub) || isLeading(sub2) })
		// The process that returned can lead in Global mode.
		if err := h2.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "a leads in global mode", sub)
		if term, _ := sub.Term(); term.Mode != string(coord.Global) {
			t.Errorf("term mode %q, want global", term.Mode)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
		checkNoOverlap(t, rec.intervals())
	})
}
