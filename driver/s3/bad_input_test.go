package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/testserver"
	"github.com/s3coord/coord/plugin"
)

// The store-side kinds of bad input (a missing bucket, wrong credentials,
// permission denied, an unreachable or silent endpoint), first at the
// driver, then as the engine sees them. Every call must fail with the
// driver's sentinel and a message naming the bucket or endpoint, promptly,
// without a panic, and without writing or deleting anything.

// callLimit bounds one call in these tests: the SDK's standard retryer
// makes 3 attempts with sub-second backoff.
const callLimit = 20 * time.Second

func servers(t *testing.T) []testserver.Server {
	return []testserver.Server{testserver.MinIO(t), testserver.VersityGW(t)}
}

func newStore(t *testing.T, client *awss3.Client, bucket string) *s3.Store {
	t.Helper()
	st, err := s3.New(client, bucket, "", s3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// nativeCodes checks that every error keeps the server's error code
// reachable with errors.As, and that the code is one of want.
func nativeCodes(t *testing.T, errs map[string]error, want ...string) {
	t.Helper()
	for name, err := range errs {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("%s: native error not reachable with errors.As: %v", name, err)
			continue
		}
		found := false
		for _, w := range want {
			found = found || ae.ErrorCode() == w
		}
		if !found {
			t.Errorf("%s: server code %q, want one of %v", name, ae.ErrorCode(), want)
		}
	}
}

// objects lists bucket with the server's own credentials.
func objects(t *testing.T, srv testserver.Server, bucket string) []string {
	t.Helper()
	out, err := srv.S3Client().ListObjectsV2(t.Context(), &awss3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list %s with good credentials: %v", bucket, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func bucketExists(t *testing.T, srv testserver.Server, bucket string) bool {
	t.Helper()
	_, err := srv.S3Client().HeadBucket(t.Context(), &awss3.HeadBucketInput{Bucket: &bucket})
	return err == nil
}

// A missing bucket, a wrong secret and an unreachable endpoint are the
// conformance suite's rules BadInput/* (the harness hooks in
// s3_test.go); what follows adds what is particular to this driver.

func TestBadInputWrongCredentials(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := srv.NewBucket(t)
			seed := newStore(t, srv.S3Client(), bucket)
			if _, err := seed.Put(t.Context(), "keep", []byte("v"), driver.None); err != nil {
				t.Fatal(err)
			}
			const wrongSecret = "wrong-secret-0123456789"
			for _, tc := range []struct {
				name          string
				access, secet string
				codes         []string
			}{
				{"wrong secret key", srv.AccessKey, wrongSecret, []string{"SignatureDoesNotMatch"}},
				// versitygw answers 404 XAdminUserNotFound, which must not
				// read as a missing key.
				{"unknown access key", "coord-nobody", wrongSecret, []string{"InvalidAccessKeyId", "XAdminUserNotFound"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					bad := srv
					bad.AccessKey, bad.SecretKey = tc.access, tc.secet
					st := newStore(t, bad.S3Client(), bucket)
					errs := conformance.CheckFailsWith(t, st, callLimit, driver.ErrAccessDenied, `"`+bucket+`"`, srv.Endpoint)
					nativeCodes(t, errs, tc.codes...)
					t.Logf("Get: %v", errs["Get"])
					for name, err := range errs {
						if strings.Contains(err.Error(), wrongSecret) {
							t.Errorf("%s: the message shows the secret key: %v", name, err)
						}
					}
				})
			}
			if got := objects(t, srv, bucket); len(got) != 1 || got[0] != "keep" {
				t.Errorf("bucket holds %v after the refused calls, want [keep]", got)
			}
		})
	}
}

// Anonymous requests (no credentials) are refused on a private bucket.
func TestBadInputAnonymous(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := srv.NewBucket(t)
			anon := awss3.New(srv.S3Client().Options(), func(o *awss3.Options) { o.Credentials = aws.AnonymousCredentials{} })
			errs := conformance.CheckFailsWith(t, newStore(t, anon, bucket), callLimit, driver.ErrAccessDenied, `"`+bucket+`"`)
			nativeCodes(t, errs, "AccessDenied")
			if got := objects(t, srv, bucket); len(got) != 0 {
				t.Errorf("bucket holds %v after the refused calls", got)
			}
		})
	}
}

