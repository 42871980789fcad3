// Package minio is the driver.Store on minio-go v7, for MinIO and other
// S3-compatible servers.
//
// Conditional writes use If-None-Match: * and If-Match on PUT
// (PutObjectOptions.SetMatchETagExcept("*") and SetMatchETag). minio-go
// has no conditional remove, and MinIO ignores If-Match on DELETE, so a
// conditional Delete fails with driver.ErrUnsupported without a request.
//
// Errors about the store rather than a key are classified too (errors.go):
// a missing bucket is driver.ErrBucketNotFound, refused credentials or
// permissions (any 403, and versitygw's 404 XAdminUserNotFound for an
// unknown access key) driver.ErrAccessDenied, and an endpoint that cannot
// be connected to driver.ErrUnreachable; their messages name the bucket
// or the endpoint.
//
// Every request attempt (retries included) is counted by billing class in
// the HTTP transport under minio-go, which is also where the server time
// of List responses is read from the Date header.
package minio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3coord/coord/driver"
)

// DefaultMaxRetries is the number of attempts per call when
// Config.MaxRetries is 0, the same as the AWS SDK's default retryer.
const DefaultMaxRetries = 3

// Config describes a connection and a place in a bucket.
type Config struct {
	// Endpoint is host:port, without scheme.
	Endpoint string
	// Secure selects HTTPS.
	Secure bool
	// AccessKey and SecretKey are static credentials. When AccessKey is
	// empty they come from MINIO_ACCESS_KEY/MINIO_SECRET_KEY (or
	// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD), then from the AWS environment
	// variables.
	AccessKey, SecretKey string
	// Region of the bucket; default "us-east-1". Setting it spares
	// minio-go a bucket-location request.
	Region string
	// Bucket and Prefix say where the objects live. The prefix is
	// prepended verbatim to every key (use a trailing "/" for a folder)
	// and stripped from listed keys. It must satisfy driver.ValidatePrefix.
	Bucket, Prefix string
	// Transport is the HTTP transport under the counting layer; default a
	// clone of http.DefaultTransport.
	Transport http.RoundTripper
	// MaxRetries bounds the attempts per call (0: DefaultMaxRetries).
	// minio-go's own default of 10 spends about 5 s on an unreachable
	// endpoint, as long as the engine's request timeout at default
	// settings. Every attempt is counted.
	MaxRetries int
	// MaxRead caps the size of an object Get returns (default
	// driver.DefaultMaxRead).
	MaxRead int64
}

// Store is a driver.Store on minio-go. It is safe for concurrent use.
type Store struct {
	driver.Counter
	core    miniogo.Core
	bucket  string
	prefix  string
	region  string
	maxRead int64
	base    http.RoundTripper
	closed  atomic.Bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
)

// New returns a Store for cfg. It does no I/O.
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("minio: empty endpoint")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("minio: empty bucket name")
	}
	if err := driver.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("minio: prefix: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxRead <= 0 {
		cfg.MaxRead = driver.DefaultMaxRead
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	if cfg.AccessKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvMinio{}, &credentials.EnvAWS{},
		})
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	s := &Store{bucket: cfg.Bucket, prefix: cfg.Prefix, region: cfg.Region, maxRead: cfg.MaxRead, base: base}
	client, err := miniogo.New(cfg.Endpoint, &miniogo.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		Transport:  &countingTransport{base: base, counter: &s.Counter},
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	s.core = miniogo.Core{Client: client}
	return s, nil
}

// countingTransport counts every request attempt that reached the server
// (the whole request was written to a connection) by
// billing class, and hands the Date header of responses to a dateRecorder
// found in the request's context. An attempt that never left the process
// is not billed and not counted.
type countingTransport struct {
	base    http.RoundTripper
	counter *driver.Counter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, sent := driver.TraceSent(r.Context())
	traced := r.WithContext(ctx)
	resp, err := t.base.RoundTrip(traced)
	// A response proves the request arrived even when the transport's
	// write loop has not yet reported it.
	if sent() || resp != nil {
		t.counter.Inc(driver.HTTPClass(r.Method, r.URL.Query().Has("list-type")))
	}
	if err == nil {
		if rec, ok := r.Context().Value(dateKey{}).(*dateRecorder); ok {
			rec.record(resp.Header.Get("Date"))
		}
	}
	return resp, err
}

type dateKey struct{}

