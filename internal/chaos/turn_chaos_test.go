//go:build chaos

package chaos

import (
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// turnChaos is the long turn run of TestChaos: on MinIO behind the
// stripping proxy, both drivers in both modes, COORD_CHAOS_TURNS spells
// each (default 8; the leader of a plugin partitioned or closed while the
// store lies), every overlap within the bound.
func turnChaos(t *testing.T, bin string) {
	spells := envInt(t, "COORD_CHAOS_TURNS", 8)
	s := testserver.MinIO(t)
	var overlaps, sameEpoch, overlapped, n int
	var worst, bound time.Duration
	for _, driver := range []string{"s3", "minio"} {
		for _, mode := range []string{"global", "per-plugin"} {
			t.Run(driver+"/"+mode, func(t *testing.T) {
				rep := runTurnTrials(t, s, bin, driver, mode, spells, logDir(t, "turn-"+driver+"-"+mode))
				n, overlapped = n+len(rep.Spells), overlapped+rep.Overlapped
				overlaps, sameEpoch = overlaps+len(rep.Overlaps), sameEpoch+rep.SameEpoch
				worst, bound = max(worst, rep.Worst), rep.Bound
			})
		}
	}
	t.Logf("turns on MinIO: %d spells, %d overlaps in %d of them (%d at one epoch), the longest %v (bound %v)",
		n, overlaps, overlapped, sameEpoch, worst.Round(time.Millisecond), bound)
}
