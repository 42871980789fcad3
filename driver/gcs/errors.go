package gcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/s3coord/coord/driver"
)

type recorderKey struct{}

// recorder keeps, for one call, the first Date header of its responses
// and the body of a 404 (the library turns every 404 of an object into
// storage.ErrObjectNotExist, which does not say whether the bucket or
// the object is missing; GCS's message does).
type recorder struct {
	mu       sync.Mutex
	first    time.Time
	notFound string
}

func withRecorder(ctx context.Context) (context.Context, *recorder) {
	rec := &recorder{}
	return context.WithValue(ctx, recorderKey{}, rec), rec
}

func (r *recorder) record(resp *http.Response) {
	var body string
	if resp.StatusCode == http.StatusNotFound && resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		body = string(b)
	}
	t, terr := http.ParseTime(resp.Header.Get("Date"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if terr == nil && r.first.IsZero() {
		r.first = t
	}
	if body != "" {
		r.notFound = body
	}
}

func (r *recorder) date() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// bucketMissing reports whether the 404 of the call said so: "The
// specified bucket does not exist." on GCS. It is false for an object
// ("No such object: …") and when the answer did not say.
func (r *recorder) bucketMissing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Contains(r.notFound, "bucket does not exist")
}

// objectMissing reports whether the 404 of the call named the object.
func (r *recorder) objectMissing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Contains(r.notFound, "No such object")
}

// status is the HTTP status of a failed call, 404 for the library's
// not-exist errors, 0 for nil or an error without an answer.
func status(err error) int {
	var ge *googleapi.Error
	switch {
	case err == nil:
		return 0
	case errors.Is(err, storage.ErrObjectNotExist), errors.Is(err, storage.ErrBucketNotExist):
		return http.StatusNotFound
	case errors.As(err, &ge):
		return ge.Code
	}
	return 0
}

func isNotFound(err error) bool { return status(err) == http.StatusNotFound }

// keyKind classifies an answer about the key: a function of the status.
type keyKind func(status int) error

// notFoundAs makes a 404 about the object kind (Get: ErrNotFound).
func notFoundAs(kind error) keyKind {
	return func(code int) error {
		if code == http.StatusNotFound {
			return kind
		}
		return nil
	}
}

// always classifies every answer as kind.
func always(kind error) keyKind { return func(int) error { return kind } }

// conditionKind classifies a conditional write or delete: 412, and 404 of
// the object (a conditional delete of a missing object), are a failed
// condition.
func conditionKind(conditional bool) keyKind {
	return func(code int) error {
		if conditional && (code == http.StatusPreconditionFailed || code == http.StatusNotFound) {
			return driver.ErrPrecondition
		}
		return nil
	}
}

// bucketGone tells, for a 404, whether the bucket is missing: from
// GCS's message when it gives one; otherwise (emulators answer a bare
// "Not Found") from whether this store has seen the bucket answer, and
// failing that from one bucket metadata request, counted.
func (s *Store) bucketGone(ctx context.Context, rec *recorder, op string, err error) bool {
	switch {
	case errors.Is(err, storage.ErrBucketNotExist), rec.bucketMissing():
		return true
	case rec.objectMissing(), s.bucketSeen.Load():
		return false
	case op == "put" || op == "list":
		return true // an upload or a listing 404s only without a bucket
	}
	_, aerr := s.bucket.Attrs(ctx)
	if aerr == nil {
		s.bucketSeen.Store(true)
	}
	return errors.Is(aerr, storage.ErrBucketNotExist)
}

// fail wraps the native error of a failed call once. An error about the
// store (a missing bucket, refused credentials, no connection) is
// classified under its sentinel and told with the bucket or endpoint;
// any other error under kind(status).
func (s *Store) fail(ctx context.Context, rec *recorder, op, key string, kind keyKind, err error) error {
	code := status(err)
	var sk error
	switch {
	case code == http.StatusNotFound && s.bucketGone(ctx, rec, op, err):
		sk = driver.ErrBucketNotFound
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		sk = driver.ErrAccessDenied
	case code == 0 && ctx.Err() == nil && driver.IsDialFailure(err):
		return driver.Wrap(op, key, driver.ErrUnreachable, fmt.Errorf("no connection to %s: %w", s.endpoint, err))
	}
	if sk != nil {
		return driver.Wrap(op, key, sk, fmt.Errorf("bucket %q at %s: %w", s.name, s.endpoint, err))
	}
	if code == http.StatusPreconditionFailed || code == http.StatusNotFound {
		s.bucketSeen.Store(true) // the bucket answered about the key
	}
	var k error
	if kind != nil {
		k = kind(code)
	}
	return driver.Wrap(op, key, k, err)
}
