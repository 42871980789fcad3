package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/s3coord/coord/internal/testserver"
)

// TestBenchAgainstMinIO is `make bench-minio`: the benchmark, through its
// command line, against the loopback MinIO server started by
// internal/testserver/run.sh, in a fresh bucket. It prints the report and
// runs only when COORD_BENCH_MINIO is set (it takes minutes); extra flags
// come from COORD_BENCH_FLAGS.
func TestBenchAgainstMinIO(t *testing.T) {
	if os.Getenv("COORD_BENCH_MINIO") == "" {
		t.Skip("set COORD_BENCH_MINIO=1 (make bench-minio) to run the benchmark against MinIO")
	}
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	t.Setenv("MINIO_ACCESS_KEY", srv.AccessKey)
	t.Setenv("MINIO_SECRET_KEY", srv.SecretKey)
	args := []string{"-store", "minio://" + srv.HostPort() + "/" + bucket + "/bench/?secure=false"}
	args = append(args, strings.Fields(os.Getenv("COORD_BENCH_FLAGS"))...)
	if code := run(context.Background(), args, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("bench %q: exit status %d", args, code)
	}
}
