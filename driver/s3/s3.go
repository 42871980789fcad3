// Package s3 is the driver.Store for Amazon S3 and S3-compatible servers,
// built on aws-sdk-go-v2.
//
// Conditional writes use If-None-Match: * (driver.IfAbsent) and If-Match
// (driver.IfMatch). The server must apply them atomically: AWS S3 does
// since 2024, MinIO and versitygw do. A failed condition is reported as
// driver.ErrPrecondition whichever way the server says it: 412
// PreconditionFailed, 409 ConditionalRequestConflict (a concurrent
// conditional write won; also counted as a conflict) or 404 NoSuchKey for
// If-Match on a missing key.
//
// Versions are ETags without their quotes. S3 ETags of single-part uploads
// are the MD5 of the content, so writing the same bytes twice yields the
// same version; the engine never does that.
//
// Errors about the store rather than a key are classified too (errors.go):
// a missing bucket is driver.ErrBucketNotFound, refused credentials or
// permissions (any 403, and versitygw's 404 XAdminUserNotFound for an
// unknown access key) driver.ErrAccessDenied, and an endpoint that cannot
// be connected to driver.ErrUnreachable; their messages name the bucket
// or the endpoint.
//
// Every request attempt is counted by billing class in the SDK's
// middleware stack, after the retry step, so retried and failed attempts
// are counted as S3 bills them. The driver adds this middleware, and sets
// the SDK's checksum behaviour to "when required", on every call it makes:
// a caller-built client needs no special setup.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3coord/coord/driver"
)

// DeleteMode says whether Delete with a condition is sent to the server.
type DeleteMode int

const (
	// DeleteAuto (the zero value) enables conditional delete on AWS S3
	// proper, that is when the client has no custom endpoint
	// (Options.BaseEndpoint is nil): AWS general-purpose buckets honour
	// If-Match on DELETE since September 2025. With a custom endpoint it
	// is disabled, because MinIO and other S3-compatible servers accept the
	// header and delete anyway.
	DeleteAuto DeleteMode = iota
	// DeleteConditional sends If-Match on DELETE. Use it only for an
	// endpoint known to honour it atomically.
	DeleteConditional
	// DeleteUnsupported makes every conditional Delete fail with
	// driver.ErrUnsupported without sending a request.
	DeleteUnsupported
)

// Options tune a Store. The zero value is safe.
type Options struct {
	// ConditionalDelete says whether conditional deletes are sent to the
	// server. Default DeleteAuto.
	ConditionalDelete DeleteMode
	// MaxRead caps the size of an object Get returns (default
	// driver.DefaultMaxRead).
	MaxRead int64
	// VerifyETag makes Get check that the ETag is the MD5 of the bytes
	// read, and read again (up to getAttempts times) when it is not. It
	// is for servers whose ETags are plain MD5s but whose GET is not
	// atomic against a concurrent PUT: versitygw v1.8.0 (posix backend)
	// can return one write's data with another write's ETag, and acting
	// on such a read with IfMatch would overwrite a write the caller never
	// saw. Do not enable it where ETags are not the MD5 of the content
	// (AWS SSE-KMS or SSE-C, multipart uploads): every Get would fail.
	VerifyETag bool
}

// getAttempts bounds the reads of one Get with Options.VerifyETag.
const getAttempts = 3

// errTornRead reports a GET whose ETag is not the MD5 of its data.
var errTornRead = errors.New("ETag does not match the data read (the server mixed two writes); read again")

// Store is a driver.Store on one bucket and key prefix. It is safe for
// concurrent use.
type Store struct {
	driver.Counter
	client     *awss3.Client
	bucket     string
	prefix     string
	maxRead    int64
	verifyETag bool
	condDelete bool
	closed     atomic.Bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
)

// New returns a Store that keeps its objects in bucket under prefix. The
// prefix is prepended verbatim to every key (use a trailing "/" for a
// folder) and stripped from listed keys, so callers only ever see their
// own keys. It must satisfy driver.ValidatePrefix.
func New(client *awss3.Client, bucket, prefix string, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("s3: nil client")
	}
	if bucket == "" {
		return nil, errors.New("s3: empty bucket name")
	}
	if err := driver.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("s3: prefix: %w", err)
	}
	if opts.MaxRead <= 0 {
		opts.MaxRead = driver.DefaultMaxRead
	}
	var condDelete bool
	switch opts.ConditionalDelete {
	case DeleteConditional:
		condDelete = true
	case DeleteUnsupported:
		condDelete = false
	case DeleteAuto:
		condDelete = client.Options().BaseEndpoint == nil
	default:
		return nil, fmt.Errorf("s3: unknown DeleteMode %d", opts.ConditionalDelete)
	}
	return &Store{
		client:     client,
		bucket:     bucket,
		prefix:     prefix,
		maxRead:    opts.MaxRead,
		verifyETag: opts.VerifyETag,
		condDelete: condDelete,
	}, nil
}

