package sim

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/internal/faultstore"
)

// runSeed runs one seed in its own bubble.
func runSeed(t *testing.T, opts Options) Result {
	t.Helper()
	var res Result
	synctest.Test(t, func(t *testing.T) { res = Run(opts) })
	return res
}

// summary aggregates runs for the sweep's report.
type summary struct {
	mu                     sync.Mutex
	seeds, failed          int
	terms, failovers, over int
	samples                int
	injected               faultstore.Counts
	sim                    map[string]int
	worst                  time.Duration
	worstSeed              uint64
	garbled, stale         int
	doubledSeeds           int
	worstDoubled           time.Duration
	worstDoubledSeed       uint64
	failures               []uint64
	// standIn: failed seeds whose every violation is the liveness of a
	// plugin that only a global follower standing in for the namespace
	// leader could lead (or that plugin's own workload): see StandInMark.
	standIn       []uint64
	heterogeneous int
	unsafeSeeds   int
	refused       int
	alarms        int
	alarmSeeds    []uint64
	kinds         map[string]int // violations by kind
}

func (s *summary) add(r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sim == nil {
		s.sim = make(map[string]int)
	}
	s.seeds++
	s.terms += r.Terms
	s.failovers += r.Failovers
	s.over += r.Overlaps
	s.samples += r.Samples
	s.injected = s.injected.Add(r.Injected)
	for k, v := range r.Sim {
		s.sim[k] += v
	}
	if r.TimeToLeader > s.worst {
		s.worst, s.worstSeed = r.TimeToLeader, r.Seed
	}
	if r.GarbageAtHeal+r.StaleAtHeal > 0 {
		s.garbled += r.GarbageAtHeal
		s.stale += r.StaleAtHeal
		s.doubledSeeds++
	}
	if r.TimeToLeaderDoubled > s.worstDoubled {
		s.worstDoubled, s.worstDoubledSeed = r.TimeToLeaderDoubled, r.Seed
	}
	if r.Heterogeneous {
		s.heterogeneous++
	}
	if r.Lies != "" {
		s.unsafeSeeds++
	}
	s.refused += r.Refused
	if r.UnsafeAlarms > 0 {
		s.alarms += r.UnsafeAlarms
		s.alarmSeeds = append(s.alarmSeeds, r.Seed)
	}
	if s.kinds == nil {
		s.kinds = make(map[string]int)
	}
	for _, v := range r.Violations {
		s.kinds[violationKind(v)]++
	}
	if r.Failed() {
		s.failed++
		if onlyForWantOfStandIn(r.Violations) {
			s.standIn = append(s.standIn, r.Seed)
		} else {
			s.failures = append(s.failures, r.Seed)
		}
	}
}

// onlyForWantOfStandIn reports whether every violation is the liveness of
// a plugin that needs a stand-in, or a violation of that plugin's
// workload.
func onlyForWantOfStandIn(vs []string) bool {
	plugins := make(map[string]bool)
	for _, v := range vs {
		if strings.HasSuffix(v, StandInMark+")") {
			name, _, _ := strings.Cut(v, ":")
			plugins[name] = true
		}
	}
	for _, v := range vs {
		name, _, _ := strings.Cut(stripTime(v), ":")
		if !plugins[name] {
			return false
		}
	}
	return len(plugins) > 0
}

// stripTime removes a violation's "t=…s: " prefix.
func stripTime(v string) string {
	if strings.HasPrefix(v, "t=") {
		if _, rest, ok := strings.Cut(v, ": "); ok {
			return rest
		}
	}
	return v
}

var (
	instRE   = regexp.MustCompile(`\bp\d+(\.\d+|-g\d+)?\b`)
	numberRE = regexp.MustCompile(`\d+(\.\d+)?(ms|s|µs|ns|m)?`)
	parenRE  = regexp.MustCompile(` \((subscribed by|[^()]*epoch)[^()]*(\([^()]*\)[^()]*)*\)`)
)

