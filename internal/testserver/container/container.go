// Package container runs the MinIO test server in Docker through
// testcontainers-go, on an image built locally FROM scratch with the static
// MinIO binary of `make servers`: no registry is needed. The reaper (Ryuk)
// is disabled, because its image would have to come from a registry; the
// container is removed by the test's cleanup instead.
//
// The testcontainers MinIO module (modules/minio) is not used: it could not
// be fetched at v0.45.0 through the module proxy, and it expects the
// registry image, so the generic container request of the core module is
// used.
//
// This package is test support; it imports testing.
package container

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/s3coord/coord/internal/testserver"
)

// dockerfile builds the image from the binary alone. The empty tmp
// directory gives MinIO a /tmp, which scratch lacks.
const dockerfile = `FROM scratch
COPY minio /minio
COPY tmp /tmp
ENV HOME=/data
EXPOSE 9000
ENTRYPOINT ["/minio"]
`

// Image name of the locally built image; it is kept between runs so that
// Docker's build cache makes rebuilds cheap.
const (
	imageRepo = "coord-test-minio"
	imageTag  = "local"
)

// MinIO starts a MinIO container for t and returns it as a Server; the
// container is removed when t ends. It skips t when no healthy Docker
// engine is reachable, and when the MinIO binary is missing (failing in
// CI, like testserver.MinIO).
func MinIO(t *testing.T) testserver.Server {
	t.Helper()
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// Tests talk to loopback only: the daemon publishes container ports
	// there, and no other address is ever a target.
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	testcontainers.SkipIfProviderIsNotHealthy(t)
	bin := testserver.MinIOBinary(t)

	buildDir := t.TempDir()
	if err := linkOrCopy(bin, filepath.Join(buildDir, "minio")); err != nil {
		t.Fatalf("prepare image context: %v", err)
	}
	if err := os.Mkdir(filepath.Join(buildDir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}

	const user, password = "coordtest", "coordtest-secret"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, "",
		testcontainers.WithDockerfile(testcontainers.FromDockerfile{
			Context:   buildDir,
			Repo:      imageRepo,
			Tag:       imageTag,
			KeepImage: true,
		}),
		testcontainers.WithEnv(map[string]string{
			"MINIO_ROOT_USER":     user,
			"MINIO_ROOT_PASSWORD": password,
			"MINIO_BROWSER":       "off",
			"MINIO_UPDATE":        "off",
		}),
		testcontainers.WithCmd("server", "/data", "--quiet", "--address", ":9000", "--console-address", ":9001"),
		testcontainers.WithExposedPorts("9000/tcp"),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start MinIO container: %v", err)
	}
	port, err := ctr.MappedPort(ctx, "9000/tcp")
	if err != nil {
		t.Fatalf("MinIO container port: %v", err)
	}
	// Only loopback is ever contacted: a local daemon publishes the
	// mapped port there.
	srv := testserver.Server{
		Name:      "minio-container",
		Endpoint:  "http://" + net.JoinHostPort("127.0.0.1", port.Port()),
		AccessKey: user,
		SecretKey: password,
		Region:    "us-east-1",
	}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	if err := testserver.Ready(rctx, srv); err != nil {
		t.Fatalf("MinIO container on %s: %v", srv.Endpoint, err)
	}
	return srv
}

// linkOrCopy hard-links src to dst, or copies it when they are on
// different file systems. A symbolic link is followed first: a link to it
// would point outside the image's build context.
func linkOrCopy(src, dst string) error {
	if p, err := filepath.EvalSymlinks(src); err == nil {
		src = p
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
