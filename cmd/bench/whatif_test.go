package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/vclock"
)

// quickRun runs a small benchmark on mem (2 workers, 10 minutes of
// virtual time per scenario, no timings, no plugin costs) with extra
// flags, and returns the report and its text.
func quickRun(t *testing.T, extra ...string) (*Report, string) {
	t.Helper()
	args := append([]string{"-store", "mem://", "-plugins", "1,3", "-workers", "2", "-duration", "10m",
		"-timing=false", "-plugin-costs=false", "-quiet"}, extra...)
	o, err := parseFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := benchmark(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeText(&b, r); err != nil {
		t.Fatal(err)
	}
	return r, b.String()
}

// TestWhatIfSettingsRun checks that -interval, -lease and -worker-timeout
// reach the engine on the virtual clock, that the header says what ran,
// and that the heartbeats measured match the interval.
func TestWhatIfSettingsRun(t *testing.T) {
	r, out := quickRun(t, "-interval", "10s", "-lease", "30s", "-worker-timeout", "40s")
	s := r.Settings
	want := Settings{HeartbeatInterval: 10 * time.Second, HeartbeatJitter: time.Second, LeaseTimeout: 30 * time.Second,
		RenewDeadline: 20 * time.Second, WorkerTimeout: 40 * time.Second, Membership: true}
	if s != want || r.PerHourAt != want {
		t.Fatalf("settings %+v, per hour at %+v; want %+v", s, r.PerHourAt, want)
	}
	for _, line := range []string{
		"Settings: heartbeat 10.00s + jitter [0, 1.00s), lease 30.00s, renew deadline 20.00s, worker timeout 40.00s, membership on",
		"What-if: -interval 10s, -lease 30s, -worker-timeout 40s (engine defaults: heartbeat 5.00s, lease 15.00s, worker timeout 20.00s)",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("header lacks %q:\n%s", line, out)
		}
	}
	// One coordinator heartbeats every interval + [0, jitter).
	for _, st := range r.Steady {
		coords := float64(st.Workers)
		if st.Mode == modePerPlugin {
			coords *= float64(st.Plugins)
		}
		lo, hi := float64(time.Hour)/float64(s.HeartbeatInterval+s.HeartbeatJitter), float64(time.Hour)/float64(s.HeartbeatInterval)
		if per := st.HeartbeatsPerHour / coords; per < lo-1 || per > hi+1 {
			t.Errorf("%s: %.0f heartbeats/hour per coordinator at a 10s interval, want %.0f..%.0f", setupName(st.Plugins, st.Mode), per, lo, hi)
		}
	}
	// The failover bounds and targets follow the settings.
	if got := s.CrashBound(); got != 41*time.Second {
		t.Errorf("crash bound %v, want 30s + 10s + 1s", got)
	}
	for _, tg := range r.Targets {
		if strings.HasPrefix(tg.Name, "leader lease writes") && tg.Want != "≤ 360" {
			t.Errorf("leader lease writes target %q, want ≤ 360 at a 10s interval", tg.Want)
		}
	}
}

// TestDefaultsHeader: without what-if flags the header names the engine
// defaults and says nothing of a what-if.
func TestDefaultsHeader(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, at, scale, err := engineSettings(o)
	if err != nil {
		t.Fatal(err)
	}
	d := coord.DefaultConfig()
	if cfg.HeartbeatInterval != d.HeartbeatInterval || cfg.LeaseTimeout != d.LeaseTimeout || cfg.RenewDeadline != d.RenewDeadline ||
		cfg.WorkerTimeout != d.WorkerTimeout || cfg.HeartbeatJitter != d.HeartbeatJitter || scale != 1 || settingsOf(at) != settingsOf(cfg) || len(o.whatIf) != 0 {
		t.Errorf("defaults: %+v scale %v what-if %v", cfg, scale, o.whatIf)
	}
	var b bytes.Buffer
	r := sampleReport(1000)
	writeText(&b, r)
	if strings.Contains(b.String(), "What-if") {
		t.Errorf("a run at the defaults claims a what-if:\n%s", b.String())
	}
}

