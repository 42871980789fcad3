package coord_test

import (
	"testing"

	"github.com/s3coord/coord/driver/gcs"
	"github.com/s3coord/coord/internal/testserver"
)

// The engine on the GCS emulator through driver/gcs (generation
// preconditions): election, crash and graceful handovers, no two leaders
// (TestMinIOElection's scenario).
func TestGCSElection(t *testing.T) {
	srv := testserver.GCS(t)
	bucket := testserver.UniqueName("coord-engine")
	if _, err := testserver.CreateGCSBucket(t.Context(), srv.Endpoint, bucket); err != nil {
		t.Fatal(err)
	}
	store, err := gcs.Open(t.Context(), gcs.Config{Bucket: bucket, Prefix: "coord/", Endpoint: srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testElection(t, store)
}
