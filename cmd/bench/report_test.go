package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
)

func TestPriceModel(t *testing.T) {
	r := Rates{Get: 1000, Head: 1000, Put: 2000, List: 1000, Delete: 5000}
	// (2000+1000)×0.005/1000 + (1000+1000)×0.0004/1000 = 0.015 + 0.0008.
	if got, want := S3Standard.PerHour(r), 0.0158; math.Abs(got-want) > 1e-12 {
		t.Errorf("PerHour = %v, want %v", got, want)
	}
	if got, want := S3Standard.PerMonth(r), 0.0158*730; math.Abs(got-want) > 1e-9 {
		t.Errorf("PerMonth = %v, want %v", got, want)
	}
	if got := S3Standard.PerHour(Rates{Delete: 1e9}); got != 0 {
		t.Errorf("DELETE must be free, cost %v", got)
	}
}

func TestPerHour(t *testing.T) {
	c := driver.Counts{Get: 10, Head: 1, Put: 20, List: 3, Delete: 2}
	r := PerHour(c, 15*time.Minute)
	if r != (Rates{Get: 40, Head: 4, Put: 80, List: 12, Delete: 8}) {
		t.Errorf("PerHour(15m) = %+v", r)
	}
	if r.Total() != 144 {
		t.Errorf("Total = %v, want 144", r.Total())
	}
	for _, cl := range driver.Classes() {
		if r.Of(cl) != float64(c.Of(cl))*4 {
			t.Errorf("Of(%v) = %v, want %v", cl, r.Of(cl), float64(c.Of(cl))*4)
		}
	}
	if PerHour(c, 0) != (Rates{}) {
		t.Error("a zero window must give zero rates")
	}
}