// TestWhatIfReachesTheHub: the configuration the benchmark builds is the
// one a Hub runs with (nothing left to the engine's defaults).
func TestWhatIfReachesTheHub(t *testing.T) {
	o, err := parseFlags([]string{"-store", "mem://", "-interval", "2s", "-lease", "9s", "-worker-timeout", "12s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _, err := engineSettings(o)
	if err != nil {
		t.Fatal(err)
	}
	vc := vclock.New(virtualStart)
	st := mem.New(mem.Options{Now: vc.Now})
	defer st.Close()
	cl, err := startCluster(context.Background(), virtualRunner{vc}, st, cfg, "hub-test/", coord.Global, 1, 1, 1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close(context.Background())
	got := settingsOf(cl.workers[0].hub.Config())
	if got != settingsOf(cfg) || got.HeartbeatInterval != 2*time.Second || got.HeartbeatJitter != 400*time.Millisecond ||
		got.RenewDeadline != 6*time.Second || got.WorkerTimeout != 12*time.Second {
		t.Errorf("hub runs %+v, benchmark reports %+v", got, settingsOf(cfg))
	}
}

// TestWhatIfErrors: an invalid combination is coord's ConfigError, named
// after the flag that sets the field.
func TestWhatIfErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
		cfg  bool // a coord.ConfigError
	}{
		{[]string{"-interval", "10s"}, "-interval, -lease", true},                              // 10s + 1s >= 10s renew deadline
		{[]string{"-lease", "6s"}, "-interval, -lease", true},                                  // renew deadline 4s <= 5s + 1s
		{[]string{"-worker-timeout", "5s"}, "-worker-timeout", true},                           // < 2 × 5s
		{[]string{"-lease", "2h", "-interval", "1m", "-worker-timeout", "3m"}, "-lease", true}, // > 1h
		{[]string{"-interval", "0s"}, "-interval", false},                                      // must be positive
		{[]string{"-lease", "-1s"}, "-lease", false},                                           // must be positive
		{[]string{"-interval", "5ms"}, "-interval", false},                                     // at least 10ms
		{[]string{"-store", "mem://", "-realtime", "-lease", "1s"}, "-interval, -lease", true}, // stands for a 5s heartbeat under a 0.67s renew deadline
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.flag) {
			t.Errorf("%v: error %q does not start with %s", tc.args, err, tc.flag)
		}
		if tc.cfg != errors.Is(err, coord.ErrInvalidConfig) {
			t.Errorf("%v: errors.Is(ErrInvalidConfig) = %v, want %v (%v)", tc.args, !tc.cfg, tc.cfg, err)
		}
	}
	// Valid what-ifs pass: the guide's development and high-traffic settings.
	for _, ok := range [][]string{
		{"-interval", "1s", "-lease", "3s"},
		{"-interval", "3s", "-lease", "10s", "-worker-timeout", "15s"},
		{"-interval", "10s", "-lease", "30s"},
	} {
		if _, err := parseFlags(ok, &bytes.Buffer{}); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}

func TestParsePrices(t *testing.T) {
	for in, want := range map[string]string{
		"s3-standard": "S3 Standard", "s3": "S3 Standard", "S3-Express": "S3 Express One Zone", "gcs": "GCS Standard",
		"gcs-standard": "GCS Standard", "azure-hot": "Azure Blob hot", "azure": "Azure Blob hot", "r2": "Cloudflare R2",
	} {
		p, err := parsePrices(in)
		if err != nil || p.Name != want {
			t.Errorf("parsePrices(%q) = %q, %v; want %q", in, p.Name, err, want)
		}
	}
	for _, p := range PriceModels {
		if p.Source == "" || !strings.Contains(p.Source, pricesRead) || p.WriteClass == "" || p.ReadClass == "" ||
			p.WritePer1000 <= 0 || p.ReadPer1000 <= 0 || p.DeletePer1000 != 0 {
			t.Errorf("%s: incomplete price list %+v", p.Key, p)
		}
	}
	p, err := parsePrices("put=0.01, get=$0.0008,delete=0.001,name=my store")
	if err != nil {
		t.Fatal(err)
	}
	if p.WritePer1000 != 0.01 || p.ReadPer1000 != 0.0008 || p.DeletePer1000 != 0.001 || p.Name != "my store" || p.Key != "custom" {
		t.Errorf("custom = %+v", p)
	}
	for _, bad := range []string{"", "s4", "put=0.01", "get=0.01", "put=x,get=1", "put=-1,get=1", "put=1,get=1,list=2",
		"put=1,put=2,get=1", "put=1,get=1,name=", "put=NaN,get=1", "put=1,get", "put=Inf,get=1"} {
		if _, err := parsePrices(bad); err == nil {
			t.Errorf("parsePrices(%q) accepted", bad)
		}
	}
	if _, err := parsePrices("nowhere"); !errors.Is(err, errUnknownPrices) || !strings.Contains(err.Error(), "r2") {
		t.Errorf("unknown price list: %v, want errUnknownPrices naming the known lists", err)
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"-prices", "nowhere"}, &bytes.Buffer{}, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "-prices: unknown price list") {
		t.Errorf("-prices nowhere: exit %d, %q", code, errOut.String())
	}
}

// TestPriceRatios: each price list prices a known load as its list says,
// and the ratio between two lists is the ratio of their prices.
func TestPriceRatios(t *testing.T) {
	writes := Rates{Put: 600, List: 400}
	reads := Rates{Get: 900, Head: 100}
	s3 := S3Standard
	for _, p := range PriceModels {
		// 1,000 writes cost WritePer1000 an hour, 1,000 reads ReadPer1000.
		if got := p.PerHour(writes); math.Abs(got-p.WritePer1000) > 1e-15 {
			t.Errorf("%s: 1,000 PUT+LIST cost %v, want %v", p.Key, got, p.WritePer1000)
		}
		if got := p.PerHour(reads); math.Abs(got-p.ReadPer1000) > 1e-15 {
			t.Errorf("%s: 1,000 GET+HEAD cost %v, want %v", p.Key, got, p.ReadPer1000)
		}
		if got, want := p.PerMonth(writes)/s3.PerMonth(writes), p.WritePer1000/s3.WritePer1000; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s vs S3 Standard on writes: ratio %v, want %v", p.Key, got, want)
		}
		if got := p.PerHour(Rates{Delete: 1e6}); got != 0 {
			t.Errorf("%s: DELETE costs %v, want free", p.Key, got)
		}
	}
	// R2 is exactly 0.9 × S3 Standard in both classes.
	r2, _ := parsePrices("r2")
	if got := r2.PerMonth(writes.Add(reads)) / s3.PerMonth(writes.Add(reads)); math.Abs(got-0.9) > 1e-12 {
		t.Errorf("R2 / S3 Standard = %v, want 0.9", got)
	}
}

