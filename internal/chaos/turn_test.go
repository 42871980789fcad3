package chaos

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

func TestJudgeTurns(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	bound := 1500 * time.Millisecond
	spells := []Spell{{From: ms(1000), To: ms(4000)}, {From: ms(4500), To: ms(5000)}}
	ivs := []Interval{
		{Worker: "a", Plugin: "p", Epoch: 1, Start: ms(0), End: ms(1200)},
		{Worker: "b", Plugin: "p", Epoch: 2, Start: ms(1100), End: ms(1500)}, // 100ms with a
		{Worker: "c", Plugin: "p", Epoch: 2, Start: ms(1150), End: ms(3000)}, // with a (50ms) and b (350ms), same epoch as b
		{Worker: "d", Plugin: "p", Epoch: 3, Start: ms(3100), End: ms(9000)},
		{Worker: "f", Plugin: "p", Epoch: 3, Start: ms(4600), End: ms(4700)}, // with d, in the second spell (and in the first's window)
		{Worker: "e", Plugin: "p", Epoch: 4, Start: ms(8000), End: ms(9500)}, // outside: 1s with d
		{Worker: "a", Plugin: "q", Epoch: 5, Start: ms(1000), End: ms(9000)},
		{Worker: "b", Plugin: "q", Epoch: 5, Start: ms(2000), End: ms(6000)}, // 4s: too long
	}
	rep := judgeTurns(ivs, spells, bound)
	var got []string
	for _, o := range rep.Overlaps {
		got = append(got, fmt.Sprintf("%s %s/%s %v", o.Plugin, o.First, o.Second, o.Length()))
	}
	want := []string{"p a/b 100ms", "p a/c 50ms", "p b/c 350ms", "q a/b 4s", "p d/f 100ms", "p d/e 1s"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("overlaps %v, want %v", got, want)
	}
	if rep.Worst != 4*time.Second || rep.SameEpoch != 3 || rep.Overlapped != 2 {
		t.Errorf("worst %v, same epoch %d, spells overlapped %d; want 4s, 3, 2", rep.Worst, rep.SameEpoch, rep.Overlapped)
	}
	// q's overlap is too long, d/e's outside the spell; c repeating b's
	// epoch is allowed in the spell.
	if len(rep.Violations) != 2 || !strings.Contains(rep.Violations[0], "longer") || !strings.Contains(rep.Violations[1], "outside") {
		t.Errorf("violations %q, want q's too long and d/e's outside", rep.Violations)
	}
	rep = judgeTurns([]Interval{ivs[3], {Worker: "e", Plugin: "p", Epoch: 3, Start: ms(9100), End: ms(9500)}}, spells[:1], bound)
	if len(rep.Violations) != 1 || !strings.Contains(rep.Violations[0], "does not exceed epoch 3") {
		t.Errorf("violations %q, want an epoch repeated outside the spell", rep.Violations)
	}
}

// TestChaosTurnQuick is the slice of the turn runs (see RunTurn) that `make
// test` runs: four worker processes on MinIO behind the stripping proxy,
// for each driver (the AWS SDK, minio-go) and mode, two spells (the
// leader of a plugin partitioned, and closed, while the store lies). Every overlap must end within
// 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s, and leaders must return
// once the store is honest. TestChaos (build tag chaos) runs every driver
// and mode, eight spells each.
func TestChaosTurnQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes against a real server")
	}
	s := testserver.MinIO(t)
	bin, err := BuildWorker(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, driver := range []string{"s3", "minio"} {
		for _, mode := range []string{"global", "per-plugin"} {
			t.Run(driver+"/"+mode, func(t *testing.T) {
				runTurnTrials(t, s, bin, driver, mode, 2, t.TempDir())
			})
		}
	}
}

// runTurnTrials runs RunTurn with spells spells and fails t on any violation,
// missed takeover or leader that did not return.
func runTurnTrials(t *testing.T, s testserver.Server, bin, driver, mode string, spells int, dir string) TurnReport {
	t.Helper()
	o := Options{
		Server:       Server{Name: s.Name, Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region, Bucket: s.NewBucket(t)},
		WorkerBinary: bin,
		Dir:          dir,
		Driver:       driver,
		Modes:        []string{mode},
		Failovers:    spells,
		MaxDuration:  time.Duration(spells) * 40 * time.Second,
		Seed:         uint64(time.Now().UnixNano()),
		Logf:         t.Logf,
	}
	ctx, cancel := context.WithTimeout(t.Context(), o.MaxDuration+time.Minute)
	defer cancel()
	res, rep, err := RunTurn(ctx, o, TurnOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("%s, %s, %s: %s", s.Name, driver, mode, rep.Summary())
	if len(rep.Overlaps) > 0 {
		t.Logf("overlaps: %s", describeOverlaps(rep.Overlaps))
	}
	for _, v := range rep.Violations {
		t.Errorf("%s", v)
	}
	for _, m := range res.Missed {
		t.Errorf("missed: %s", m)
	}
	if len(res.Failovers) < spells {
		t.Errorf("%d takeovers on the lying store, want %d", len(res.Failovers), spells)
	}
	if rep.Stripped == 0 {
		t.Errorf("the proxy stripped no request: the store never turned")
	}
	if rep.ResignFailed > 0 {
		t.Errorf("%d requests could not be re-signed", rep.ResignFailed)
	}
	if driver == "minio" && rep.Decoded == 0 {
		t.Errorf("no aws-chunked body decoded: minio-go's PUTs went through unstripped")
	}
	if t.Failed() {
		t.Logf("logs in %s (events.log, w*.jsonl, w*.stderr)", dir)
	}
	return rep
}

// describeOverlaps lists overlaps for a log, longest first.
func describeOverlaps(os []Overlap) string {
	s := slices.Clone(os)
	slices.SortFunc(s, func(a, b Overlap) int { return cmp.Compare(b.Length(), a.Length()) })
	parts := make([]string, 0, len(s))
	for _, o := range s {
		parts = append(parts, o.String())
	}
	return strings.Join(parts, "; ")
}