func TestTimingMedianMax(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		trials   []time.Duration
		med, max time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{5 * ms}, 5 * ms, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms, 9 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 8 * ms}, 3 * ms, 8 * ms},
	} {
		tm := Timing{Trials: tc.trials}
		if tm.Median() != tc.med || tm.Max() != tc.max {
			t.Errorf("%v: median %v max %v, want %v %v", tc.trials, tm.Median(), tm.Max(), tc.med, tc.max)
		}
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 7200: "7,200", 1234567.6: "1,234,568"} {
		if got := formatCount(v); got != want {
			t.Errorf("formatCount(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "$0.00", 0.004: "$0.0040", 0.35: "$0.35", 8.999: "$9.00", 1234.5: "$1,234.50"} {
		if got := formatDollars(v); got != want {
			t.Errorf("formatDollars(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 420 * time.Microsecond: "0.42ms", 35 * time.Millisecond: "35ms", 3210 * time.Millisecond: "3.21s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{time.Hour: "1h", 15 * time.Second: "15s", 90 * time.Minute: "1h30m"} {
		if got := formatWindow(d); got != want {
			t.Errorf("formatWindow(%v) = %q, want %q", d, got, want)
		}
	}
}

// sampleReport builds a report from per-scenario rates so that the
// derived numbers (reduction, cost, targets) can be checked by hand.
func sampleReport(globalTen float64) *Report {
	s := Settings{HeartbeatInterval: 5 * time.Second, HeartbeatJitter: time.Second, LeaseTimeout: 15 * time.Second,
		RenewDeadline: 10 * time.Second, WorkerTimeout: 20 * time.Second, Membership: true}
	r := &Report{Store: "mem://", Driver: "mem", Clock: clockVirtual, Workers: 3, Window: time.Hour, TimeScale: 1,
		Settings: s, Defaults: s, Trials: 3, Prices: S3Standard}
	add := func(mode string, n int, perHour float64) {
		rates := Rates{Get: perHour / 2, Put: perHour / 2}
		r.Steady = append(r.Steady, Steady{Mode: mode, Plugins: n, Workers: 3, Window: time.Hour,
			HeartbeatsPerHour: perHour / 2, PerHour: rates, CostPerMonth: S3Standard.PerMonth(rates)})
	}
	add(modePerPlugin, 1, 1000)
	add(modeGlobal, 1, 1000)
	add(modePerPlugin, 10, 10000)
	add(modeGlobal, 10, globalTen)
	sec := time.Second
	r.Convergence = []Convergence{{Timing: Timing{Mode: modeGlobal, Plugins: 10, Trials: []time.Duration{sec, 2 * sec, 3 * sec}},
		Known: []time.Duration{5 * sec, 6 * sec, 7 * sec}}}
	r.Failover = []Failover{
		{Timing: Timing{Mode: modeGlobal, Plugins: 10, Trials: []time.Duration{16 * sec, 20 * sec}}, Kind: failCrash, Bound: s.CrashBound()},
		{Timing: Timing{Mode: modeGlobal, Plugins: 10, Trials: []time.Duration{5 * sec, 7 * sec}}, Kind: failGraceful, Bound: s.GracefulBound()},
	}
	r.PerWorker = []WorkerLoad{
		{Mode: modeGlobal, Plugins: 10, Role: roleLeader, LeaseWrites: 655, WorkerWrites: 540},
		{Mode: modeGlobal, Plugins: 10, Role: roleFollower, Reads: 655, WorkerWrites: 541},
	}
	r.Targets = evaluateTargets(r)
	return r
}

func targetByPrefix(t *testing.T, r *Report, prefix string) Target {
	t.Helper()
	for _, tg := range r.Targets {
		if strings.HasPrefix(tg.Name, prefix) {
			return tg
		}
	}
	t.Fatalf("no target %q in %+v", prefix, r.Targets)
	return Target{}
}

func TestReductionsAndTargets(t *testing.T) {
	r := sampleReport(1010)
	reds := r.Reductions()
	if len(reds) != 2 || reds[0].Plugins != 1 || reds[1].Plugins != 10 {
		t.Fatalf("reductions = %+v", reds)
	}
	if reds[0].Factor != 1 || math.Abs(reds[1].Factor-10000.0/1010) > 1e-12 {
		t.Errorf("factors = %v, %v", reds[0].Factor, reds[1].Factor)
	}
	for prefix, want := range map[string]string{
		"global requests/hour":           verdictPass, // +1% within ±1.47% (two loops of an hour)
		"reduction at 10 plugins":        verdictPass, // 9.90×: -0.99%, within ±1.17%
		"leader lease writes":            verdictPass,
		"follower reads":                 verdictPass,
		"follower worker-record writes":  verdictFail, // 541 > 540
		"time to leader":                 verdictNA,   // virtual clock
		"failover after a leader crash":  verdictPass, // 20s ≤ 21s
		"failover after a graceful stop": verdictFail, // 7s > 6s
	} {
		if got := targetByPrefix(t, r, prefix); got.Verdict != want {
			t.Errorf("%s: verdict %s, want %s (%+v)", prefix, got.Verdict, want, got)
		}
	}
	if got := targetByPrefix(t, r, "global requests/hour").Measured; got != "+1.00%" {
		t.Errorf("flatness measured %q, want +1.00%%", got)
	}

	r = sampleReport(1030) // +3%: flatness fails, and 9.71× is too far from 10×
	if got := targetByPrefix(t, r, "global requests/hour"); got.Verdict != verdictFail {
		t.Errorf("+3%%: %+v", got)
	}
	if got := targetByPrefix(t, r, "reduction at 10"); got.Verdict != verdictFail {
		t.Errorf("9.71×: %+v", got)
	}
	r = sampleReport(990) // 10.10×: above the model by as much as 9.90× is below
	if got := targetByPrefix(t, r, "reduction at 10"); got.Verdict != verdictPass {
		t.Errorf("10.10×: %+v", got)
	}
	if got := targetByPrefix(t, r, "reduction at 10").Want; got != "10× ± 1.17% (n loops ÷ one loop; the jitter's spread)" {
		t.Errorf("reduction target %q", got)
	}
	r = sampleReport(1000)
	if got := targetByPrefix(t, r, "reduction at 10"); got.Verdict != verdictPass || got.Measured != "10.00×" {
		t.Errorf("exact 10×: %+v", got)
	}
	r.Clock = clockRealTime
	r.Targets = evaluateTargets(r)
	if got := targetByPrefix(t, r, "time to leader"); got.Verdict != verdictFail { // 2s median ≥ 100ms
		t.Errorf("real-time convergence of 2s: %+v", got)
	}
}

func TestTargetsNotRun(t *testing.T) {
	r := &Report{Settings: Settings{Membership: true}}
	r.Steady = []Steady{{Mode: modePerPlugin, Plugins: 1}, {Mode: modePerPlugin, Plugins: 3}}
	for _, tg := range evaluateTargets(r) {
		if tg.Verdict != verdictNA {
			t.Errorf("%s: verdict %s without measurements, want N/A", tg.Name, tg.Verdict)
		}
	}
}

func TestWriteText(t *testing.T) {
	r := sampleReport(1000)
	var b bytes.Buffer
	if err := writeText(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"## API Call Reduction", "## Reduction", "## Per worker per hour", "## Startup Convergence", "## Failover", "## Targets",
		"| Setup", "| 10 Plugins (global)", "| 1 Plugin (per-plugin)", "10.00×", "PASS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	// Every table line of one table has the same width.
	var widths []int
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| Setup") {
			widths = []int{len([]rune(line))}
			continue
		}
		if widths != nil && strings.HasPrefix(line, "|") {
			if n := len([]rune(line)); n != widths[0] {
				t.Errorf("ragged table line (%d runes, header %d): %q", n, widths[0], line)
			}
		} else {
			widths = nil
		}
	}
	if strings.Contains(out, "SCALED") {
		t.Error("a virtual-clock run must not claim scaling")
	}
	r.Clock, r.TimeScale, r.Window = clockRealTime, 25, 15*time.Second
	b.Reset()
	writeText(&b, r)
	if !strings.Contains(b.String(), "REAL-TIME RUN, SCALED") || !strings.Contains(b.String(), "× 9.6") {
		t.Errorf("real-time output must say how it scaled (3600/15/25 = 9.6):\n%s", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport(1000)
	var b bytes.Buffer
	if err := writeJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Report
		Reductions []Reduction `json:"reductions"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(back.Steady) != 4 || back.Steady[3].PerHour != r.Steady[3].PerHour || back.Workers != 3 {
		t.Errorf("steady results did not round-trip: %+v", back.Steady)
	}
	if len(back.Reductions) != 2 || back.Reductions[1].Factor != 10 {
		t.Errorf("reductions = %+v", back.Reductions)
	}
	if len(back.Targets) != len(r.Targets) || back.Failover[0].Trials[1] != 20*time.Second {
		t.Errorf("targets/failover did not round-trip")
	}
}

func TestWriteCSV(t *testing.T) {
	r := sampleReport(1000)
	var b bytes.Buffer
	if err := writeCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	if strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Errorf("header = %v", rows[0])
	}
	find := func(section, mode, plugins, metric string) string {
		for _, row := range rows[1:] {
			if row[0] == section && row[1] == mode && row[2] == plugins && row[3] == metric {
				return row[4]
			}
		}
		t.Errorf("no CSV row %s/%s/%s/%s", section, mode, plugins, metric)
		return ""
	}
	if v := find("steady", modePerPlugin, "10", "requests_per_hour"); v != "10000" {
		t.Errorf("requests_per_hour = %q", v)
	}
	if v := find("run", "", "", "prices"); v != "S3 Standard" {
		t.Errorf("prices = %q", v)
	}
	if v := find("run", "", "", "heartbeat_interval_ms"); v != "5000" {
		t.Errorf("heartbeat_interval_ms = %q", v)
	}
	if v := find("reduction", "", "10", "factor"); v != "10" {
		t.Errorf("factor = %q", v)
	}
	if v := find("failover", modeGlobal, "10", "crash_max_ms"); v != "20000" {
		t.Errorf("crash_max_ms = %q", v)
	}
	if v, _ := strconv.ParseFloat(find("convergence", modeGlobal, "10", "median_ms"), 64); v != 2000 {
		t.Errorf("median_ms = %v", v)
	}
	if v := find("convergence", modeGlobal, "10", "all_know_max_ms"); v != "7000" {
		t.Errorf("all_know_max_ms = %v", v)
	}
}

func TestWriteSVG(t *testing.T) {
	r := sampleReport(1000)
	var b bytes.Buffer
	if err := writeSVG(&b, r); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one polyline per mode in each panel (requests,
	// cost), each with one point per plugin count; the per-plugin line
	// rises, the global line is flat.
	type polyline struct {
		Mode   string `xml:"data-mode,attr"`
		Metric string `xml:"data-metric,attr"`
		Points string `xml:"points,attr"`
	}
	type group struct {
		Metric    string     `xml:"data-metric,attr"`
		Polylines []polyline `xml:"polyline"`
		Texts     []string   `xml:"text"`
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		Groups  []group  `xml:"g"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if len(doc.Groups) != 2 || doc.Groups[0].Metric != "requests" || doc.Groups[1].Metric != "cost" {
		t.Fatalf("panels = %+v, want requests and cost", doc.Groups)
	}
	for _, g := range doc.Groups {
		if len(g.Polylines) != 2 {
			t.Fatalf("%s: %d polylines, want 2", g.Metric, len(g.Polylines))
		}
		ys := map[string][]float64{}
		for _, p := range g.Polylines {
			for pt := range strings.FieldsSeq(p.Points) {
				xy := strings.Split(pt, ",")
				y, err := strconv.ParseFloat(xy[1], 64)
				if err != nil {
					t.Fatalf("bad point %q", pt)
				}
				ys[p.Mode] = append(ys[p.Mode], y)
			}
		}
		if len(ys[modePerPlugin]) != 2 || len(ys[modeGlobal]) != 2 {
			t.Fatalf("%s: points = %v", g.Metric, ys)
		}
		if !(ys[modePerPlugin][1] < ys[modePerPlugin][0]) { // SVG y grows downwards
			t.Errorf("%s: per-plugin line does not rise: %v", g.Metric, ys[modePerPlugin])
		}
		if ys[modeGlobal][0] != ys[modeGlobal][1] {
			t.Errorf("%s: global line is not flat: %v", g.Metric, ys[modeGlobal])
		}
	}
	// The cost panel labels its axis and its lines' ends in dollars: the
	// per-plugin line ends at 10 plugins' cost.
	want := formatDollars(r.Steady[2].CostPerMonth) + " " + modePerPlugin
	var dollars, found bool
	for _, tx := range doc.Groups[1].Texts {
		dollars = dollars || strings.HasPrefix(tx, "$")
		found = found || tx == want
	}
	if !dollars || !found {
		t.Errorf("cost panel texts %q: want $ axis labels and %q", doc.Groups[1].Texts, want)
	}
	if !strings.Contains(b.String(), "$ / month") || !strings.Contains(b.String(), "requests / hour") {
		t.Error("axis titles missing")
	}
	b.Reset()
	if err := writeSVG(&b, &Report{}); err == nil {
		t.Error("an empty report must not draw")
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0: 1, 1.3: 2, 3: 5, 7: 10, 2000: 2000, 2001: 5000} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var errOut bytes.Buffer
	o, err := parseFlags(nil, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if o.clock != clockVirtual || o.duration != time.Hour || o.workers != 3 || len(o.plugins) != 3 || o.plugins[2] != 10 ||
		len(o.modes) != 2 || !o.membership || o.trials != defaultVirtualTrial || !o.timing {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseFlags([]string{"-store", "minio://127.0.0.1:9000/bench/p?secure=false", "-plugins", "10, 1,1", "-modes", "global,per-plugin"}, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if o.clock != clockRealTime || o.duration != defaultRealDuration || o.trials != defaultRealTrials || len(o.plugins) != 2 || o.plugins[0] != 1 || o.modes[0] != modePerPlugin {
		t.Errorf("minio = %+v", o)
	}
	for _, bad := range [][]string{
		{"-plugins", "0"}, {"-plugins", "x"}, {"-trials", "-1"}, {"-modes", "leader"}, {"-workers", "0"}, {"-json", "-csv"},
		{"-virtual", "-realtime"}, {"-store", "s3://bucket/p", "-virtual"}, {"-store", "ftp://x"}, {"-store", "nowhere"},
		{"-interval", "1ms"}, {"extra"},
	} {
		if _, err := parseFlags(bad, &errOut); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestProgressSilentAndPlain(t *testing.T) {
	p := newProgress(nil, 2)
	p.begin("x")
	p.update(0.5)
	p.finish() // must not panic without a writer

	var b bytes.Buffer
	p = newProgress(&b, 2)
	p.begin("steady global 10 plugins")
	p.update(0.5) // not a terminal: no redraws
	p.begin("convergence")
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "[1/2") || !strings.Contains(lines[1], "[2/2") {
		t.Errorf("plain progress = %q", b.String())
	}
}
