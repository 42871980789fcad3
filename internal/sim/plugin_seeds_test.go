package sim

import (
	"fmt"
	"strings"
	"testing"
)

// Seeds that found plugin bugs, kept as regression tests; only the
// plugins' properties are asserted here (engine properties are the
// sweep's and regression_test.go's). A run replays exactly, so each seed
// runs once; but a seed's schedule changes whenever the simulation learns
// a new fault, so these no longer replay the runs that found the bugs
// (the minimised forms are in plugin/*/faults_test.go).
//
//   - 2562, 2998: a scheduler slot ran twice (a damaged read of the job
//     record counted as an empty record).
//   - 2325, 2316: a queue message was never handled (a consumer behind
//     damaged reads was handed a wrong body and acked the message).
//   - 133: a ttl entry swept before it expired, and a queue message held
//     by two consumers at once.
func TestPluginRegressionSeeds(t *testing.T) {
	for _, seed := range []uint64{2562, 2998, 2325, 2316, 133} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := runSeed(t, Options{Seed: seed})
			for _, v := range r.Violations {
				if i := strings.Index(v, ": "); i >= 0 && isPluginViolation(v[i+2:]) || isPluginViolation(v) {
					t.Errorf("seed %d: %s", seed, v)
				}
			}
		})
	}
}

func isPluginViolation(v string) bool {
	for _, p := range []string{"queue: ", "scheduler: ", "ttl: "} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}
