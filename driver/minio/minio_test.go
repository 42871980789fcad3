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

// The bad-input hooks: a missing bucket, a wrong secret, a closed port.

func (h harness) MakeStoreMissingBucket(context.Context, *testing.T) (conformance.BadStore, error) {
	bucket := testserver.UniqueName("coord-absent")
	st, err := open(h.srv, bucket, "")
	return conformance.BadStore{Store: st, Mention: []string{`"` + bucket + `"`, h.srv.Endpoint, "404 NoSuchBucket"}}, err
}

func (h harness) MakeStoreBadCredentials(context.Context, *testing.T) (conformance.BadStore, string, error) {
	const secret = "wrong-secret-0123456789"
	bad := h.srv
	bad.SecretKey = secret
	st, err := open(bad, h.bucket, "")
	return conformance.BadStore{Store: st, Mention: []string{`"` + h.bucket + `"`, h.srv.Endpoint}}, secret, err
}

func (h harness) MakeStoreUnreachable(_ context.Context, t *testing.T) (conformance.BadStore, error) {
	addr := testserver.ClosedPort(t)
	st, err := open(testserver.Server{Endpoint: "http://" + addr, AccessKey: "a", SecretKey: "b", Region: "us-east-1"}, "coord-any", "")
	return conformance.BadStore{Store: st, Mention: []string{addr}}, err
}

// runConformance runs the suite against srv in a fresh bucket, which
// must be empty at the end.
func runConformance(t *testing.T, srv testserver.Server) {
	h := harness{srv: srv, bucket: srv.NewBucket(t)}
	t.Cleanup(func() {
		st, err := open(srv, h.bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.List(context.Background(), "")
		if err != nil || len(res.Entries) != 0 {
			t.Errorf("the bucket holds %d objects at the end (%v)", len(res.Entries), err)
		}
	})
	conformance.Run(t, h)
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
