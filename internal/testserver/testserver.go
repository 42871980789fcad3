// Package testserver gives tests the servers started by run.sh (MinIO,
// versitygw and SeaweedFS, which speak S3, and fake-gcs-server, the GCS
// emulator, all on loopback with throwaway credentials and data
// directories), and the shared machinery to test drivers against them: a
// fresh bucket per test, and a counting reverse proxy that tells how many
// requests a server really received.
//
// run.sh exports, for each server NAME in MINIO, VERSITYGW and SEAWEEDFS:
//
//	COORD_TEST_<NAME>_ENDPOINT    http://127.0.0.1:<port>
//	COORD_TEST_<NAME>_ACCESS_KEY
//	COORD_TEST_<NAME>_SECRET_KEY
//	COORD_TEST_<NAME>_REGION      (optional, default us-east-1)
//
// and, for the GCS emulator (plain HTTP, no credentials; run.sh does not
// export STORAGE_EMULATOR_HOST, a test that wants it sets it):
//
//	COORD_TEST_GCS_ENDPOINT       http://127.0.0.1:<port>
//
// Without them a test that needs the server is skipped, except in CI
// (CI=true), where a missing server fails the test: CI must never pass by
// skipping the real-server tests.
//
// This package is test support; it imports testing.
package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is one running S3-compatible server.
type Server struct {
	// Name is "minio", "versitygw", "seaweedfs" or "gcs".
	Name string
	// Endpoint is the base URL, "http://127.0.0.1:<port>".
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
}

// MinIO returns the MinIO server started by run.sh, skipping the test when
// there is none (failing it in CI).
func MinIO(t testing.TB) Server { return fromEnv(t, "minio", "MINIO") }

// VersityGW returns the versitygw server (posix backend) started by
// run.sh, skipping the test when there is none (failing it in CI).
func VersityGW(t testing.TB) Server { return fromEnv(t, "versitygw", "VERSITYGW") }

// SeaweedFS returns the SeaweedFS server (weed server -s3: master,
// volume, filer and S3 gateway in one process) started by run.sh,
// skipping the test when there is none (failing it in CI).
func SeaweedFS(t testing.TB) Server { return fromEnv(t, "seaweedfs", "SEAWEEDFS") }

// GCS returns the GCS emulator (fake-gcs-server, in-memory backend, plain
// HTTP) started by run.sh: Name "gcs", Endpoint its base URL, no
// credentials. It skips the test when there is none (failing it in CI).
func GCS(t testing.TB) Server {
	t.Helper()
	s := Server{Name: "gcs", Endpoint: os.Getenv("COORD_TEST_GCS_ENDPOINT")}
	if s.Endpoint == "" {
		Unavailable(t, "no gcs server: COORD_TEST_GCS_ENDPOINT unset (run the tests through internal/testserver/run.sh)")
	}
	return s
}

// InCI reports whether the tests run in CI (CI=true), where missing
// servers are failures.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Unavailable skips t with reason, or fails it in CI.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true: real-server tests must not be skipped; run the tests through internal/testserver/run.sh)", reason)
	}
	t.Skip(reason)
}

func fromEnv(t testing.TB, name, env string) Server {
	t.Helper()
	get := func(v string) string { return os.Getenv("COORD_TEST_" + env + "_" + v) }
	s := Server{
		Name:      name,
		Endpoint:  get("ENDPOINT"),
		AccessKey: get("ACCESS_KEY"),
		SecretKey: get("SECRET_KEY"),
		Region:    get("REGION"),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		Unavailable(t, "no "+name+" server: COORD_TEST_"+env+"_ENDPOINT/_ACCESS_KEY/_SECRET_KEY unset (run the tests through internal/testserver/run.sh)")
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	return s
}

// HostPort returns the endpoint without scheme, as minio-go wants it.
func (s Server) HostPort() string {
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" {
		return s.Endpoint
	}
	return u.Host
}

// Secure reports whether the endpoint is HTTPS.
func (s Server) Secure() bool { return strings.HasPrefix(s.Endpoint, "https://") }

// WithEndpoint returns a copy of s reached through another endpoint (a
// proxy in front of it).
func (s Server) WithEndpoint(endpoint string) Server {
	s.Endpoint = endpoint
	return s
}

// S3Client returns a path-style aws-sdk-go-v2 client for s with static
// credentials and checksums only when required.
func (s Server) S3Client() *awss3.Client {
	return awss3.New(awss3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates a bucket with a fresh name on s and returns the name.
// The servers are throwaway, so the bucket is not removed afterwards.
func (s Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := UniqueName("coord-test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.S3Client().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("%s: create bucket %s: %v", s.Name, name, err)
	}
	return name
}

// UniqueName returns base followed by "-" and 12 random lowercase hex
// digits: valid as a bucket name and as a key segment.
func UniqueName(base string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base + "-" + hex.EncodeToString(b[:])
}

// MinIOBinary returns the path of the static MinIO server binary: the
// COORD_TEST_MINIO_BINARY that run.sh exports, else .bin/minio at the root
// of the module. It skips t when there is none (failing in CI).
func MinIOBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("COORD_TEST_MINIO_BINARY"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".bin", "minio")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	Unavailable(t, "no MinIO binary: COORD_TEST_MINIO_BINARY unset and no .bin/minio (run 'make servers')")
	return ""
}
