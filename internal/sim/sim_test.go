package sim

import (
	"fmt"
	"os"
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
	failures               []uint64
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
	if r.Failed() {
		s.failed++
		s.failures = append(s.failures, r.Seed)
	}
}

func (s *summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seeds run: %d, failed: %d %v\n", s.seeds, s.failed, s.failures)
	fmt.Fprintf(&b, "store faults injected: %d (%v)\n", s.injected.Total(), s.injected)
	b.WriteString("simulated faults:")
	for _, k := range SimKinds {
		fmt.Fprintf(&b, " %s=%d", k, s.sim[k])
	}
	fmt.Fprintf(&b, "\nplugin leaderships: %d, failovers (leader changes): %d, Subscription.Term samples: %d\n", s.terms, s.failovers, s.samples)
	fmt.Fprintf(&b, "overlaps: %d\n", s.over)
	fmt.Fprintf(&b, "worst time to leader after heal: %v (seed %d)\n", s.worst, s.worstSeed)
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
func sweep(t *testing.T, first uint64, n int) {
	var sum summary
	start := time.Now()
	for i := range n {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := runSeed(t, Options{Seed: seed})
			sum.add(r)
			if r.Failed() {
				t.Errorf("%v\n  %s\nreplay: COORD_SIM_SEED=%d go test -run TestSimReplay ./internal/sim -v",
					r, strings.Join(r.Violations, "\n  "), seed)
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
// COORD_SIM_SEED=1234 go test -run TestSimReplay ./internal/sim -v
//
// The fault schedule, clocks, jitter and fault dice of a seed are fixed,
// but goroutines that wake at the same virtual instant still interleave
// freely (the engine runs its loops in goroutines), so a failure may need
// a few attempts to show again: the seed is run up to
// COORD_SIM_ATTEMPTS times (default 20) and the timeline of the first
// failing attempt (or of the last one) is printed.
func TestSimReplay(t *testing.T) {
	seed := envInt("COORD_SIM_SEED", -1)
	if seed < 0 {
		t.Skip("set COORD_SIM_SEED=<seed>")
	}
	attempts := envInt("COORD_SIM_ATTEMPTS", 20)
	var r Result
	digests := map[uint64]int{}
	for i := range attempts {
		r = runSeed(t, Options{Seed: uint64(seed), Trace: true})
		digests[r.Digest]++
		if r.Failed() {
			t.Logf("attempt %d of %d failed", i+1, attempts)
			break
		}
	}
	for _, l := range r.Trace {
		t.Log(l)
	}
	t.Logf("%v\ninjected: %v\nsimulated: %v\ndigests seen: %v", r, r.Injected, r.Sim, digests)
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// TestSimRepeat runs seeds COORD_SIM_REPEAT_SEEDS (comma separated) N times
// each and reports differing digests.
func TestSimRepeat(t *testing.T) {
	list := os.Getenv("COORD_SIM_REPEAT_SEEDS")
	if list == "" {
		t.Skip("set COORD_SIM_REPEAT_SEEDS")
	}
	for _, f := range strings.Split(list, ",") {
		seed, _ := strconv.ParseUint(f, 10, 64)
		digests := map[uint64]int{}
		fails := 0
		for range envInt("COORD_SIM_REPEAT", 5) {
			r := runSeed(t, Options{Seed: seed})
			digests[r.Digest]++
			if r.Failed() {
				fails++
			}
		}
		t.Logf("seed %d: %d distinct digests %v, %d failed", seed, len(digests), digests, fails)
	}
}
