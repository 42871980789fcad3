package s3_test

import (
	"testing"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/internal/testserver"
)

// TestConformanceSeaweedFS runs the whole suite through the s3 driver on
// SeaweedFS 4.53 (weed server -s3, started by run.sh).
func TestConformanceSeaweedFS(t *testing.T) {
	conformance.Run(t, newHarness(t, testserver.SeaweedFS(t)))
}

// TestCountsMatchServerSeaweedFS: the driver's request counts equal what
// SeaweedFS received, through a counting proxy.
func TestCountsMatchServerSeaweedFS(t *testing.T) {
	s := testserver.SeaweedFS(t)
	proxy := testserver.NewCountingProxy(t, s.Endpoint)
	st := newStore(t, s.WithEndpoint(proxy.URL).S3Client(), s.NewBucket(t))
	testserver.CheckCountsMatchServer(t, st, proxy)
}