// dateRecorder keeps the first valid Date header of the responses to one
// call.
type dateRecorder struct {
	mu sync.Mutex
	t  time.Time
}

func (d *dateRecorder) record(h string) {
	t, err := http.ParseTime(h)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t.IsZero() {
		d.t = t
	}
}

func (d *dateRecorder) time() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	full, err := driver.PrefixedKey(ctx, "get", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return driver.Object{}, err
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, full, miniogo.GetObjectOptions{})
	if err != nil {
		var kind error
		if answerOf(err).KeyMissing() {
			kind = driver.ErrNotFound
		}
		return driver.Object{}, s.fail(ctx, "get", key, kind, err)
	}
	defer body.Close()
	if info.Size > s.maxRead {
		return driver.Object{}, driver.Wrap("get", key, driver.ErrTooLarge,
			fmt.Errorf("object is %d bytes, read cap is %d", info.Size, s.maxRead))
	}
	data, err := driver.ReadCapped(body, s.maxRead)
	if err != nil {
		return driver.Object{}, driver.Wrap("get", key, nil, s.native(ctx, err))
	}
	return driver.Object{Key: key, Data: data, Version: unquote(info.ETag), Modified: info.LastModified}, nil
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	full, err := driver.PrefixedKey(ctx, "put", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return "", err
	}
	var opts miniogo.PutObjectOptions
	switch v, isMatch := cond.Match(); {
	case cond.IsIfAbsent():
		opts.SetMatchETagExcept("*")
	case isMatch:
		if v == "" {
			return "", driver.Wrap("put", key, driver.ErrPrecondition, errors.New("empty version"))
		}
		opts.SetMatchETag(v)
	}
	info, err := s.core.PutObject(ctx, s.bucket, full, bytes.NewReader(data), int64(len(data)), "", "", opts)
	if err != nil {
		return "", s.fail(ctx, "put", key, answerOf(err).ConditionKind(!cond.IsNone(), &s.Counter), err)
	}
	return unquote(info.ETag), nil
}

// Delete implements driver.Store. A conditional Delete returns
// driver.ErrUnsupported without a request.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	full, err := driver.PrefixedKey(ctx, "delete", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return err
	}
	if !cond.IsNone() {
		return driver.Wrap("delete", key, driver.ErrUnsupported,
			errors.New("minio-go has no conditional remove"))
	}
	if err := s.core.RemoveObject(ctx, s.bucket, full, miniogo.RemoveObjectOptions{}); err != nil {
		if answerOf(err).KeyMissing() {
			// S3 deletes missing keys silently, but some servers answer
			// 404 NoSuchKey (versitygw when two deletes overlap): the key
			// is gone either way.
			return nil
		}
		return s.fail(ctx, "delete", key, nil, err)
	}
	return nil
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	full, err := driver.PrefixedKey(ctx, "list", s.prefix, prefix, s.closed.Load(), driver.ValidatePrefix)
	if err != nil {
		return driver.ListResult{}, err
	}
	// The iterator runs a goroutine until its context ends: cancel it on
	// every return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := &dateRecorder{}
	ctx = context.WithValue(ctx, dateKey{}, rec)

	var res driver.ListResult
	for o := range s.core.ListObjectsIter(ctx, s.bucket, miniogo.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if o.Err != nil {
			return driver.ListResult{}, s.fail(ctx, "list", prefix, nil, o.Err)
		}
		if !strings.HasPrefix(o.Key, s.prefix) {
			continue
		}
		res.Entries = append(res.Entries, driver.Entry{
			Key:      strings.TrimPrefix(o.Key, s.prefix),
			Version:  unquote(o.ETag),
			Size:     o.Size,
			Modified: o.LastModified,
		})
	}
	// An ended context can end the iteration early without an error item.
	if err := ctx.Err(); err != nil {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, err)
	}
	if res.ServerTime = rec.time(); res.ServerTime.IsZero() {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, errors.New("response carries no Date header"))
	}
	slices.SortFunc(res.Entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "minio", ConditionalDelete: false, MaxRead: s.maxRead}
}

// Close implements driver.Store and releases idle connections.
func (s *Store) Close() error {
	s.closed.Store(true)
	if t, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// native returns err, joined with the context's error when the context
// has ended, so that errors.Is(err, context.Canceled) holds even where
// minio-go reports cancellation with its own error value.
func (s *Store) native(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return errors.Join(err, cerr)
	}
	return err
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }
