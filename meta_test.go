package coord_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestWorkerMeta: workers carry Config.WorkerMeta, and the operator views
// (Status, ReadStatus) show it with each worker's mode, so that during a
// canary one sees which workers run which mode and version.
func TestWorkerMeta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		metas := map[string]map[string]string{"old": {"version": "1.3.9"}, "new": {"version": "1.4.0", "host": "pod-b"}}
		modes := map[string]coord.Mode{"old": coord.PerPlugin, "new": coord.Global}
		for id, meta := range metas {
			h := newHub(t, store, coord.Config{WorkerID: id, WorkerMeta: meta})
			if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: modes[id]}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		st, err := coord.ReadStatus(context.Background(), store, "", "default", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		check := func(ws []coord.Worker) {
			for _, w := range ws {
				seen[w.ID] = true
				if !maps.Equal(w.Meta, metas[w.ID]) || w.Mode != modes[w.ID] || w.Started.IsZero() {
					t.Errorf("worker %s: mode %q meta %v started %v; want %q %v", w.ID, w.Mode, w.Meta, w.Started, modes[w.ID], metas[w.ID])
				}
			}
		}
		check(st.Workers)
		for _, p := range st.Plugins {
			check(p.Workers)
		}
		if len(seen) != 2 {
			t.Errorf("workers seen: %v", seen)
		}
		if err := (coord.Config{WorkerMeta: map[string]string{"bad key": "x"}}).Validate(); !errors.Is(err, coord.ErrInvalidConfig) || !strings.Contains(err.Error(), "WorkerMeta") {
			t.Errorf("a bad meta key: %v", err)
		}
		if err := (coord.Config{WorkerMeta: map[string]string{"k": strings.Repeat("v", 1100)}}).Validate(); !errors.Is(err, coord.ErrInvalidConfig) {
			t.Errorf("too much meta: %v", err)
		}
	})
}
