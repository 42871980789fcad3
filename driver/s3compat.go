package driver

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// S3Answer is an S3-compatible server's answer to a failed request as a
// driver for such servers (s3, minio) reads it from its client's error:
// the S3 error code and the HTTP status, either of which may be missing.
// Its methods are the one reading of these answers, so that every such
// driver classifies them alike.
type S3Answer struct {
	Code   string
	Status int
}

// s3DeniedCodes are the S3 error codes that refuse a request's
// credentials or permissions. Most come with 403, but not all: versitygw
// answers an unknown access key with 404 XAdminUserNotFound, which must
// never read as a missing key (a Get would report ErrNotFound, a
// conditional Put ErrPrecondition and an unconditional Delete success).
var s3DeniedCodes = map[string]bool{
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

// StoreKind classifies an answer about the store rather than the key:
// ErrBucketNotFound (NoSuchBucket), ErrAccessDenied (a code that refuses
// credentials or permissions, or any 403), or nil.
func (a S3Answer) StoreKind() error {
	switch {
	case a.Code == "NoSuchBucket":
		return ErrBucketNotFound
	case s3DeniedCodes[a.Code] || a.Status == http.StatusForbidden:
		return ErrAccessDenied
	}
	return nil
}

// KeyMissing reports whether the answer says that the key does not
// exist: NoSuchKey, or a 404 that is not about the store.
func (a S3Answer) KeyMissing() bool {
	return a.Code == "NoSuchKey" || (a.Status == http.StatusNotFound && a.StoreKind() == nil)
}

// ConditionKind returns ErrPrecondition when the answer to a request
// (conditional: it carried If-Match or If-None-Match) means that its
// condition did not hold, and nil otherwise: 412 PreconditionFailed; S3's
// 409 ConditionalRequestConflict, or a bare 409 to a conditional request
// (a concurrent conditional write won: also counted on k as a conflict;
// other 409s, such as versitygw's ExistingObjectIsDirectory, are
// failures, not lost races); a 404 to a conditional request that is not
// about the store (AWS answers If-Match on a missing key with NoSuchKey).
func (a S3Answer) ConditionKind(conditional bool, k *Counter) error {
	switch {
	case a.Code == "ConditionalRequestConflict" || (a.Status == http.StatusConflict && a.Code == "" && conditional):
		k.Conflict()
		return ErrPrecondition
	case a.Code == "PreconditionFailed" || a.Status == http.StatusPreconditionFailed:
		return ErrPrecondition
	case conditional && a.Status == http.StatusNotFound && a.StoreKind() == nil:
		return ErrPrecondition
	}
	return nil
}

// CreateBucketKind classifies the answer to a bucket creation: owned is
// true when the bucket exists and is the caller's (made meanwhile with the
// same account); otherwise kind is ErrBucketExists (the name is taken by
// someone else), ErrInvalidBucketName, or nil.
func (a S3Answer) CreateBucketKind() (owned bool, kind error) {
	switch a.Code {
	case "BucketAlreadyOwnedByYou":
		return true, nil
	case "BucketAlreadyExists":
		return false, ErrBucketExists
	case "InvalidBucketName":
		return false, ErrInvalidBucketName
	}
	return false, nil
}

// HTTPClass is the billing class of an S3 request by its HTTP method; list
// tells a GET that lists (ListObjects) from one that reads. PUT, POST and
// COPY are billed as PUT.
func HTTPClass(method string, list bool) Class {
	switch method {
	case http.MethodGet:
		if list {
			return ClassList
		}
		return ClassGet
	case http.MethodHead:
		return ClassHead
	case http.MethodDelete:
		return ClassDelete
	default:
		return ClassPut
	}
}

// TraceSent returns ctx traced so that sent reports whether an HTTP
// request made with it was written whole to a connection. A request that
// was written, or that got a response, reached the server and is billed;
// one that never left the process (cancelled before sending, no
// credentials) is not, so drivers count an attempt when sent() or a
// response says so.
func TraceSent(ctx context.Context) (traced context.Context, sent func() bool) {
	var wrote atomic.Bool
	traced = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}})
	return traced, wrote.Load
}