// Config describes a connection for Open.
type Config struct {
	Bucket string
	Prefix string
	// Region is the bucket's region. When empty it comes from the default
	// chain (AWS_REGION, shared config), and falls back to "us-east-1" for
	// a custom endpoint.
	Region string
	// Endpoint is a custom endpoint URL ("http://127.0.0.1:9000") for an
	// S3-compatible server; empty means AWS S3.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint; most S3-compatible servers need it.
	PathStyle bool
	// AccessKey and SecretKey (and optionally SessionToken) are static
	// credentials. When AccessKey is empty, credentials come from the
	// SDK's default chain (environment, shared files, container and
	// instance roles). With a custom Endpoint the chain stops before the
	// instance metadata service (a request off the machine, for a server
	// that is not AWS) unless DefaultChain is set: with no credentials
	// found, every call then fails with driver.ErrAccessDenied ("no
	// credentials found") before sending anything.
	AccessKey, SecretKey, SessionToken string
	// DefaultChain lets a custom Endpoint use the whole default chain,
	// EC2 instance metadata included.
	DefaultChain bool
	// HTTPClient replaces the SDK's default HTTP client when non-nil.
	HTTPClient *http.Client
	// Options tune the Store.
	Options Options
}

// Open builds an S3 client from cfg (with the default credential chain
// unless static credentials are given) and returns a Store on it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	var loads []func(*config.LoadOptions) error
	if cfg.Region != "" {
		loads = append(loads, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	if cfg.HTTPClient != nil {
		loads = append(loads, config.WithHTTPClient(cfg.HTTPClient))
	}
	local := cfg.Endpoint != "" && cfg.AccessKey == "" && !cfg.DefaultChain
	if local {
		loads = append(loads, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3: load config: %w", err)
	}
	if awsCfg.Region == "" && cfg.Endpoint != "" {
		awsCfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		setChecksumWhenRequired(o)
	})
	return New(client, cfg.Bucket, cfg.Prefix, cfg.Options)
}

// setChecksumWhenRequired turns off the SDK's default request checksums
// (CRC32 trailers with aws-chunked encoding since 2025) and response
// validation unless an operation requires them: several S3-compatible
// servers reject or mishandle the trailers, and coordination records are
// tiny.
func setChecksumWhenRequired(o *awss3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

// callOptions are applied to every call: checksums when required, the
// request counter after the retry step, and the check that tells a
// missing credential apart (errors.go).
func (s *Store) callOptions(o *awss3.Options) {
	setChecksumWhenRequired(o)
	// Clip, so that concurrent calls never append into a shared backing
	// array of the client's APIOptions.
	o.APIOptions = append(slices.Clip(o.APIOptions), s.addCounter, addCredentialsCheck)
}

const counterID = "coord.CountRequests"

func (s *Store) addCounter(stack *middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc(counterID, s.countAttempt)
	// "Retry" is the SDK's retry loop; a middleware after it runs once per
	// attempt.
	if err := stack.Finalize.Insert(m, "Retry", middleware.After); err != nil {
		return fmt.Errorf("s3: insert request counter after retry: %w", err)
	}
	return nil
}

// countAttempt counts one attempt that reached the server: the HTTP
// transport wrote the whole request to a connection (httptrace). An attempt that never left the process (cancelled before
// sending, credential resolution failed) is not billed and not counted.
func (s *Store) countAttempt(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	ctx, sent := driver.TraceSent(ctx)
	out, md, err := next.HandleFinalize(ctx, in)
	// A response proves the request arrived even when the transport's
	// write loop has not yet reported it.
	raw, _ := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if sent() || (raw != nil && raw.StatusCode != 0) {
		s.Inc(classOf(ctx, in))
	}
	return out, md, err
}

func classOf(ctx context.Context, in middleware.FinalizeInput) driver.Class {
	switch awsmiddleware.GetOperationName(ctx) {
	case "GetObject":
		return driver.ClassGet
	case "HeadObject", "HeadBucket":
		return driver.ClassHead
	case "PutObject":
		return driver.ClassPut
	case "ListObjectsV2", "ListObjects":
		return driver.ClassList
	case "DeleteObject":
		return driver.ClassDelete
	}
	method := ""
	if r, ok := in.Request.(*smithyhttp.Request); ok {
		method = r.Method
	}
	return driver.HTTPClass(method, false)
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	full, err := driver.PrefixedKey(ctx, "get", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return driver.Object{}, err
	}
	for attempt := 1; ; attempt++ {
		o, err := s.get(ctx, key, full)
		if err != nil || !s.verifyETag {
			return o, err
		}
		sum := md5.Sum(o.Data)
		if hex.EncodeToString(sum[:]) == o.Version {
			return o, nil
		}
		if attempt == getAttempts {
			return driver.Object{}, driver.Wrap("get", key, nil, errTornRead)
		}
	}
}

func (s *Store) get(ctx context.Context, key, full string) (driver.Object, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.bucket, Key: &full}, s.callOptions)
	if err != nil {
		kind := error(nil)
		if answerOf(err).KeyMissing() {
			kind = driver.ErrNotFound
		}
		return driver.Object{}, s.fail(ctx, "get", key, kind, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > s.maxRead {
		return driver.Object{}, driver.Wrap("get", key, driver.ErrTooLarge,
			fmt.Errorf("object is %d bytes, read cap is %d", *out.ContentLength, s.maxRead))
	}
	data, err := driver.ReadCapped(out.Body, s.maxRead)
	if err != nil {
		return driver.Object{}, driver.Wrap("get", key, nil, err)
	}
	return driver.Object{
		Key:      key,
		Data:     data,
		Version:  unquote(aws.ToString(out.ETag)),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	full, err := driver.PrefixedKey(ctx, "put", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return "", err
	}
	in := &awss3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &full,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	switch v, isMatch := cond.Match(); {
	case cond.IsIfAbsent():
		in.IfNoneMatch = aws.String("*")
	case isMatch:
		if v == "" {
			// An empty version never matches; do not ask the server.
			return "", driver.Wrap("put", key, driver.ErrPrecondition, errors.New("empty version"))
		}
		in.IfMatch = aws.String(quote(v))
	}
	out, err := s.client.PutObject(ctx, in, s.callOptions)
	if err != nil {
		return "", s.fail(ctx, "put", key, answerOf(err).ConditionKind(!cond.IsNone(), &s.Counter), err)
	}
	return unquote(aws.ToString(out.ETag)), nil
}

// Delete implements driver.Store.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	full, err := driver.PrefixedKey(ctx, "delete", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return err
	}
	in := &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: &full}
	v, isMatch := cond.Match()
	switch {
	case cond.IsIfAbsent():
		return driver.Wrap("delete", key, driver.ErrUnsupported, errors.New("IfAbsent is not a delete condition"))
	case isMatch && !s.condDelete:
		return driver.Wrap("delete", key, driver.ErrUnsupported,
			errors.New("conditional delete is not enabled for this endpoint (Options.ConditionalDelete)"))
	case isMatch && v == "":
		return driver.Wrap("delete", key, driver.ErrPrecondition, errors.New("empty version"))
	case isMatch:
		in.IfMatch = aws.String(quote(v))
	}
	if _, err := s.client.DeleteObject(ctx, in, s.callOptions); err != nil {
		if !isMatch && answerOf(err).KeyMissing() {
			// S3 deletes missing keys silently, but some servers answer
			// 404 NoSuchKey (versitygw when two deletes overlap): the key
			// is gone either way.
			return nil
		}
		return s.fail(ctx, "delete", key, answerOf(err).ConditionKind(isMatch, &s.Counter), err)
	}
	return nil
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	full, err := driver.PrefixedKey(ctx, "list", s.prefix, prefix, s.closed.Load(), driver.ValidatePrefix)
	if err != nil {
		return driver.ListResult{}, err
	}
	var res driver.ListResult
	in := &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &full}
	p := awss3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, s.callOptions)
		if err != nil {
			return driver.ListResult{}, s.fail(ctx, "list", prefix, nil, err)
		}
		if res.ServerTime.IsZero() {
			// The first page's time: an entry modified while later pages
			// were read then looks younger, never older, than it is.
			res.ServerTime = serverTime(page.ResultMetadata)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, s.prefix) {
				continue
			}
			res.Entries = append(res.Entries, driver.Entry{
				Key:      strings.TrimPrefix(k, s.prefix),
				Version:  unquote(aws.ToString(o.ETag)),
				Size:     aws.ToInt64(o.Size),
				Modified: aws.ToTime(o.LastModified),
			})
		}
	}
	if res.ServerTime.IsZero() {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, errors.New("response carries no Date header"))
	}
	// S3 lists in UTF-8 binary order, which is byte order; some
	// compatible servers do not, so make it so.
	slices.SortFunc(res.Entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// serverTime reads the HTTP Date header of the response behind md.
func serverTime(md middleware.Metadata) time.Time {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(r.Header.Get("Date")); err == nil {
			return t
		}
	}
	t, _ := awsmiddleware.GetServerTime(md)
	return t
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "s3", ConditionalDelete: s.condDelete, MaxRead: s.maxRead}
}

// Close implements driver.Store. It does not close the client, which the
// caller may share.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func quote(v string) string { return `"` + v + `"` }

func unquote(etag string) string { return strings.Trim(etag, `"`) }
