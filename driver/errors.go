package driver

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel errors. Drivers wrap them (see OpError); callers test with
// errors.Is. Never compare error strings.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition: a write's condition did not hold (or the server
	// reported a conflicting concurrent conditional write); the write did
	// not happen.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnsupported: the store cannot guarantee the requested operation
	// (e.g. a conditional delete); nothing was done.
	ErrUnsupported = errors.New("unsupported by this store")
	// ErrInvalidKey: the key or prefix breaks the rules of ValidateKey.
	ErrInvalidKey = errors.New("invalid key")
	// ErrTooLarge: the object is larger than the read cap.
	ErrTooLarge = errors.New("object too large")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")

	// ErrBucketNotFound: the bucket (or the store's equivalent container)
	// does not exist (S3 404 NoSuchBucket). It is a configuration error,
	// never ErrNotFound, and never ErrPrecondition for a conditional
	// write; nothing was written. A driver must return an error for which
	// errors.Is(err, ErrBucketNotFound) holds when the server says the
	// bucket is missing.
	ErrBucketNotFound = errors.New("bucket not found")
	// ErrAccessDenied: the store refused the request's credentials or
	// permissions (S3 403 AccessDenied, InvalidAccessKeyId,
	// SignatureDoesNotMatch, expired or invalid tokens, any other 403), or
	// the client had no credentials to sign it with. Nothing was done by
	// this request. A driver must return an error for which
	// errors.Is(err, ErrAccessDenied) holds in these cases, never
	// ErrNotFound or ErrPrecondition, whatever status the server uses.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnreachable: no connection to the store could be made (connection
	// refused, unknown host, dial timeout), after the driver's retries.
	// As for any error other than ErrPrecondition, a write that fails so
	// is in doubt: an earlier attempt may have been applied. The message
	// names the endpoint. A context that ended is reported as the
	// context's error, not as ErrUnreachable.
	ErrUnreachable = errors.New("store unreachable")
	// ErrBucketExists: a bucket of that name exists and belongs to someone
	// else (S3 409 BucketAlreadyExists); choose another name.
	ErrBucketExists = errors.New("bucket name taken by another owner")
	// ErrInvalidBucketName: the server refuses the bucket name (S3 400
	// InvalidBucketName).
	ErrInvalidBucketName = errors.New("invalid bucket name")
)

// OpError records the operation and key of a failed driver call. Drivers
// wrap every error they return in exactly one OpError. Err is either one
// of the sentinels above joined with the native error, or the native
// error alone; errors.Is and errors.As see through it.
type OpError struct {
	Op  string // "get", "put", "delete", "list" ("create-bucket": BucketCreator)
	Key string // key or prefix
	Err error
}

func (e *OpError) Error() string {
	// An invalid key is named once, by the KeyError.
	var ke *KeyError
	if errors.As(e.Err, &ke) && ke.Key == e.Key {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s %q: %v", e.Op, shortKey(e.Key), e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Wrap returns err wrapped once in an OpError with op and key. When kind is
// non-nil and err is not already kind, the result also satisfies
// errors.Is(result, kind) while keeping err reachable with errors.As.
// Wrap(nil...) returns nil.
func Wrap(op, key string, kind, err error) error {
	if err == nil && kind == nil {
		return nil
	}
	var inner error
	switch {
	case err == nil:
		inner = kind
	case kind == nil || errors.Is(err, kind):
		inner = err
	default:
		inner = &kindError{kind: kind, err: err}
	}
	return &OpError{Op: op, Key: key, Err: inner}
}

// kindError classifies a native error under a sentinel: its message is the
// native error's, errors.Is matches the sentinel, errors.As finds the
// native error.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.kind.Error() + ": " + e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// IsDialFailure reports whether err says that no connection to the server
// could be made: a failed dial (connection refused, unknown host, dial
// timeout). Drivers use it to classify errors under ErrUnreachable. An
// error after a connection was made (a reset, a timeout waiting for the
// response) is not a dial failure: the request may have been received.
func IsDialFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
