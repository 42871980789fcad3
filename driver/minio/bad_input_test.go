package minio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/internal/testserver"
)

// The store-side kinds of bad input through minio-go: a missing bucket,
// wrong credentials, no credentials, an unreachable or silent endpoint.
// Every call must fail with the driver's sentinel and a message naming
// the bucket or endpoint and the server's status and code, promptly,
// without a panic, and without writing anything. (The engine's view of
// these is tested once, in driver/s3.)

// callLimit bounds one call in these tests (maxRetries attempts).
const callLimit = 20 * time.Second

// clearCredentialEnv empties the variables minio-go's credential chain
// reads, so that a Config without keys sends anonymous requests.
func clearCredentialEnv(t *testing.T) {
	for _, k := range []string{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
}

func openStore(t *testing.T, srv testserver.Server, bucket string) *minio.Store {
	t.Helper()
	st, err := open(srv, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// nativeCodes checks that every error keeps minio-go's ErrorResponse
// reachable with errors.As, with one of the codes in want.
func nativeCodes(t *testing.T, errs map[string]error, want ...string) {
	t.Helper()
	for name, err := range errs {
		var er miniogo.ErrorResponse
		if !errors.As(err, &er) {
			t.Errorf("%s: native error not reachable with errors.As: %v", name, err)
			continue
		}
		found := false
		for _, w := range want {
			found = found || er.Code == w
		}
		if !found {
			t.Errorf("%s: server code %q, want one of %v", name, er.Code, want)
		}
	}
}

// keys lists bucket with the server's own credentials.
func keys(t *testing.T, srv testserver.Server, bucket string) []string {
	t.Helper()
	res, err := openStore(t, srv, bucket).List(t.Context(), "")
	if err != nil {
		t.Fatalf("list %s with good credentials: %v", bucket, err)
	}
	var ks []string
	for _, e := range res.Entries {
		ks = append(ks, e.Key)
	}
	return ks
}

// A missing bucket, a wrong secret and an unreachable endpoint are the
// conformance suite's rules BadInput/* (the harness hooks in
// minio_test.go); what follows adds what is particular to this driver.

func TestBadInputWrongCredentials(t *testing.T) {
	clearCredentialEnv(t)
	for _, srv := range []testserver.Server{testserver.MinIO(t), testserver.VersityGW(t)} {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := srv.NewBucket(t)
			if _, err := openStore(t, srv, bucket).Put(t.Context(), "keep", []byte("v"), driver.None); err != nil {
				t.Fatal(err)
			}
			const wrongSecret = "wrong-secret-0123456789"
			for _, tc := range []struct {
				name           string
				access, secret string
				codes          []string
			}{
				{"wrong secret key", srv.AccessKey, wrongSecret, []string{"SignatureDoesNotMatch"}},
				// versitygw answers 404 XAdminUserNotFound, which must not
				// read as a missing key.
				{"unknown access key", "coord-nobody", wrongSecret, []string{"InvalidAccessKeyId", "XAdminUserNotFound"}},
				{"no credentials", "", "", []string{"AccessDenied"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					bad := srv
					bad.AccessKey, bad.SecretKey = tc.access, tc.secret
					errs := conformance.CheckFailsWith(t, openStore(t, bad, bucket), callLimit, driver.ErrAccessDenied, `"`+bucket+`"`, srv.Endpoint)
					nativeCodes(t, errs, tc.codes...)
					t.Logf("Get: %v", errs["Get"])
					for name, err := range errs {
						if strings.Contains(err.Error(), wrongSecret) {
							t.Errorf("%s: the message shows the secret key: %v", name, err)
						}
					}
				})
			}
			if got := keys(t, srv, bucket); len(got) != 1 || got[0] != "keep" {
				t.Errorf("bucket holds %v after the refused calls, want [keep]", got)
			}
		})
	}
}

// With minio-go's default of 10 attempts, an unreachable endpoint takes
// a while per call (backoff from 200ms, capped at 1s, with full jitter:
// 0.15 to 0.9 s seen here), and a context deadline cuts it short: the
// call never outlasts its deadline. The jitter can end all ten attempts
// before a 300ms deadline, and the call then says ErrUnreachable.
func TestBadInputUnreachableDefaultRetries(t *testing.T) {
	addr := testserver.ClosedPort(t)
	st, err := minio.New(minio.Config{Endpoint: addr, AccessKey: "a", SecretKey: "b", Bucket: "coord-any"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	_, err = st.Get(t.Context(), "k")
	took := time.Since(start)
	t.Logf("Get without a deadline: %v after %v, %d attempts", err, took, st.Requests().Total())
	if !errors.Is(err, driver.ErrUnreachable) || took > callLimit {
		t.Errorf("Get: %v after %v, want ErrUnreachable within %v", err, took, callLimit)
	}
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start = time.Now()
	_, err = st.Get(ctx, "k")
	took = time.Since(start)
	if took > deadline+2*time.Second || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, driver.ErrUnreachable) {
		t.Errorf("Get with a %v deadline: %v after %v, want it cut short at the deadline (context.DeadlineExceeded), or ErrUnreachable if its attempts ended first", deadline, err, took)
	}
}

// A server that accepts connections and never answers: a call ends with
// its context, reported as the context's error.
func TestBadInputSilentServer(t *testing.T) {
	addr := testserver.SilentServer(t)
	srv := testserver.Server{Name: "silent", Endpoint: "http://" + addr, AccessKey: "a", SecretKey: "b", Region: "us-east-1"}
	st := openStore(t, srv, "coord-any")
	const deadline = 300 * time.Millisecond
	for _, c := range conformance.StoreCalls {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		start := time.Now()
		err := c.Do(ctx, st)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrUnreachable) {
			t.Errorf("%s: %v, want context.DeadlineExceeded", c.Name, err)
		}
		if took > deadline+2*time.Second {
			t.Errorf("%s returned %v after a %v deadline", c.Name, took, deadline)
		}
	}
}
