package minio

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/s3coord/coord/driver"
)

// deniedCodes are the S3 error codes that refuse a request's credentials
// or permissions. Most come with 403, but not all: versitygw answers an
// unknown access key with 404 XAdminUserNotFound, which must never read
// as a missing key (a Get would report ErrNotFound, a conditional Put
// ErrPrecondition and a Delete success).
var deniedCodes = map[string]bool{
	"AccessDenied":          true,
	"AllAccessDisabled":     true,
	"AccountProblem":        true,
	"ExpiredToken":          true,
	"InvalidAccessKeyId":    true,
	"InvalidSecurity":       true,
	"InvalidToken":          true,
	"SignatureDoesNotMatch": true,
	"TokenRefreshRequired":  true,
	"XAdminUserNotFound":    true, // versitygw: unknown access key
}

// responseKind classifies a server's answer that is about the store
// rather than the key: driver.ErrBucketNotFound or driver.ErrAccessDenied,
// or nil.
func responseKind(er miniogo.ErrorResponse) error {
	switch {
	case er.Code == "NoSuchBucket":
		return driver.ErrBucketNotFound
	case deniedCodes[er.Code] || er.StatusCode == http.StatusForbidden:
		return driver.ErrAccessDenied
	}
	return nil
}

// fail wraps the native error of a failed call once (joined with the
// context's error, see native). An error about the store - a missing
// bucket, refused credentials, an endpoint that could not be reached
// while ctx was live - is classified under its sentinel and told with the
// bucket, the endpoint and the server's status and code; any other error
// under kind, which may be nil.
func (s *Store) fail(ctx context.Context, op, key string, kind, err error) error {
	var er miniogo.ErrorResponse
	if errors.As(err, &er) {
		if rk := responseKind(er); rk != nil {
			// minio-go's message is the server's text alone: add who
			// answered what.
			return driver.Wrap(op, key, rk, fmt.Errorf("bucket %q at %s answered %d %s: %w",
				s.bucket, s.endpoint(), er.StatusCode, er.Code, s.native(ctx, err)))
		}
	} else if ctx.Err() == nil && driver.IsDialFailure(err) {
		return driver.Wrap(op, key, driver.ErrUnreachable, fmt.Errorf("no connection to %s: %w", s.endpoint(), err))
	}
	return driver.Wrap(op, key, kind, s.native(ctx, err))
}

// endpoint names the server for messages.
func (s *Store) endpoint() string { return s.core.EndpointURL().String() }