// violationKind is a violation without its instants, processes, numbers
// and details, for the sweep's tally.
func violationKind(v string) string {
	v = stripTime(v)
	mark := strings.HasSuffix(v, StandInMark+")")
	v = parenRE.ReplaceAllString(v, "")
	v = instRE.ReplaceAllString(v, "p")
	v = numberRE.ReplaceAllString(v, "#")
	if len(v) > 120 {
		v = v[:120] + "…"
	}
	if mark {
		v += " [needs a stand-in]"
	}
	return v
}

func (s *summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seeds run: %d, failed: %d %v\n", s.seeds, s.failed-len(s.standIn), s.failures)
	fmt.Fprintf(&b, "failed only for want of a global stand-in (a plugin the namespace leader does not subscribe): %d %v\n", len(s.standIn), s.standIn)
	fmt.Fprintf(&b, "seeds with processes subscribing different plugins: %d; on a store ignoring conditions: %d (%d Uses refused)\n",
		s.heterogeneous, s.unsafeSeeds, s.refused)
	fmt.Fprintf(&b, "unsafe-store alarms while running: %d in %d seeds %v\n", s.alarms, len(s.alarmSeeds), s.alarmSeeds)
	fmt.Fprintf(&b, "store faults injected: %d (%v)\n", s.injected.Total(), s.injected)
	b.WriteString("simulated faults:")
	for _, k := range SimKinds {
		fmt.Fprintf(&b, " %s=%d", k, s.sim[k])
	}
	fmt.Fprintf(&b, "\nplugin leaderships: %d, failovers (leader changes): %d, Subscription.Term samples: %d\n", s.terms, s.failovers, s.samples)
	fmt.Fprintf(&b, "overlaps: %d\n", s.over)
	fmt.Fprintf(&b, "worst time to leader after heal: %v (seed %d)\n", s.worst, s.worstSeed)
	fmt.Fprintf(&b, "plugins whose lease record still held garbage at heal: %d; subscribed only in global mode, their lease and the namespace's held by processes gone: %d; in %d seeds, worst time to leader %v (seed %d, bound twice the usual)\n",
		s.garbled, s.stale, s.doubledSeeds, s.worstDoubled, s.worstDoubledSeed)
	if len(s.kinds) > 0 {
		b.WriteString("violations by kind:\n")
		kinds := make([]string, 0, len(s.kinds))
		for k := range s.kinds {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool {
			if s.kinds[kinds[i]] != s.kinds[kinds[j]] {
				return s.kinds[kinds[i]] > s.kinds[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		for _, k := range kinds {
			fmt.Fprintf(&b, "  %5d  %s\n", s.kinds[k], k)
		}
	}
	return b.String()
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

// sweep runs seeds first..first+n-1.
func sweep(t *testing.T, first uint64, n int) { sweepWith(t, Options{}, first, n) }

// sweepWith runs seeds first..first+n-1 with opts (its Seed set to each).
func sweepWith(t *testing.T, opts Options, first uint64, n int) {
	var sum summary
	start := time.Now()
	for i := range n {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			o := opts
			o.Seed = seed
			r := runSeed(t, o)
			sum.add(r)
			if r.Failed() {
				replay := "TestSimReplay"
				if o.UnsafeStore {
					replay = "TestSimUnsafeReplay"
				}
				t.Errorf("%v\n  %s\nreplay: COORD_SIM_SEED=%d go test -run '^%s$' ./internal/sim -v",
					r, strings.Join(r.Violations, "\n  "), seed, replay)
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("sweep of %d seeds from %d in %v\n%v", n, first, time.Since(start).Round(time.Millisecond), &sum)
		if sum.over != 0 {
			t.Errorf("%d overlaps", sum.over)
		}
	})
}

// TestSimQuick is the slice of the sweep that runs in every go test.
func TestSimQuick(t *testing.T) {
	sweep(t, 1, envInt("COORD_SIM_QUICK", 60))
}

// TestSimUnsafeStore is the slice of seeds run on a store that ignores
// conditions (Options.UnsafeStore): every Use must fail with
// coord.ErrUnsafeStore and nothing may ever lead. COORD_SIM_UNSAFE sets
// how many seeds (default 20), COORD_SIM_FIRST the first.
func TestSimUnsafeStore(t *testing.T) {
	sweepWith(t, Options{UnsafeStore: true}, uint64(envInt("COORD_SIM_FIRST", 1)), envInt("COORD_SIM_UNSAFE", 20))
}

// TestSimSweep is the full sweep (make chaos):
// COORD_SIM_SEEDS=5000 go test -run TestSimSweep ./internal/sim
func TestSimSweep(t *testing.T) {
	n := envInt("COORD_SIM_SEEDS", 0)
	if n == 0 {
		t.Skip("set COORD_SIM_SEEDS=<count> (and COORD_SIM_FIRST=<seed>) to run the full sweep")
	}
	sweep(t, uint64(envInt("COORD_SIM_FIRST", 1)), n)
}

// TestSimReplay replays one seed with its timeline:
// COORD_SIM_SEED=1234 go test -run '^TestSimReplay$' ./internal/sim -v
//
// A run replays exactly (see the package documentation, Replay): the
// replay makes the same requests in the same order, gets the same answers
// and prints the same timeline as the run that failed in the sweep.
func TestSimReplay(t *testing.T) {
	seed := envInt("COORD_SIM_SEED", -1)
	if seed < 0 {
		t.Skip("set COORD_SIM_SEED=<seed>")
	}
	replay(t, Options{Seed: uint64(seed), Trace: true})
}

// TestSimUnsafeReplay is TestSimReplay on a store that ignores
// conditions (Options.UnsafeStore).
func TestSimUnsafeReplay(t *testing.T) {
	seed := envInt("COORD_SIM_SEED", -1)
	if seed < 0 {
		t.Skip("set COORD_SIM_SEED=<seed>")
	}
	replay(t, Options{Seed: uint64(seed), Trace: true, UnsafeStore: true})
}

func replay(t *testing.T, opts Options) {
	r := runSeed(t, opts)
	for _, l := range r.Trace {
		t.Log(l)
	}
	t.Logf("%v\ninjected: %v\nsimulated: %v\nstore requests: %d, digest %016x", r, r.Injected, r.Sim, r.StoreRequests, r.Digest)
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// TestSimReplaysExactly runs seeds three times each, once without and
// twice with the timeline (which also turns the engine's logs on), and
// requires identical runs: the same store requests in the same order with
// the same answers (Result.StoreDigest) all three times, and the same
// timeline both times it was kept (Result.Digest). COORD_SIM_EXACT sets
// how many seeds (default 6; COORD_SIM_EXACT=600 is the full check)
// besides seeds that once did not replay: 47, 142 (a store that turns,
// two unsafe-store alarms; its Uses at the healing once ran at once, in
// the scheduler's order, behind one store check), 15000045 and 546001638
// (plugins lingering on timers of one label and one instant), 50000150 (a
// stand-in's release at a Close's deadline, refused by the breaker before
// the deadline's timer had fired, or refused by the deadline) and
// 34000102 (parallel claims whose request deadlines, timers of one label
// and one instant, fired in the order their goroutines made them).
func TestSimReplaysExactly(t *testing.T) {
	seeds := []uint64{47, 142, 15_000_045, 546_001_638, 50_000_150, 34_000_102}
	for i := range envInt("COORD_SIM_EXACT", 6) {
		seeds = append(seeds, uint64(1_000_003*(i+1))) // far from the quick slice's seeds
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			a := runSeed(t, Options{Seed: seed})
			b := runSeed(t, Options{Seed: seed, Trace: true})
			c := runSeed(t, Options{Seed: seed, Trace: true})
			if a.StoreRequests == 0 || len(b.Trace) == 0 {
				t.Fatalf("empty run: %d store requests, %d timeline lines", a.StoreRequests, len(b.Trace))
			}
			show := func(r Result) string {
				return fmt.Sprintf("%v; %d requests, store digest %016x, digest %016x", r, r.StoreRequests, r.StoreDigest, r.Digest)
			}
			if a.StoreDigest != b.StoreDigest || b.StoreDigest != c.StoreDigest || b.Digest != c.Digest ||
				a.Terms != b.Terms || a.Failovers != b.Failovers {
				t.Errorf("seed %d did not replay exactly:\n  %s\n  %s\n  %s\nfind the first difference: COORD_SIM_DIFF=%d go test -run TestSimDiff ./internal/sim -v",
					seed, show(a), show(b), show(c), seed)
			}
		})
	}
}

// TestSimRepeat runs seeds COORD_SIM_REPEAT_SEEDS (comma separated, or
// first-last) COORD_SIM_REPEAT times each (default 5) and fails on a seed
// whose runs differ.
func TestSimRepeat(t *testing.T) {
	list := os.Getenv("COORD_SIM_REPEAT_SEEDS")
	if list == "" {
		t.Skip("set COORD_SIM_REPEAT_SEEDS")
	}
	var seeds []uint64
	for _, f := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err1 := strconv.ParseUint(lo, 10, 64)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 64)
		}
		if err1 != nil || err2 != nil || b < a {
			t.Fatalf("COORD_SIM_REPEAT_SEEDS: bad item %q", f)
		}
		for s := a; s <= b; s++ {
			seeds = append(seeds, s)
		}
	}
	var mu sync.Mutex
	differ := 0
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			digests := map[uint64]int{}
			fails := 0
			for range envInt("COORD_SIM_REPEAT", 5) {
				r := runSeed(t, Options{Seed: seed})
				digests[r.Digest]++
				if r.Failed() {
					fails++
				}
			}
			if len(digests) != 1 {
				mu.Lock()
				differ++
				mu.Unlock()
				t.Errorf("seed %d: %d distinct digests %v, %d failed", seed, len(digests), digests, fails)
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d seeds, %d runs each: %d did not replay exactly", len(seeds), envInt("COORD_SIM_REPEAT", 5), differ)
	})
}

