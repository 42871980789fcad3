package minio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/s3coord/coord/driver"
)

// answerOf returns the S3 error code and HTTP status of err, when known.
func answerOf(err error) driver.S3Answer {
	var er miniogo.ErrorResponse
	if !errors.As(err, &er) {
		return driver.S3Answer{}
	}
	return driver.S3Answer{Code: er.Code, Status: er.StatusCode}
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
		if rk := answerOf(er).StoreKind(); rk != nil {
			// minio-go's message is the server's text alone: add who
			// answered what.
			return driver.Wrap(op, key, rk, fmt.Errorf("bucket %q at %s answered %d %s: %w",
				s.bucket, s.endpoint(), er.StatusCode, er.Code, s.native(ctx, err)))
		}
	} else if ctx.Err() == nil && driver.IsDialFailure(err) {
		return driver.Wrap(op, key, driver.ErrUnreachable, fmt.Errorf("no connection to %s: %w", s.endpoint(), err))
	} else if ctx.Err() == nil && plainHTTP(err) {
		// The answer to the TLS hello was not TLS: nothing was sent.
		return driver.Wrap(op, key, driver.ErrUnreachable, fmt.Errorf(
			"no TLS connection to %s: the server speaks plain HTTP; use secure=false (minio://host:port/bucket?secure=false, Config.Secure=false): %w",
			s.endpoint(), err))
	}
	return driver.Wrap(op, key, kind, s.native(ctx, err))
}

// endpoint names the server for messages.
func (s *Store) endpoint() string { return s.core.EndpointURL().String() }

// plainHTTP reports whether err says that a TLS handshake was answered in
// plain HTTP. net/http reports it as an untyped error ("server gave HTTP
// response to HTTPS client") that wraps nothing, hence its text.
func plainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
