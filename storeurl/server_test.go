package storeurl_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/gcs"
	"github.com/s3coord/coord/internal/testserver"
	"github.com/s3coord/coord/storeurl"
)

// roundTrip writes, reads, lists and deletes one object through a store
// opened from a URL.
func roundTrip(t *testing.T, raw string) {
	t.Helper()
	ctx := t.Context()
	st, err := storeurl.Open(ctx, raw)
	if err != nil {
		t.Fatalf("Open(%q): %v", raw, err)
	}
	defer st.Close()
	v, err := st.Put(ctx, "leader", []byte("w1"), driver.IfAbsent())
	if err != nil {
		t.Fatalf("%s: Put: %v", raw, err)
	}
	o, err := st.Get(ctx, "leader")
	if err != nil || string(o.Data) != "w1" || o.Version != v {
		t.Fatalf("%s: Get = %q@%s, %v", raw, o.Data, o.Version, err)
	}
	res, err := st.List(ctx, "")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].Key != "leader" {
		t.Fatalf("%s: List = %+v, %v (the prefix must be hidden)", raw, res.Entries, err)
	}
	if err := st.Delete(ctx, "leader", driver.None); err != nil {
		t.Fatalf("%s: Delete: %v", raw, err)
	}
}

func clearCredentialEnv(t *testing.T) {
	for _, k := range []string{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestOpenAgainstMinIO(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	secure := "false"
	if srv.Secure() {
		secure = "true"
	}
	base := "minio://" + srv.HostPort() + "/" + bucket

	t.Run("minio/MINIO_ACCESS_KEY", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv("MINIO_ACCESS_KEY", srv.AccessKey)
		t.Setenv("MINIO_SECRET_KEY", srv.SecretKey)
		roundTrip(t, base+"/a?secure="+secure+"&region="+srv.Region)
	})
	t.Run("minio/MINIO_ROOT_USER", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv("MINIO_ROOT_USER", srv.AccessKey)
		t.Setenv("MINIO_ROOT_PASSWORD", srv.SecretKey)
		roundTrip(t, base+"/b/?secure="+secure)
	})
	t.Run("minio/WrongCredentials", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv("MINIO_ACCESS_KEY", srv.AccessKey)
		t.Setenv("MINIO_SECRET_KEY", "wrong-secret-value")
		st, err := storeurl.Open(t.Context(), base+"?secure="+secure)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.Get(t.Context(), "k")
		if err == nil || errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Get with a wrong secret = %v, want an error", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-value") {
			t.Fatalf("error shows the secret: %v", err)
		}
	})
	t.Run("s3", func(t *testing.T) {
		clearCredentialEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		roundTrip(t, storeurl.Spec{Scheme: storeurl.SchemeS3, Bucket: bucket, Prefix: "c/", Region: srv.Region,
			Endpoint: srv.Endpoint, PathStyle: true}.String())
	})
}

func TestOpenAgainstVersityGW(t *testing.T) {
	srv := testserver.VersityGW(t)
	bucket := srv.NewBucket(t)
	clearCredentialEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	roundTrip(t, storeurl.Spec{Scheme: storeurl.SchemeS3, Bucket: bucket, Prefix: "coord/", Region: srv.Region,
		Endpoint: srv.Endpoint, PathStyle: true}.String())
}

// gcsEndpoint is the GCS emulator started by internal/testserver/run.sh;
// without one the test skips, except under CI=true, where it fails.
func gcsEndpoint(t *testing.T) string {
	e := os.Getenv("COORD_TEST_GCS_ENDPOINT")
	if e == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("COORD_TEST_GCS_ENDPOINT is not set (run under internal/testserver/run.sh)")
		}
		t.Skip("COORD_TEST_GCS_ENDPOINT is not set (run under internal/testserver/run.sh)")
	}
	return e
}

func TestOpenAgainstFakeGCS(t *testing.T) {
	ep := gcsEndpoint(t)
	bucket := testserver.UniqueName("coord-url")
	st, err := gcs.Open(t.Context(), gcs.Config{Endpoint: ep, Bucket: bucket, Project: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, "gs://"+bucket+"/coord?endpoint="+ep)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(ep, "http://"))
	roundTrip(t, "gs://"+bucket+"/env")
}
