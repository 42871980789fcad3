package coordhttp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// TestFollowerPageInBrowser renders a follower's page, of three workers,
// in headless Chromium: it lists the three workers under "Workers (3)",
// status.json's worker_count (the follower's WorkerCount, coord_workers)
// says 3 too (it said 0 on every follower), and the timeline's tick
// labels are well formed ("-7m3" for 7m30s before). Real time, at a
// 100 ms heartbeat and 1 s worker timeout.
func TestFollowerPageInBrowser(t *testing.T) {
	bin := browser(t)
	store := mem.New(mem.Options{})
	cfg := coord.Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatJitter: 20 * time.Millisecond,
		LeaseTimeout: 600 * time.Millisecond, WorkerTimeout: time.Second}
	var hubs []*coord.Hub
	for i := range 3 {
		c := cfg
		c.WorkerID, c.RandSeed = fmt.Sprintf("browser-w%d", i+1), uint64(i+1)
		h, err := coord.NewHub(store, c)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, h)
	}
	// Every process counts 3 within WorkerTimeout + HeartbeatInterval
	// of the last start (a margin of 10 s for a loaded machine).
	counted := func() bool {
		for _, h := range hubs {
			if h.Coordinators()[0].Metrics().WorkerCount != 3 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !counted(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the processes did not all count 3 workers within 10 s")
		}
	}
	var follower *coord.Hub
	for _, h := range hubs {
		if !h.Coordinators()[0].Metrics().IsLeader {
			follower = h
		}
	}
	if follower == nil {
		t.Fatal("no follower")
	}
	handler := coordhttp.New(follower, coordhttp.Options{MaxAge: time.Minute, Timeline: 7*time.Minute + 30*time.Second})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	p := render(t, bin, srv.URL+"/", "follower")
	page := getPage(t, handler)
	checkPage(t, p, page)
	if len(p.sections) != 1 || p.sections[0].fields["is-leader"] != "following" || p.sections[0].fields["worker-count"] != "3" ||
		len(p.sections[0].workers) != 3 {
		t.Errorf("rendered follower page: %+v", p.sections)
	}
	if len(page.Coordinators) != 1 || page.Coordinators[0].Metrics == nil || page.Coordinators[0].Metrics.WorkerCount != 3 {
		t.Errorf("status.json of the follower: %+v, want worker_count 3", page.Coordinators)
	}
	form := regexp.MustCompile(`^(-([1-9][0-9]*h)?([1-9][0-9]?m)?([1-9][0-9]?s)?|now)$`)
	if len(p.ticks) != 5 || p.ticks[0] != "-7m30s" {
		t.Errorf("ticks %q, want 5 from -7m30s", p.ticks)
	}
	for _, tk := range p.ticks {
		if !form.MatchString(tk) {
			t.Errorf("tick %q is not a well formed duration", tk)
		}
	}
	t.Logf("ticks %q", p.ticks)
}
