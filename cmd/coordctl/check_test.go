package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
)

// rowOf returns the RESULT column of check's row in the table.
func rowOf(out, check string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == check {
			return f[1]
		}
	}
	return ""
}

func TestCheckMem(t *testing.T) {
	st := mem.New(mem.Options{})
	r := ctl(t.Context(), st, "check", "mem://")
	t.Log(r.stdout)
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, rule := range conformance.ProbeRules() {
		if got := rowOf(r.stdout, rule.Name); got != "PASS" {
			t.Errorf("%s: %q, want PASS", rule.Name, got)
		}
	}
	for _, want := range []string{"leftover objects: 0", "result          PASS (19 PASS, 0 WARN, 0 FAIL; 0 SKIP)", "recommended     HeartbeatInterval 1s, LeaseTimeout 3s, RenewDeadline 2s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	sameFigures(t, r.stdout)
	if res, _ := st.List(t.Context(), ""); len(res.Entries) != 0 {
		t.Errorf("the check left %d objects", len(res.Entries))
	}
}

func TestCheckJSON(t *testing.T) {
	r := ctl(t.Context(), mem.New(mem.Options{}), "check", "-json", "-samples", "5", "-prefix", "mine/", "mem://")
	var rep conformance.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code, err, r.stdout)
	}
	if r.code != exitOK || rep.Status != conformance.Pass || rep.Prefix != "mine/" || rep.Leftover != 0 || rep.Latency[0].Samples != 5 || len(rep.Findings) < 15 {
		t.Errorf("exit %d, report %+v", r.code, rep)
	}
}

// A store that ignores conditions: FAIL naming the rule, exit 3.
func TestCheckLyingStore(t *testing.T) {
	fs := faultstore.New(mem.New(mem.Options{}), 7)
	fs.Set(faultstore.Faults{IgnoreIfAbsentRate: 1, IgnoreIfMatchRate: 1})
	r := ctl(t.Context(), fs, "check", "mem://")
	if r.code != exitCheckFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitCheckFailed, r.stdout)
	}
	for _, rule := range []string{"Put/IfAbsent", "Put/IfMatch", "Put/IfMatchMissing", "Race/IfAbsent", "Race/IfMatch"} {
		if got := rowOf(r.stdout, rule); got != "FAIL" {
			t.Errorf("%s: %q, want FAIL\n%s", rule, got, r.stdout)
		}
	}
	if got := rowOf(r.stdout, "Get/Missing"); got != "PASS" {
		t.Errorf("Get/Missing: %q, want PASS", got)
	}
}

// A store that accepts requests and never answers, even ignoring the
// context: FAIL (timeout) within the bounds, exit 1.
func TestCheckHangingStore(t *testing.T) {
	fs := faultstore.New(mem.New(mem.Options{}), 7)
	fs.Set(faultstore.Faults{HangRate: 1, HangIgnoresContext: true})
	t.Cleanup(func() { fs.Close() })
	start := time.Now()
	r := ctl(t.Context(), fs, "check", "-timeout", "200ms", "-max-time", "2s", "mem://")
	took := time.Since(start)
	if r.code != exitError || rowOf(r.stdout, "Store/Write") != "FAIL" || !strings.Contains(r.stdout, "deadline exceeded") {
		t.Errorf("exit %d, want 1 with Store/Write FAIL (deadline exceeded)\n%s", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "-1") || !strings.Contains(r.stdout, "leftover objects: unknown") || !strings.Contains(r.stdout, "result          FAIL (") {
		t.Errorf("want leftover objects unknown (never -1) and result FAIL\n%s", r.stdout)
	}
	if took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestCheckUsage(t *testing.T) {
	st := mem.New(mem.Options{})
	for _, args := range [][]string{
		{"check"},
		{"check", "mem://", "extra"},
		{"check", "-race-width", "1", "mem://"},
		{"check", "-prefix", "no-slash", "mem://"},
		{"check", "-max-time", "0s", "mem://"},
		{"check", "-nope", "mem://"},
	} {
		if r := ctl(t.Context(), st, args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	r := ctl(t.Context(), st, "check", "-h")
	if r.code != exitOK || !strings.Contains(r.stdout, "coordctl check [flags] STORE_URL") || !strings.Contains(r.stdout, "3 a check failed") {
		t.Errorf("check -h: exit %d\n%s", r.code, r.stdout)
	}
	var _ driver.Store = st
}

// sameFigures checks that each latency line's p50 and p99 are the figures
// of the Latency/Config row: one latency, formatted the same everywhere.
func sameFigures(t *testing.T, out string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "latency ")
		if !ok {
			continue
		}
		i := strings.Index(rest, " p50 ")
		op := strings.TrimSpace(rest[:i])
		f := strings.Fields(rest[i:])
		p50, p99 := f[1], f[3]
		if f[1] == "0s" {
			t.Errorf("%s: p50 0s", op)
		}
		want := fmt.Sprintf("%s: p50 %s, p99 %s ", op, p50, p99)
		if !strings.Contains(out, want) {
			t.Errorf("latency line %q: the Latency/Config row lacks %q", line, want)
		}
		n++
	}
	if n < 3 {
		t.Errorf("%d latency lines, want at least 3\n%s", n, out)
	}
}

// TestCheckContended: on a store slow only under contention (a
// conditional write that loses takes 300 ms), the race rows show their
// rounds and the recommendation follows them (10 x 300ms+: 4s or more,
// where the sequential figures give 1s); a SKIP does not make the result SKIP.
func TestCheckContended(t *testing.T) {
	fs := faultstore.New(mem.New(mem.Options{}), 7)
	fs.DisableConditionalDelete()
	fs.SetHooks(faultstore.Hooks{After: func(c faultstore.Call, err error) error {
		if c.Op == faultstore.OpPut && errors.Is(err, driver.ErrPrecondition) {
			time.Sleep(300 * time.Millisecond)
		}
		return err
	}})
	r := ctl(t.Context(), fs, "check", "-samples", "5", "mem://")
	t.Log(r.stdout)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"3 rounds of 16 writers: p50 ",
		"latency Race/IfAbsent round      p50 ",
		"result          PASS (17 PASS, 0 WARN, 0 FAIL; 2 SKIP)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	_, rest, _ := strings.Cut(r.stdout, "recommended     HeartbeatInterval ")
	hb, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(rest + " x")[0], ","))
	if err != nil || hb < 4*time.Second {
		t.Errorf("recommended HeartbeatInterval %v (%v), want at least 4s", hb, err)
	}
	sameFigures(t, r.stdout)
}
