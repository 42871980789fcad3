//go:build chaos

package chaos

import "testing"

// TestRunChaos is the long run of the coordctl run test (`make chaos`):
// COORD_RUN_FAILOVERS (default 30) kills, freezes and partitions of the
// leading coordctl on MinIO, a graceful stop every fourth trial, each
// command a tree of 33 processes in 32 sessions; no overlap (the kernel's
// flock), no survivor and no cut shutdown allowed.
func TestRunChaos(t *testing.T) {
	runSupervision(t, envInt(t, "COORD_RUN_FAILOVERS", 30), []string{"kill", "stop", "partition"}, 4)
}
