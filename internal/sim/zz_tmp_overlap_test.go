package sim

import (
	"os"
	"strings"
	"testing"
)

func TestTmpOverlapHunt(t *testing.T) {
	seed := envInt("TMP_SEED", -1)
	if seed < 0 {
		t.Skip()
	}
	for i := range 200 {
		r := runSeed(t, Options{Seed: uint64(seed), Trace: true})
		if r.Overlaps > 0 {
			os.WriteFile("/tmp/w/overlap.txt", []byte(strings.Join(r.Violations, "\n")+"\n----\n"+strings.Join(r.Trace, "\n")), 0o644)
			t.Logf("attempt %d overlapped", i)
			return
		}
	}
	t.Log("no overlap")
}
