package minio_test

import (
	"testing"

	"github.com/s3coord/coord/internal/testserver/container"
)

// TestConformanceMinIOContainer runs the suite against MinIO in a Docker
// container started through testcontainers-go, where a Docker engine is
// available (skipped otherwise).
func TestConformanceMinIOContainer(t *testing.T) { runConformance(t, container.MinIO(t)) }
