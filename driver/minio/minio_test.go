package minio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/internal/testserver"
)

// testMaxRead is a small read cap, so the suite's oversize test is cheap.
const testMaxRead = 64 << 10

// maxRetries bounds minio-go's attempts per call in these tests.
const maxRetries = 3

// harness makes stores under fresh prefixes of one bucket.
type harness struct {
	srv    testserver.Server
	bucket string
}

func (h harness) MakeStore(_ context.Context, t *testing.T) (driver.Store, error) {
	return open(h.srv, h.bucket, testserver.UniqueName("store")+"/")
}

func (h harness) Options() conformance.Options {
	return conformance.Options{
		ConditionalDelete: false, // minio-go has no conditional remove
		MaxRead:           testMaxRead,
		ClockSkew:         2 * time.Second,
		MaxAttempts:       maxRetries,
	}
}

func open(srv testserver.Server, bucket, prefix string) (*minio.Store, error) {
	return minio.New(minio.Config{
		Endpoint:   srv.HostPort(),
		Secure:     srv.Secure(),
		AccessKey:  srv.AccessKey,
		SecretKey:  srv.SecretKey,
		Region:     srv.Region,
		Bucket:     bucket,
		Prefix:     prefix,
		MaxRetries: maxRetries,
		MaxRead:    testMaxRead,
	})
}

// runConformance runs the suite against srv in a fresh bucket.
func runConformance(t *testing.T, srv testserver.Server) {
	conformance.Run(t, harness{srv: srv, bucket: srv.NewBucket(t)})
}

func TestConformanceMinIO(t *testing.T) { runConformance(t, testserver.MinIO(t)) }

// TestCountsMatchServer checks that the driver's request counts equal what
// the server received, through a counting proxy.
func TestCountsMatchServer(t *testing.T) {
	s := testserver.MinIO(t)
	bucket := s.NewBucket(t)
	proxy := testserver.NewCountingProxy(t, s.Endpoint)
	st, err := open(s.WithEndpoint(proxy.URL), bucket, "counts/")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testserver.CheckCountsMatchServer(t, st, proxy)
}

func TestErrorsKeepNativeError(t *testing.T) {
	s := testserver.MinIO(t)
	st, err := open(s, s.NewBucket(t), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = st.Get(ctx, "missing")
	var er miniogo.ErrorResponse
	if !errors.Is(err, driver.ErrNotFound) || !errors.As(err, &er) || er.Code != "NoSuchKey" {
		t.Errorf("Get(missing): %v, want ErrNotFound with the minio-go ErrorResponse reachable", err)
	}
	if _, err := st.Put(ctx, "k", []byte("x"), driver.None); err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(ctx, "k", []byte("y"), driver.IfAbsent())
	if !errors.Is(err, driver.ErrPrecondition) || !errors.As(err, &er) {
		t.Errorf("IfAbsent on existing: %v, want ErrPrecondition with the native error reachable", err)
	}

	// A missing bucket is a configuration error, never ErrNotFound.
	missing, err := open(s, testserver.UniqueName("coord-absent"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = missing.Get(ctx, "k"); err == nil || errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Get in a missing bucket: %v, want an error that is not ErrNotFound", err)
	}
	if _, err = missing.Put(ctx, "k", []byte("x"), driver.IfMatch("abc")); err == nil || errors.Is(err, driver.ErrPrecondition) {
		t.Errorf("IfMatch Put in a missing bucket: %v, want an error that is not ErrPrecondition", err)
	}
}
