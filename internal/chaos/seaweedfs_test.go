package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// TestChaosQuickSeaweedFS is TestChaosQuick on SeaweedFS 4.53: four
// worker processes, six faults aimed at the leader (kill -9, SIGSTOP,
// requests accepted and never answered), the interval check.
func TestChaosQuickSeaweedFS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes against a real server")
	}
	s := testserver.SeaweedFS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin, err := BuildWorker(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Server:       Server{Name: s.Name, Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region, Bucket: s.NewBucket(t)},
		WorkerBinary: bin,
		Dir:          t.TempDir(),
		Failovers:    6,
		Kinds:        []FaultKind{Kill, Stop, Hang},
		MaxDuration:  75 * time.Second,
		Seed:         uint64(time.Now().UnixNano()),
		Logf:         t.Logf,
	}
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	assertRun(t, res, o.Failovers)
}
