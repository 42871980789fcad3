package storeurl_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
	_ "github.com/s3coord/coord/driver/gcs"
	_ "github.com/s3coord/coord/driver/minio"
	_ "github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/testserver"
	"github.com/s3coord/coord/storeurl"
)

// noAWSFiles points the AWS SDK at no shared files and no credentials.
func noAWSFiles(t *testing.T) {
	clearCredentialEnv(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
}

// Opening s3, minio and gs stores does no I/O, so it can be checked
// without a server; the real round trips are in server_test.go.
func TestOpenS3MinIOAndGCSWithoutServer(t *testing.T) {
	noAWSFiles(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "b")
	ctx := t.Context()
	cases := []struct {
		raw        string
		name       string
		condDelete bool
	}{
		{"s3://bucket/p?region=eu-west-1", "s3", true},
		{"s3://bucket/p?endpoint=http://127.0.0.1:1&path_style=true", "s3", false},
		{"s3://bucket/p?endpoint=http://127.0.0.1:1&conditional_delete=true", "s3", true},
		{"s3://bucket/p?conditional_delete=false", "s3", false},
		{"minio://127.0.0.1:1/bucket/p?secure=false", "minio", false},
		{"gs://bucket/p?endpoint=http://127.0.0.1:1", "gcs", false},
		{"gs://bucket/p?endpoint=http://127.0.0.1:1&conditional_delete=true", "gcs", true},
	}
	for _, c := range cases {
		st, err := storeurl.Open(ctx, c.raw)
		if err != nil {
			t.Errorf("Open(%q): %v", c.raw, err)
			continue
		}
		caps := st.Capabilities()
		if caps.Name != c.name || caps.ConditionalDelete != c.condDelete {
			t.Errorf("Open(%q) capabilities = %+v; want name %s, conditional delete %v", c.raw, caps, c.name, c.condDelete)
		}
		_ = st.Close()
	}
	t.Setenv("MINIO_ACCESS_KEY", "a")
	if _, err := storeurl.Open(ctx, "minio://127.0.0.1:1/bucket"); !errors.Is(err, storeurl.ErrCredentials) {
		t.Errorf("half a credential pair: %v, want storeurl.ErrCredentials", err)
	}
	if _, err := storeurl.Open(ctx, "nosuch://x"); !errors.Is(err, storeurl.ErrUnknownScheme) {
		t.Errorf("unknown scheme: %v", err)
	}
	if _, err := (storeurl.Spec{Scheme: "nosuch"}).Open(ctx); !errors.Is(err, storeurl.ErrUnknownScheme) {
		t.Errorf("storeurl.Spec.Open of unknown scheme: %v", err)
	}
}

// recordingListener counts the connections made to a loopback port.
func recordingListener(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), conns
}

// With a custom endpoint and no credentials, a call fails at once,
// saying what to set, and nothing leaves for the instance metadata
// service (nor for the endpoint); default_chain=true asks for it.
func TestS3CustomEndpointWithoutCredentials(t *testing.T) {
	noAWSFiles(t)
	imds, imdsConns := recordingListener(t)
	store, storeConns := recordingListener(t)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+imds)
	raw := "s3://coord-bucket/p?path_style=true&endpoint=http://" + store
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := storeurl.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.Get(ctx, "k")
	if err == nil {
		t.Fatalf("Get from %s without credentials succeeded", raw)
	}
	for _, want := range []string{"no credentials found", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "default_chain=true", store} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, driver.ErrAccessDenied) {
		t.Errorf("error %v is not ErrAccessDenied", err)
	}
	if n, m := imdsConns.Load(), storeConns.Load(); n != 0 || m != 0 {
		t.Errorf("connections: %d to the instance metadata address, %d to the endpoint; want none", n, m)
	}

	// The listener does see the default chain go there.
	st2, err := storeurl.Open(ctx, raw+"&default_chain=true")
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	if _, err := st2.Get(short, "k"); err == nil {
		t.Fatal("Get without credentials succeeded")
	}
	if imdsConns.Load() == 0 {
		t.Error("default_chain=true: no connection to the instance metadata address (the recording listener sees nothing)")
	}
}

// minio:// speaks TLS unless secure=false; against a plain-HTTP server the
// error says so.
func TestMinIOPlainHTTPHint(t *testing.T) {
	srv := testserver.MinIO(t)
	if srv.Secure() {
		t.Skip("MinIO serves TLS here")
	}
	clearCredentialEnv(t)
	t.Setenv("MINIO_ACCESS_KEY", srv.AccessKey)
	t.Setenv("MINIO_SECRET_KEY", srv.SecretKey)
	st, err := storeurl.Open(t.Context(), "minio://"+srv.HostPort()+"/"+srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.Get(t.Context(), "k")
	if err == nil || !strings.Contains(err.Error(), "secure=false") || !errors.Is(err, driver.ErrUnreachable) {
		t.Fatalf("Get over TLS from a plain-HTTP server: %v; want ErrUnreachable hinting secure=false", err)
	}
}

// A program that imports the root package, driver/s3 and storeurl links
// neither the GCS SDK nor minio-go, and tells a user of gs:// what to
// import.
func TestS3OnlyProgramLinksNoOtherSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	out, err := exec.Command("go", "list", "-deps", "./testdata/s3only").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !containsPrefix(deps, "github.com/aws/aws-sdk-go-v2/service/s3") {
		t.Fatalf("go list -deps looks wrong: %d packages", len(deps))
	}
	for _, bad := range []string{"cloud.google.com/go/storage", "github.com/minio/minio-go", "google.golang.org/grpc"} {
		if containsPrefix(deps, bad) {
			t.Errorf("an s3-only program links %s", bad)
		}
	}
	run := exec.Command("go", "run", "./testdata/s3only", "gs://bucket/p")
	run.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	out, _ = run.CombinedOutput()
	if !strings.Contains(string(out), storeurl.ErrNotLinked.Error()) || !strings.Contains(string(out), `"github.com/s3coord/coord/driver/gcs"`) {
		t.Errorf("gs:// in an s3-only program: %s; want storeurl.ErrNotLinked naming driver/gcs", out)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
