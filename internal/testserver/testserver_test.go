package testserver_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

// TestGCS: the GCS emulator of run.sh answers its JSON API: a bucket
// created with POST /storage/v1/b reads back with its name.
func TestGCS(t *testing.T) {
	srv := testserver.GCS(t)
	if srv.Name != "gcs" || !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("server %+v", srv)
	}
	name := testserver.UniqueName("coord-test")
	body, err := testserver.CreateGCSBucket(t.Context(), srv.Endpoint, name)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Name != name || b.Kind != "storage#bucket" {
		t.Errorf("bucket %+v (%v) from %s", b, err, body)
	}
}

// TestReady: every S3 server of run.sh passes Ready at once.
func TestReady(t *testing.T) {
	for _, get := range []func(testing.TB) testserver.Server{testserver.MinIO, testserver.VersityGW, testserver.SeaweedFS} {
		srv := get(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		if err := testserver.Ready(ctx, srv); err != nil {
			t.Errorf("%s: %v", srv.Name, err)
		}
		cancel()
	}
}

// TestReadyIsNotHealth: a server that answers every request, but refuses
// signed ones (as MinIO does with XMinioServerNotInitialized while it
// starts), is not ready; nor is a closed port. Ready returns the last
// error when its context ends.
func TestReadyIsNotHealth(t *testing.T) {
	starting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>XMinioServerNotInitialized</Code><Message>Server not initialized yet, please try again.</Message></Error>`))
	}))
	defer starting.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, endpoint := range []string{starting.URL, closed} {
		// Long enough for one answer (the SDK retries a 503 with back-off)
		// on a loaded machine; Ready tries until the context ends.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := testserver.Ready(ctx, testserver.Server{Name: "x", Endpoint: endpoint, AccessKey: "a", SecretKey: "b", Region: "us-east-1"})
		cancel()
		if err == nil {
			t.Errorf("%s: ready", endpoint)
		}
		if endpoint == starting.URL && !strings.Contains(err.Error(), "XMinioServerNotInitialized") {
			t.Errorf("%s: %v, want the server's last answer", endpoint, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	if err := testserver.GCSReady(ctx, closed); err == nil {
		t.Error("GCSReady on a closed port: nil")
	}
}
