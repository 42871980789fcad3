package s3

import (
	"context"
	"errors"
	"fmt"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/s3coord/coord/driver"
)

// storeKind classifies a native error that is about the store rather than
// the key: a missing bucket, refused credentials (including none to sign
// with) or an endpoint that could not be reached. It returns nil for
// anything else, and for a failure to sign or to connect once ctx has
// ended (the context's error tells that story).
func storeKind(ctx context.Context, err error) error {
	if kind := answerOf(err).StoreKind(); kind != nil {
		return kind
	}
	var sign *v4.SigningError
	var creds *credentialsError
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.As(err, &sign), errors.As(err, &creds):
		return driver.ErrAccessDenied
	case driver.IsDialFailure(err):
		return driver.ErrUnreachable
	}
	return nil
}

// credentialsError marks an error of the SDK's identity step: the client
// had no usable credentials to sign the request with (an empty default
// chain, say), so nothing was sent. The SDK reports it as a plain
// wrapped error; addCredentialsCheck tells it apart.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

type identityPassedKey struct{}

// addCredentialsCheck brackets the SDK's "GetIdentity" step with two
// middlewares, so that an error raised before the step was passed is
// marked as a credentialsError. Stacks without the step are left alone.
func addCredentialsCheck(stack *middleware.Stack) error {
	const step = "GetIdentity"
	if _, ok := stack.Finalize.Get(step); !ok {
		return nil
	}
	before := middleware.FinalizeMiddlewareFunc("coord.CredentialsCheck", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		passed := new(bool)
		out, md, err := next.HandleFinalize(context.WithValue(ctx, identityPassedKey{}, passed), in)
		if err != nil && !*passed {
			err = &credentialsError{err: err}
		}
		return out, md, err
	})
	after := middleware.FinalizeMiddlewareFunc("coord.CredentialsPassed", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if p, ok := ctx.Value(identityPassedKey{}).(*bool); ok {
			*p = true
		}
		return next.HandleFinalize(ctx, in)
	})
	if err := stack.Finalize.Insert(before, step, middleware.Before); err != nil {
		return fmt.Errorf("s3: insert credentials check: %w", err)
	}
	if err := stack.Finalize.Insert(after, step, middleware.After); err != nil {
		return fmt.Errorf("s3: insert credentials check: %w", err)
	}
	return nil
}

// credentialsHint says where credentials come from.
const credentialsHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; " +
	"with a custom endpoint the EC2 instance metadata service is asked only with default_chain=true in the store URL (Config.DefaultChain)"

// fail wraps the native error of a failed call once. An error about the
// store (storeKind) is classified under its sentinel and told with the
// bucket and endpoint; any other error under kind, which may be nil.
func (s *Store) fail(ctx context.Context, op, key string, kind, err error) error {
	var creds *credentialsError
	switch sk := storeKind(ctx, err); {
	case sk == nil:
		return driver.Wrap(op, key, kind, err)
	case errors.As(err, &creds):
		return driver.Wrap(op, key, sk, fmt.Errorf("no credentials found for bucket %q at %s (nothing was sent): %s: %w", s.bucket, s.endpoint(), credentialsHint, err))
	case sk == driver.ErrUnreachable:
		return driver.Wrap(op, key, sk, fmt.Errorf("no connection to %s: %w", s.endpoint(), err))
	default:
		return driver.Wrap(op, key, sk, fmt.Errorf("bucket %q at %s: %w", s.bucket, s.endpoint(), err))
	}
}

// endpoint names the server for messages: the custom endpoint, or AWS S3
// and the region.
func (s *Store) endpoint() string {
	o := s.client.Options()
	if o.BaseEndpoint != nil {
		return *o.BaseEndpoint
	}
	return fmt.Sprintf("AWS S3 (region %q)", o.Region)
}

// answerOf returns the S3 error code and HTTP status of err, when known.
func answerOf(err error) driver.S3Answer {
	var a driver.S3Answer
	var ae smithy.APIError
	if errors.As(err, &ae) {
		a.Code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		a.Status = re.HTTPStatusCode()
	}
	return a
}
