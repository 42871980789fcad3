package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/testserver"
)

// TestBucketCreate: on MinIO and versitygw, through both URL schemes, a
// new bucket is created, a second run says it exists (exit 0), the bucket
// is usable at once (check passes its first write), and bad names and
// bad credentials get clear errors.
func TestBucketCreate(t *testing.T) {
	for _, get := range []func(testing.TB) testserver.Server{testserver.MinIO, testserver.VersityGW} {
		srv := get(t)
		for _, scheme := range []string{"s3", "minio"} {
			t.Run(srv.Name+"/"+scheme, func(t *testing.T) {
				serverEnv(t, srv)
				bucket := testserver.UniqueName("coord-made")
				u := s3URL(srv.Endpoint, bucket, "")
				if scheme == "minio" {
					u = fmt.Sprintf("minio://%s/%s/coord/?secure=false", srv.HostPort(), bucket)
				}
				r := ctlURL(t.Context(), "bucket", "create", u)
				if r.code != exitOK || r.stdout != "created bucket "+bucket+"\n" {
					t.Fatalf("first create: exit %d %q %q", r.code, r.stdout, r.stderr)
				}
				r = ctlURL(t.Context(), "bucket", "create", "-json", u)
				var out struct {
					Bucket  string
					Created bool
				}
				if err := json.Unmarshal([]byte(r.stdout), &out); r.code != exitOK || err != nil || out.Created || out.Bucket != bucket {
					t.Errorf("second create: exit %d %q %v", r.code, r.stdout, err)
				}
				if _, err := srv.S3Client().ListObjectsV2(t.Context(), s3List(bucket)); err != nil {
					t.Errorf("the bucket is not there: %v", err)
				}

				// Wrong credentials: refused, exit 1, no secret shown.
				t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
				t.Setenv("MINIO_SECRET_KEY", "wrong-secret-0123456789")
				other := strings.Replace(u, bucket, testserver.UniqueName("coord-made"), 1)
				r = ctlURL(t.Context(), "bucket", "create", other)
				if r.code != exitError || !strings.Contains(r.stderr, "access denied") || strings.Contains(r.stderr, "wrong-secret") {
					t.Errorf("wrong credentials: exit %d %q", r.code, r.stderr)
				}
				t.Logf("wrong credentials: %s", r.stderr)
			})
		}
	}
}

// s3:// refuses a bucket name that S3 never allows (uppercase) before any
// request; a name the URL accepts but the server refuses is a usage error.
func TestBucketCreateInvalidName(t *testing.T) {
	srv := testserver.MinIO(t)
	serverEnv(t, srv)
	r := ctlURL(t.Context(), "bucket", "create", fmt.Sprintf("minio://%s/ab/?secure=false", srv.HostPort()))
	if r.code != exitUsage {
		t.Errorf("a 2-letter bucket: exit %d %q %q, want %d", r.code, r.stdout, r.stderr, exitUsage)
	}
	t.Logf("%s", r.stderr)
}

func TestBucketUsage(t *testing.T) {
	st := mem.New(mem.Options{})
	for _, args := range [][]string{
		{"bucket"},
		{"bucket", "remove", "s3://b"},
		{"bucket", "create"},
		{"bucket", "create", "mem://"},
		{"bucket", "create", "s3://b", "extra"},
	} {
		if r := ctl(t.Context(), st, args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
}

func s3List(bucket string) *awss3.ListObjectsV2Input {
	return &awss3.ListObjectsV2Input{Bucket: &bucket}
}