// TestSimDiff runs one seed until two runs differ (COORD_SIM_DIFF_RUNS
// runs, default 6) and shows where their timelines and their store
// requests first differ: COORD_SIM_DIFF=1234 go test -run TestSimDiff ./internal/sim -v
func TestSimDiff(t *testing.T) {
	seed := envInt("COORD_SIM_DIFF", -1)
	if seed < 0 {
		t.Skip("set COORD_SIM_DIFF=<seed>")
	}
	a := runSeed(t, Options{Seed: uint64(seed), Trace: true})
	var b Result
	for range envInt("COORD_SIM_DIFF_RUNS", 6) - 1 {
		if b = runSeed(t, Options{Seed: uint64(seed), Trace: true}); b.Digest != a.Digest {
			break
		}
	}
	if a.Digest == b.Digest {
		t.Logf("seed %d replayed exactly (digest %x, %d lines, %d store requests)", seed, a.Digest, len(a.Trace), a.StoreRequests)
		return
	}
	show := func(what string, x, y []string) {
		i := 0
		for i < len(x) && i < len(y) && x[i] == y[i] {
			i++
		}
		if i == len(x) && i == len(y) {
			return
		}
		t.Errorf("seed %d: %s differ from line %d (of %d and %d)", seed, what, i, len(x), len(y))
		from := max(0, i-15)
		for j := from; j < min(i+10, len(x)); j++ {
			t.Logf("a %s", x[j])
		}
		for j := from; j < min(i+10, len(y)); j++ {
			t.Logf("b %s", y[j])
		}
	}
	show("timelines", a.Trace, b.Trace)
	show("store requests", a.StoreLog, b.StoreLog)
}

// TestSimSeedsThatFailed replays sweep seeds that once failed. 2439: a
// Global leader paused past its renew deadline renewed its namespace
// lease on resume before its watchdog ran, and went on leading a plugin
// whose claim had lapsed meanwhile and been taken over by a per-plugin
// process (11 s of two leaders); a write sent after the deadline now
// extends nothing (term.extend).
func TestSimSeedsThatFailed(t *testing.T) {
	for _, seed := range []uint64{2439} {
		r := runSeed(t, Options{Seed: seed})
		if r.Failed() {
			t.Errorf("%v\n  %s", r, strings.Join(r.Violations, "\n  "))
		}
	}
}