// A client with no credentials at all (empty default chain) fails before
// sending anything.
func TestBadInputNoCredentials(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	st, err := s3.Open(t.Context(), s3.Config{Bucket: bucket, Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conformance.CheckFailsWith(t, st, callLimit, driver.ErrAccessDenied, "credentials")
	if n := st.Requests().Total(); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
}

// Permission denied with working credentials: a bucket policy lets
// anonymous clients read and list but not write. Reads work; every write
// is refused and nothing is changed.
func TestBadInputWriteDenied(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := readOnlyBucket(t, srv)
	anon := awss3.New(srv.S3Client().Options(), func(o *awss3.Options) { o.Credentials = aws.AnonymousCredentials{} })
	st := newStore(t, anon, bucket)
	ctx := t.Context()
	if o, err := st.Get(ctx, "keep"); err != nil || string(o.Data) != "v" {
		t.Fatalf("Get with read permission: %q, %v", o.Data, err)
	}
	if _, err := st.Get(ctx, "missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Get(missing) with read permission: %v, want ErrNotFound", err)
	}
	if _, err := st.List(ctx, ""); err != nil {
		t.Errorf("List with list permission: %v", err)
	}
	for _, c := range conformance.StoreCalls {
		if c.Op == "get" || c.Op == "list" {
			continue
		}
		err := c.Do(ctx, st)
		if !errors.Is(err, driver.ErrAccessDenied) || errors.Is(err, driver.ErrPrecondition) {
			t.Errorf("%s without write permission: %v, want ErrAccessDenied only", c.Name, err)
		}
	}
	if err := st.Delete(ctx, "keep", driver.None); !errors.Is(err, driver.ErrAccessDenied) {
		t.Errorf("Delete(keep) without write permission: %v, want ErrAccessDenied", err)
	}
	if got := objects(t, srv, bucket); len(got) != 1 || got[0] != "keep" {
		t.Errorf("bucket holds %v, want [keep] untouched", got)
	}
}

// readOnlyBucket creates a bucket holding "keep" = "v" whose policy lets
// anyone get and list, and nothing else.
func readOnlyBucket(t *testing.T, srv testserver.Server) string {
	t.Helper()
	bucket := srv.NewBucket(t)
	admin := srv.S3Client()
	if _, err := admin.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("keep"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/*"]},
		{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"]}]}`, bucket)
	if _, err := admin.PutBucketPolicy(t.Context(), &awss3.PutBucketPolicyInput{Bucket: &bucket, Policy: &policy}); err != nil {
		t.Fatalf("put bucket policy: %v", err)
	}
	return bucket
}

// A server that accepts connections and never answers: a call ends with
// its context, reported as the context's error, not as unreachable.
func TestBadInputSilentServer(t *testing.T) {
	addr := testserver.SilentServer(t)
	srv := testserver.Server{Name: "silent", Endpoint: "http://" + addr, AccessKey: "a", SecretKey: "b", Region: "us-east-1"}
	st := newStore(t, srv.S3Client(), "coord-any")
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

// engineConfig has short intervals, so the engine meets the bad store
// several times within a test.
func engineConfig(logs *logBuffer) coord.Config {
	return coord.Config{
		HeartbeatInterval: 100 * time.Millisecond,
		LeaseTimeout:      time.Second,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WorkerID:          "bad-input-worker",
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitErrors waits until c has counted at least n failed requests (or
// opened its circuit breaker), failing after limit.
func waitErrors(t *testing.T, c interface{ Metrics() coord.Metrics }, n uint64, limit time.Duration) coord.Metrics {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(limit)
	for {
		m := c.Metrics()
		if m.Errors >= n || m.Breaker == "open" {
			return m
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%d errors counted within %v, want %d", m.Errors, limit, n)
		}
	}
}

// The engine on a store it cannot use. A missing bucket or denied access
// is what no mode can cure: Use fails with the driver's sentinel (and
// GlobalCoordinator too) and nothing is written. An unreachable store is
// the fallback's case: Use in Global mode falls back to per-plugin mode,
// the fallback log line carries the sentinel, and the plugin never leads.
// The Hub closes promptly either way.
func TestBadInputEngine(t *testing.T) {
	srv := testserver.MinIO(t)
	good := srv.NewBucket(t)
	cases := []struct {
		name   string
		kind   error
		client *awss3.Client
		bucket string
	}{
		{"missing bucket", driver.ErrBucketNotFound, srv.S3Client(), testserver.UniqueName("coord-absent")},
		{"wrong credentials", driver.ErrAccessDenied, testserver.Server{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: "wrong", Region: srv.Region}.S3Client(), good},
		{"anonymous", driver.ErrAccessDenied, awss3.New(srv.S3Client().Options(), func(o *awss3.Options) { o.Credentials = aws.AnonymousCredentials{} }), good},
		// The standard retryer's backoff (up to 1s, then 2s) outlasts
		// these tests' 100ms request timeout, which would end the call
		// with context.DeadlineExceeded; a short backoff lets all three
		// attempts fail to connect within it.
		{"unreachable", driver.ErrUnreachable, fastRetries(testserver.Server{Endpoint: "http://" + testserver.ClosedPort(t), AccessKey: "a", SecretKey: "b", Region: srv.Region}.S3Client()), good},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			st := newStore(t, tc.client, tc.bucket)
			h, err := coord.NewHub(st, engineConfig(logs))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			start := time.Now()
			sub, err := h.Use(ctx, "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
			t.Logf("Use returned after %v: %v", time.Since(start), err)
			if tc.kind != driver.ErrUnreachable {
				if !errors.Is(err, tc.kind) || sub != nil {
					t.Fatalf("Use: %v, %v; want an error for which errors.Is(err, %v) holds", sub, err, tc.kind)
				}
				if _, err := h.GlobalCoordinator(ctx, "other"); !errors.Is(err, tc.kind) {
					t.Errorf("GlobalCoordinator: %v, want %v", err, tc.kind)
				}
			} else {
				if err != nil {
					t.Fatalf("Use: %v (an unreachable store is the fallback's case, not an error)", err)
				}
				if !sub.Metrics().FallbackActive || sub.Metrics().Mode != coord.PerPlugin {
					t.Errorf("FellBack=%v Mode=%v, want a fallback to per-plugin mode", sub.Metrics().FallbackActive, sub.Metrics().Mode)
				}
				if line := "[queue] Global coordinator unavailable, falling back to per-plugin mode"; !strings.Contains(logs.String(), line) {
					t.Errorf("no %q in the logs:\n%s", line, logs)
				}
				if !strings.Contains(logs.String(), tc.kind.Error()) {
					t.Errorf("the logs do not tell %q:\n%s", tc.kind, logs)
				}
				if _, err := h.GlobalCoordinator(ctx, "other"); !errors.Is(err, coord.ErrStoreUnavailable) || !errors.Is(err, tc.kind) {
					t.Errorf("GlobalCoordinator: %v, want ErrStoreUnavailable and %v", err, tc.kind)
				}
				m := waitErrors(t, sub, 3, 30*time.Second)
				if _, leads := sub.Term(); leads || m.IsLeader {
					t.Error("leads on a store it cannot use")
				}
			}
			closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			start = time.Now()
			err = h.Close(closeCtx)
			t.Logf("Close: %v after %v", err, time.Since(start))
			if closeCtx.Err() != nil {
				t.Errorf("Close did not return within its deadline")
			}
			if tc.bucket == good {
				if got := objects(t, srv, good); len(got) != 0 {
					t.Errorf("bucket holds %v", got)
				}
			} else if bucketExists(t, srv, tc.bucket) {
				t.Errorf("bucket %s exists", tc.bucket)
			}
		})
	}
}

func fastRetries(c *awss3.Client) *awss3.Client {
	return awss3.New(c.Options(), func(o *awss3.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 5 * time.Millisecond, nil })
		})
	})
}

// The engine with read permission but no write permission: the store
// check's first write is denied, so Use fails with driver.ErrAccessDenied
// (no mode could lead without writing), and nothing is written.
func TestBadInputEngineWriteDenied(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := readOnlyBucket(t, srv)
	anon := awss3.New(srv.S3Client().Options(), func(o *awss3.Options) { o.Credentials = aws.AnonymousCredentials{} })
	logs := &logBuffer{}
	h, err := coord.NewHub(newStore(t, anon, bucket), engineConfig(logs))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []coord.Mode{coord.Global, coord.PerPlugin} {
		sub, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: mode})
		if !errors.Is(err, driver.ErrAccessDenied) || sub != nil {
			t.Errorf("%s: Use gave %v, %v; want driver.ErrAccessDenied", mode, sub, err)
		}
	}
	closeCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	h.Close(closeCtx)
	if closeCtx.Err() != nil {
		t.Errorf("Close did not return within its deadline")
	}
	if got := objects(t, srv, bucket); len(got) != 1 || got[0] != "keep" {
		t.Errorf("bucket holds %v, want [keep] untouched", got)
	}
}
