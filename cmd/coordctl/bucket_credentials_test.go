package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen counts the connections made to a loopback address.
func listen(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), &n
}

// TestNoCredentialsFailFast: the coordctl process, given a custom
// endpoint and no credentials, fails at once with "no credentials found"
// and what to set, for bucket create and for check, without a connection
// to the instance-metadata address (nor to the endpoint). Before, bucket
// create said the credentials may not create buckets (403 AccessDenied)
// and check only "403 AccessDenied", after the SDK's chain went on to the
// instance-metadata address.
func TestNoCredentialsFailFast(t *testing.T) {
	imds, imdsConns := listen(t)
	endpoint, endpointConns := listen(t)
	none := filepath.Join(t.TempDir(), "none")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://"+imds, asMain+"=1")
	u := "s3://coord-bucket/coord/?path_style=true&region=us-east-1&endpoint=http://" + endpoint
	for _, args := range [][]string{{"bucket", "create", u}, {"check", "-max-time", "30s", u}} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			began := time.Now()
			err := cmd.Run()
			took := time.Since(began)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == exitOK {
				t.Fatalf("exit %v, want a failure\n%s%s", err, stdout.String(), stderr.String())
			}
			out := stdout.String() + stderr.String()
			t.Logf("exit %d in %v:\n%s", exit.ExitCode(), took, out)
			for _, want := range []string{"no credentials found", "AWS_ACCESS_KEY_ID"} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q", want)
				}
			}
			for _, wrong := range []string{"may not create", "403"} {
				if strings.Contains(out, wrong) {
					t.Errorf("output says %q: no request was sent", wrong)
				}
			}
			if n, m := imdsConns.Load(), endpointConns.Load(); n != 0 || m != 0 {
				t.Errorf("connections: %d to the instance-metadata address, %d to the endpoint; want none", n, m)
			}
		})
	}
}

// TestMinIOOverPlainHTTPHintsSecureFalse: the coordctl process, given a
// minio:// URL (TLS by default) for a server that speaks plain HTTP, says
// to add ?secure=false.
func TestMinIOOverPlainHTTPHintsSecureFalse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "bucket", "create", "minio://"+host+"/coord-bucket/")
	cmd.Env = append(os.Environ(), "MINIO_ACCESS_KEY=minio-user", "MINIO_SECRET_KEY=minio-secret-0123", asMain+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%v:\n%s", err, out)
	if err == nil || !strings.Contains(string(out), "secure=false") {
		t.Errorf("exit %v, want a failure hinting ?secure=false", err)
	}
}
