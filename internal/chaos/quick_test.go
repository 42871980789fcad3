package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// TestChaosQuick is the slice of the real-server chaos run that `make
// test` runs: four worker processes on MinIO (and on SeaweedFS), six faults aimed at the
// leader (kill -9, SIGSTOP, and requests accepted and never answered, with
// the other workers' LISTs of worker records hung until the successor has
// held on), no noise, and the same check as TestChaos (build tag chaos),
// which runs the full sweep on both servers.
func TestChaosQuick(t *testing.T) { quickRun(t, testserver.MinIO) }

// TestChaosQuickSeaweedFS is TestChaosQuick on SeaweedFS 4.53.
func TestChaosQuickSeaweedFS(t *testing.T) { quickRun(t, testserver.SeaweedFS) }

func quickRun(t *testing.T, server func(testing.TB) testserver.Server) {
	if testing.Short() {
		t.Skip("starts worker processes against a real server")
	}
	s := server(t)
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

// assertRun fails t on any safety violation, any fault not followed by a
// failover, or fewer failovers than wanted.
func assertRun(t *testing.T, res Result, wantFailovers int) {
	t.Helper()
	t.Log(res.Summary())
	for _, v := range res.Check.Overlaps {
		t.Errorf("overlap: %s", v)
	}
	for _, v := range res.Check.EpochErrors {
		t.Errorf("epoch: %s", v)
	}
	for _, m := range res.Missed {
		t.Errorf("missed: %s", m)
	}
	if len(res.Failovers) < wantFailovers {
		t.Errorf("%d failovers, want at least %d", len(res.Failovers), wantFailovers)
	}
	if res.Check.Intervals <= len(res.Failovers) {
		t.Errorf("%d intervals for %d failovers: the check saw too little", res.Check.Intervals, len(res.Failovers))
	}
}
