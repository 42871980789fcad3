package coordprom_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordprom"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// exported returns every series name coordprom exports (histograms with
// their _bucket, _sum and _count), gathered from a running Hub over an
// instrumented store.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	synctest.Test(t, func(t *testing.T) {
		store := coordprom.InstrumentStore(mem.New(mem.Options{}))
		h, err := coord.NewHub(store, coord.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		for name, f := range gather(t, coordprom.New(h), store) {
			names[name] = true
			if f.GetType() == dto.MetricType_HISTOGRAM {
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			}
		}
	})
	return names
}

var metricName = regexp.MustCompile(`\bcoord_[a-z0-9_]+\b`)

// referenced returns the coord_ metric names a file mentions.
func referenced(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range metricName.FindAllString(string(b), -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// TestDeployFilesUseExportedMetrics: the alert rules and the Grafana
// dashboard shipped in deploy/ name only metrics that coordprom exports
// (the rules' syntax is checked with Prometheus's own parser in
// deploy/validate, a module of its own), and the dashboard is JSON with
// an expression in every panel.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	names := exported(t)
	for _, must := range []string{"coord_plugin_leader", "coord_heartbeat_duration_seconds_bucket", "coord_request_duration_seconds_bucket",
		"coord_leadership_ends_total", "coord_lead_errors_total", "coord_store_check"} {
		if !names[must] {
			t.Errorf("%s is not exported", must)
		}
	}
	for _, path := range []string{"../deploy/prometheus/alerts.yml", "../deploy/grafana/coord.json"} {
		refs := referenced(t, path)
		if len(refs) < 8 {
			t.Errorf("%s names only %d metrics: %v", path, len(refs), refs)
		}
		for _, r := range refs {
			if !names[r] {
				t.Errorf("%s uses %s, which coordprom does not export", path, r)
			}
		}
	}
	b, err := os.ReadFile("../deploy/grafana/coord.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal("dashboard:", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) < 8 {
		t.Errorf("dashboard %q (uid %q) with %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !metricName.MatchString(tg.Expr) {
				t.Errorf("panel %q: %q names no coord metric", p.Title, tg.Expr)
			}
		}
	}
}
