package conformance

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// raceWidth is how many writers contend in the suite's race tests.
const raceWidth = 32

// race runs r.raceWidth calls of fn at once (released together) and
// returns their results, telling r.onRound how long the round took.
func race[R any](r *rules, fn func(i int) R) []R {
	out := make([]R, r.raceWidth)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range r.raceWidth {
		wg.Go(func() {
			<-start
			out[i] = fn(i)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	if r.onRound != nil {
		r.onRound(time.Since(began))
	}
	return out
}

// raceKeys returns the keys of the rounds of a race rule: base, then
// base-1, base-2...
func (r *rules) raceKeys(base string) []string {
	keys := []string{base}
	for i := 1; i < r.raceRounds; i++ {
		keys = append(keys, fmt.Sprintf("%s-%d", base, i))
	}
	return keys
}

type putResult struct {
	version string
	err     error
}

// oneWinner checks that exactly one of errs is nil and every other one is
// ErrPrecondition; it returns the winner's index or -1.
func oneWinner(t T, what string, errs []error) int {
	t.Helper()
	winner := -1
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, driver.ErrPrecondition):
			t.Errorf("%s: contender %d: %v, want nil or an error for which errors.Is(err, driver.ErrPrecondition) holds", what, i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d contenders won, want exactly 1", what, wins, len(errs))
		return -1
	}
	return winner
}

func (r *rules) testRaceIfAbsent(t T, st driver.Store) {
	for _, k := range r.raceKeys("race/ifabsent") {
		res := race(r, func(i int) putResult {
			v, err := st.Put(t.Context(), k, contender(i), driver.IfAbsent())
			return putResult{v, err}
		})
		checkPutRace(t, st, k, fmt.Sprintf("%d x Put(IfAbsent)", r.raceWidth), res)
	}
}

func (r *rules) testRaceIfMatch(t T, st driver.Store) {
	for _, k := range r.raceKeys("race/ifmatch") {
		base := put(t, st, k, []byte("base"), driver.None)
		res := race(r, func(i int) putResult {
			v, err := st.Put(t.Context(), k, contender(i), driver.IfMatch(base))
			return putResult{v, err}
		})
		checkPutRace(t, st, k, fmt.Sprintf("%d x Put(IfMatch)", r.raceWidth), res)
	}
}

func checkPutRace(t T, st driver.Store, k, what string, res []putResult) {
	t.Helper()
	errs := make([]error, len(res))
	for i, r := range res {
		errs[i] = r.err
	}
	w := oneWinner(t, what, errs)
	if w < 0 {
		return
	}
	wantObject(t, st, k, contender(w), res[w].version)
}

func (r *rules) testRaceDeleteIfMatch(t T, st driver.Store) {
	if !r.opts.ConditionalDelete {
		t.Skipf("the store does not support conditional delete")
	}
	for _, k := range r.raceKeys("race/delete") {
		v := put(t, st, k, []byte("doomed"), driver.None)
		errs := race(r, func(int) error {
			return st.Delete(t.Context(), k, driver.IfMatch(v))
		})
		oneWinner(t, fmt.Sprintf("%d x Delete(IfMatch)", r.raceWidth), errs)
		wantMissing(t, st, k)
	}
}

func contender(i int) []byte { return fmt.Appendf(nil, "contender-%02d", i) }
