package coord_test

import (
	"testing"

	"github.com/s3coord/coord/internal/testserver"
)

// onSeaweedFS runs test, one of the engine's MinIO tests, on SeaweedFS:
// for its duration the MinIO variables of run.sh name the SeaweedFS
// server, so that its testserver.MinIO(t) returns SeaweedFS.
func onSeaweedFS(t *testing.T, test func(*testing.T)) {
	s := testserver.SeaweedFS(t)
	for k, v := range map[string]string{"ENDPOINT": s.Endpoint, "ACCESS_KEY": s.AccessKey, "SECRET_KEY": s.SecretKey, "REGION": s.Region} {
		t.Setenv("COORD_TEST_MINIO_"+k, v)
	}
	test(t)
}

// The engine on SeaweedFS: election, crash and graceful handovers, no two
// leaders (TestMinIOElection).
func TestSeaweedFSElection(t *testing.T) { onSeaweedFS(t, TestMinIOElection) }

// A LIST of worker records that never answers, during a crash and a
// Close (TestHangWorkerListsMinIO).
func TestSeaweedFSHangWorkerLists(t *testing.T) { onSeaweedFS(t, TestHangWorkerListsMinIO) }

// Every request accepted and never answered for 4 s
// (TestHangEverythingMinIO).
func TestSeaweedFSHangEverything(t *testing.T) { onSeaweedFS(t, TestHangEverythingMinIO) }
