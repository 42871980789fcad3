package coord_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestPluginListedBeforeClaimed checks the rule a per-plugin worker relies
// on when a plugin lease is unreadable: a namespace leader's claim of a
// plugin lease is written only after the namespace record lists the plugin
// (at election, and for a plugin subscribed while it leads).
func TestPluginListedBeforeClaimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := mem.New(mem.Options{})
		f := faultstore.New(base, 0)
		const nsKey = "plg_coordinator_global/default/state.json"
		var (
			mu     sync.Mutex
			claims []string
			bad    []string
		)
		f.SetHooks(failBy(func(op, key string) error {
			name, ok := strings.CutPrefix(key, "plg_coordinator_global/default/plugins/")
			if op != "put" || !ok {
				return nil
			}
			name = strings.TrimSuffix(name, "/state.json")
			obj, err := base.Get(context.Background(), nsKey)
			var rec struct {
				Claims []string `json:"claims"`
			}
			if err == nil {
				err = json.Unmarshal(obj.Data, &rec)
			}
			mu.Lock()
			defer mu.Unlock()
			claims = append(claims, name)
			if err != nil || !slices.Contains(rec.Claims, name) {
				bad = append(bad, fmt.Sprintf("%s claimed while the namespace record lists %v (%v)", name, rec.Claims, err))
			}
			return nil
		}))
		h := newHub(t, f, coord.Config{RandSeed: 3, DisableMembership: true})
		alpha, err := h.Use(t.Context(), "alpha", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, time.Minute, "alpha led", alpha)
		time.Sleep(7 * time.Second) // subscribe between heartbeats
		beta, err := h.Use(t.Context(), "beta", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d := waitLeader(t, time.Minute, "beta led", beta)
		if d > time.Second {
			t.Errorf("beta led %v after subscribing, want about one round trip", d)
		}
		_ = h.Close(context.Background())
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(claims, "alpha") || !slices.Contains(claims, "beta") {
			t.Fatalf("claims written: %v, want alpha and beta", claims)
		}
		for _, b := range bad {
			t.Error(b)
		}
	})
}
