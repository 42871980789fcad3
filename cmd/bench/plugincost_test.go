package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin/queue"
	"github.com/s3coord/coord/plugin/ttl"
)

// TestCountingStoreCountsEveryCall checks the plugin handle's counter
// against the driver's own counter on mem, where one call is one request.
func TestCountingStoreCountsEveryCall(t *testing.T) {
	ctx := context.Background()
	st := mem.New(mem.Options{})
	defer st.Close()
	h := &countingStore{Store: st}
	before, _ := driver.RequestsOf(st)
	v, err := h.Put(ctx, "a/1", []byte("x"), driver.IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Put(ctx, "a/1", []byte("y"), driver.IfAbsent()); err == nil {
		t.Fatal("second IfAbsent put succeeded")
	}
	if _, err := h.Get(ctx, "a/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(ctx, "a/missing"); err == nil {
		t.Fatal("get of a missing key succeeded")
	}
	if _, err := h.List(ctx, "a/"); err != nil {
		t.Fatal(err)
	}
	if err := h.Delete(ctx, "a/1", driver.IfMatch(v)); err != nil {
		t.Fatal(err)
	}
	after, _ := driver.RequestsOf(st)
	got, want := h.Requests(), after.Sub(before)
	want.Conflicts = got.Conflicts
	if got != want || got.Total() != 6 {
		t.Errorf("handle counted %v, driver %v; want equal, 6 requests", got, want)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.List(ctx, ""); err != nil {
		t.Errorf("closing a handle closed the shared store: %v", err)
	}
}

// TestPluginCostsMeasured runs the built-in plugin scenarios on mem for a
// short virtual window and checks that every row comes from measured
// counts that agree with what the leader did: one LIST per sweep or scan,
// as many scans as the queue's interval fits in the window (±1), each
// live ttl entry read once, one scheduler slot a virtual minute (±1), each a
// LIST, a claim and a completion.
func TestPluginCostsMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("runs minutes of simulated time")
	}
	window := 2 * time.Minute
	o, err := parseFlags([]string{"-store", "mem://", "-plugins", "1", "-modes", "global", "-workers", "2",
		"-timing=false", "-duration", window.String(), "-quiet"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := benchmark(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]PluginCost{}
	var order []string
	for _, c := range r.PluginCosts {
		rows[c.Scenario] = c
		order = append(order, c.Scenario)
	}
	if got := strings.Join(order, ","); got != "ttl,queue-idle,queue-load,scheduler" {
		t.Fatalf("scenarios %s", got)
	}
	near := func(got uint64, want float64) bool { return math.Abs(float64(got)-want) <= 1 }
	for _, c := range r.PluginCosts {
		if c.Workers != 2 || c.Window <= 0 || c.Requests.Total() == 0 || c.ElectionRequests.Total() == 0 {
			t.Errorf("%s: %+v", c.Scenario, c)
		}
		if want := PerHour(c.Requests, time.Duration(float64(c.Window)*c.TimeScale)); c.PerHour != want {
			t.Errorf("%s: per hour %+v, want %+v from the counts", c.Scenario, c.PerHour, want)
		}
		if want := S3Standard.PerMonth(c.PerHour); c.CostPerMonth != want {
			t.Errorf("%s: cost %v, want %v", c.Scenario, c.CostPerMonth, want)
		}
		if c.Requests.Head != 0 {
			t.Errorf("%s: %d HEAD requests; no plugin sends HEAD", c.Scenario, c.Requests.Head)
		}
	}

	tt := rows[scenTTL]
	if tt.Clock != clockVirtual || tt.Window != window {
		t.Errorf("ttl: clock %s, window %v", tt.Clock, tt.Window)
	}
	sweeps := float64(window) / float64(ttl.DefaultInterval)
	if tt.Requests.List != tt.LeaderWork || !near(tt.LeaderWork, sweeps) || tt.Requests.Total() != tt.Requests.List {
		t.Errorf("ttl: %v in %d sweeps; want one LIST per sweep (%.0f±1 sweeps) and nothing else once every entry is known",
			tt.Requests, tt.LeaderWork, sweeps)
	}
	if tt.StartUp.Get != ttlLiveEntries || tt.StartUp.List != 1 {
		t.Errorf("ttl first sweep: %v; want a LIST and each of %d entries read once", tt.StartUp, ttlLiveEntries)
	}

	scans := float64(window) / float64(queue.DefaultInterval)
	qi := rows[scenQueueIdle]
	if qi.Requests.List != qi.LeaderWork || !near(qi.Requests.List, scans) || qi.Requests.Total() != qi.Requests.List {
		t.Errorf("idle queue: %v in %d scans; want one LIST per scan, %.0f±1 scans, nothing else", qi.Requests, qi.LeaderWork, scans)
	}

	ql := rows[scenQueueLoad]
	wantMsgs := uint64(window / queueLoadEvery)
	if ql.Messages != wantMsgs || ql.PerMessage == nil {
		t.Fatalf("queue under load: %d messages, want %d; per message %v", ql.Messages, wantMsgs, ql.PerMessage)
	}
	pm := *ql.PerMessage
	if pm.Put < 1 || pm.List < 1 || pm.Get < 1 || pm.Delete < 1 {
		t.Errorf("per message %+v: an enqueue (PUT), a claim (LIST, GET) and an ack (DELETE) each cost something", pm)
	}
	client := uint64(math.Round(pm.Total() * float64(ql.Messages)))
	if !near(ql.LeaderWork, scans) || ql.Requests.Total() != ql.LeaderWork+client || ql.Requests.List < ql.LeaderWork {
		t.Errorf("queue under load: %v = %d scans + %d client requests?", ql.Requests, ql.LeaderWork, client)
	}

	sc := rows[scenScheduler]
	// The window is half-open: [t0, t0+window).
	if sc.Clock != clockVirtual || sc.TimeScale != 1 || sc.Window != window-time.Nanosecond {
		t.Fatalf("scheduler: clock %s, time scale %v, window %v; want the run's virtual clock and window", sc.Clock, sc.TimeScale, sc.Window)
	}
	slots := float64(window) / float64(schedJobEvery)
	if !near(sc.LeaderWork, slots) || sc.Requests.List != sc.LeaderWork || sc.Requests.Put != 2*sc.LeaderWork ||
		sc.Requests.Total() != 3*sc.LeaderWork {
		t.Errorf("scheduler: %v in %d slots; want %.0f±1 slots (one a virtual minute), each a LIST, a claim and a completion PUT",
			sc.Requests, sc.LeaderWork, slots)
	}

	// Every output carries the section.
	var text, csvOut, js bytes.Buffer
	if err := writeText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := writeCSV(&csvOut, r); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Built-in plugins: storage requests per hour", "Per message", "| scheduler |"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if want := fmt.Sprintf("plugin_cost,global,1,queue-idle_list_per_hour,%v", qi.PerHour.List); !strings.Contains(csvOut.String(), want) {
		t.Errorf("CSV lacks %q", want)
	}
	var back struct {
		PluginCosts []PluginCost `json:"plugin_costs"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.PluginCosts) != 4 || back.PluginCosts[1].Requests != qi.Requests {
		t.Errorf("JSON plugin_costs: %v, %+v", err, back.PluginCosts)
	}

	// -plugin-costs=false skips the section.
	o.pluginCosts, o.duration = false, time.Minute
	r, err = benchmark(context.Background(), o, nil)
	if err != nil || len(r.PluginCosts) != 0 {
		t.Errorf("-plugin-costs=false: %v, %d rows", err, len(r.PluginCosts))
	}
}