// TestPricesFlagScalesDollars: a run with -prices doubled prices reports
// every dollar figure doubled for the same counts, and names the list.
func TestPricesFlagScalesDollars(t *testing.T) {
	r, out := quickRun(t, "-prices", "put=0.01,get=0.0008,name=double S3", "-membership-twin=false")
	if r.Prices.Name != "double S3" || !strings.Contains(out, "cost at double S3 prices") {
		t.Errorf("prices %+v; output does not name them", r.Prices)
	}
	for _, st := range r.Steady {
		base := S3Standard.PerMonth(st.PerHour)
		if base == 0 || math.Abs(st.CostPerMonth/base-2) > 1e-12 {
			t.Errorf("%s: cost %v at double prices, %v at S3 Standard: want ×2", setupName(st.Plugins, st.Mode), st.CostPerMonth, base)
		}
		if got := st.Split.ElectionCostPerMonth + st.Split.MembershipCostPerMonth + st.Split.OtherCostPerMonth; math.Abs(got-st.CostPerMonth) > 1e-9 {
			t.Errorf("split costs add to %v, total %v", got, st.CostPerMonth)
		}
	}
}

// TestSplitAddsUp: election + membership (+ other) is the driver's count,
// class by class; on mem every request is one call, so other is 0; the
// twin without membership makes no membership request and what it saves
// is what the table says.
func TestSplitAddsUp(t *testing.T) {
	r, out := quickRun(t)
	for _, st := range r.Steady {
		sp := st.Split
		for _, c := range driver.Classes() {
			if got := sp.Election.Of(c) + sp.Membership.Of(c) + sp.Other.Of(c); math.Abs(got-st.PerHour.Of(c)) > 1e-9 {
				t.Errorf("%s %v: split adds to %v, total %v", setupName(st.Plugins, st.Mode), c, got, st.PerHour.Of(c))
			}
		}
		if sp.Other.Total() != 0 {
			t.Errorf("%s: %v requests/hour unattributed on mem", setupName(st.Plugins, st.Mode), sp.Other)
		}
		if sp.Election.Total() == 0 || sp.Membership.Total() == 0 || sp.Membership.Get != 0 {
			t.Errorf("%s: split %+v: want election and membership requests, no membership GET", setupName(st.Plugins, st.Mode), sp)
		}
		if share := st.MembershipShare(); share <= 0 || share >= 1 {
			t.Errorf("membership share %v", share)
		}
		w := st.WithoutMembership
		if (w != nil) != (st.Mode == modeGlobal) {
			t.Fatalf("%s: twin %v, want one for global mode only", setupName(st.Plugins, st.Mode), w)
		}
		if w == nil {
			continue
		}
		if w.Split.Membership.Total() != 0 || w.CostPerMonth >= st.CostPerMonth {
			t.Errorf("%s without membership: %+v", setupName(st.Plugins, st.Mode), w.Split)
		}
		saves := formatDollars(st.CostPerMonth - w.CostPerMonth)
		if !strings.Contains(out, " "+formatDollars(w.CostPerMonth)+" |") || !strings.Contains(out, " "+saves+" |") {
			t.Errorf("table lacks the twin's cost %s or the saving %s:\n%s", formatDollars(w.CostPerMonth), saves, out)
		}
	}
	if !strings.Contains(out, "## Cost by purpose") {
		t.Errorf("no split table:\n%s", out)
	}

	// Membership off: nothing is membership, and no twin runs.
	r, _ = quickRun(t, "-membership=false")
	for _, st := range r.Steady {
		if st.Split.Membership.Total() != 0 || st.WithoutMembership != nil {
			t.Errorf("%s, membership off: split %+v, twin %v", setupName(st.Plugins, st.Mode), st.Split, st.WithoutMembership)
		}
	}
}

func TestPurposeOf(t *testing.T) {
	for key, want := range map[string]int{
		"r/ns/state.json":               purposeElection,
		"r/ns/plugins/p/state.json":     purposeElection,
		"r/ns/workers/w1.json":          purposeMembership,
		"r/ns/workers/":                 purposeMembership,
		"r/ns/plugins/p/workers/w.json": purposeMembership,
		"r/_check/abc.json":             purposeCheck,
	} {
		if got := purposeOf(key); got != want {
			t.Errorf("purposeOf(%q) = %d, want %d", key, got, want)
		}
	}
}
