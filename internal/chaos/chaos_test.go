//go:build chaos

package chaos

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// TestChaos is the real-server chaos run of `make chaos`: for MinIO,
// versitygw and SeaweedFS (started by internal/testserver/run.sh), four
// worker processes in mixed modes, at least 50 leader-aimed faults each
// followed by a failover, and the interval check; then the turn runs on
// MinIO (turnChaos). COORD_CHAOS_FAILOVERS,
// COORD_CHAOS_SEED (MinIO's; versitygw and SeaweedFS use the next ones) and
// COORD_CHAOS_NOISE_LATENCY (a duration) override the defaults;
// COORD_CHAOS_DIR keeps the workers' logs.
func TestChaos(t *testing.T) {
	failovers := envInt(t, "COORD_CHAOS_FAILOVERS", 50)
	seed := uint64(envInt(t, "COORD_CHAOS_SEED", int(time.Now().UnixNano()%1_000_000)))
	var noiseLatency time.Duration
	if v := os.Getenv("COORD_CHAOS_NOISE_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("COORD_CHAOS_NOISE_LATENCY=%q: %v", v, err)
		}
		noiseLatency = d
	}
	bin, err := BuildWorker(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	servers := []struct {
		name string
		get  func(testing.TB) testserver.Server
	}{{"minio", testserver.MinIO}, {"versitygw", testserver.VersityGW}, {"seaweedfs", testserver.SeaweedFS}}
	for i, server := range servers {
		t.Run(server.name, func(t *testing.T) {
			runChaos(t, server.get(t), bin, Options{Failovers: failovers, Seed: seed + uint64(i), Noise: true, NoiseLatency: noiseLatency, MaxDuration: 8 * time.Minute})
		})
	}
	t.Run("turn", func(t *testing.T) { turnChaos(t, bin) })
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// runChaos runs the orchestrator against s and fails t on any safety
// violation, missed failover or too few failovers.
func runChaos(t *testing.T, s testserver.Server, bin string, o Options) Result {
	t.Helper()
	o.Server = Server{Name: s.Name, Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region, Bucket: s.NewBucket(t)}
	o.WorkerBinary = bin
	o.Dir = logDir(t, s.Name)
	o.Logf = t.Logf
	t.Logf("%s: seed %d (replay the fault schedule with COORD_CHAOS_SEED=%d; timing is real, so a replay is not exact)", s.Name, o.Seed, o.Seed)
	ctx, cancel := context.WithTimeout(t.Context(), o.MaxDuration+2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	assertRun(t, res, o.Failovers)
	return res
}

// logDir is where the workers' interval logs go: a fresh directory under
// COORD_CHAOS_DIR when set (kept after the test, for inspection), else a
// temporary one.
func logDir(t *testing.T, name string) string {
	base := os.Getenv("COORD_CHAOS_DIR")
	if base == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp(base, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worker logs: %s", dir)
	return dir
}
