// Package gcs is the driver.Store for Google Cloud Storage, built on
// cloud.google.com/go/storage over the JSON API.
//
// Conditional writes use GCS preconditions, which GCS applies atomically:
// driver.IfAbsent is ifGenerationMatch=0, driver.IfMatch(v) is
// ifGenerationMatch=v. A version is the object's generation in decimal;
// every write makes a new generation, even of the same bytes. Conditional
// Delete is ifGenerationMatch too: on by default on GCS proper, off with
// an emulator endpoint, because fake-gcs-server v1.56.1 ignores
// ifGenerationMatch on DELETE and deletes anyway (see DeleteMode). A
// failed condition (412, or 404 for a conditional delete of a missing
// object) is driver.ErrPrecondition.
//
// Errors about the store rather than a key are classified (errors.go): a
// missing bucket is driver.ErrBucketNotFound, 401 and 403
// driver.ErrAccessDenied, an endpoint that cannot be connected to
// driver.ErrUnreachable; their messages name the bucket or the endpoint.
//
// Credentials are Application Default Credentials (GOOGLE_APPLICATION_
// CREDENTIALS, gcloud's file, the metadata server on Google Cloud). With
// an emulator endpoint (Config.Endpoint, else STORAGE_EMULATOR_HOST) no
// credentials are used.
//
// Put and Delete are never retried by the client library: a conditional
// write whose answer was lost and that is sent again would be refused by
// its own first attempt (412), and a write reported as a failed condition
// must not have happened. They fail instead, in doubt, and the engine
// decides. Get and List are retried (Config.MaxAttempts).
//
// Every request attempt that reached the server is counted in the HTTP
// transport under the library, by GCS operation: object downloads as GET,
// metadata reads as HEAD, uploads as PUT, listings as LIST, deletes as
// DELETE. GCS bills uploads and listings as Class A operations and reads
// as Class B; deletes are free. The same transport reads the Date header
// for List's server time.
//
// GCS allows about one write per second to the same object name; faster
// writes to one key get 429 and are not retried. The engine's default
// timings write a key far less often.
//
// Stores are also opened by URL through package storeurl once this
// package is linked:
//
//	import _ "github.com/s3coord/coord/driver/gcs"
//	store, err := storeurl.Open(ctx, "gs://my-bucket/coord")
package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/s3coord/coord/driver"
)

// DefaultMaxAttempts is the number of attempts of a Get or List when
// Config.MaxAttempts is 0, as for the s3 and minio drivers.
const DefaultMaxAttempts = 3

// DeleteMode says whether Delete with a condition is sent to the server.
type DeleteMode int

const (
	// DeleteAuto (the zero value) enables conditional delete on GCS
	// proper and disables it with an emulator endpoint.
	DeleteAuto DeleteMode = iota
	// DeleteConditional sends ifGenerationMatch on DELETE.
	DeleteConditional
	// DeleteUnsupported makes every conditional Delete fail with
	// driver.ErrUnsupported without sending a request.
	DeleteUnsupported
)

// Config describes a connection and a place in a bucket.
type Config struct {
	// Bucket and Prefix say where the objects live. The prefix is
	// prepended verbatim to every key (use a trailing "/" for a folder)
	// and stripped from listed keys. It must satisfy driver.ValidatePrefix.
	Bucket, Prefix string
	// Endpoint is an emulator's URL ("http://127.0.0.1:4443"); requests
	// then carry no credentials. Empty means STORAGE_EMULATOR_HOST when
	// set, else Google Cloud Storage with Application Default
	// Credentials.
	Endpoint string
	// Project is the project a new bucket is made in (CreateBucket only);
	// empty means GOOGLE_CLOUD_PROJECT.
	Project string
	// Transport is the HTTP transport under the counting layer (and under
	// the credentials); default a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// MaxAttempts bounds the attempts of a Get or List (0:
	// DefaultMaxAttempts). Put and Delete make one.
	MaxAttempts int
	// MaxRead caps the size of an object Get returns (default
	// driver.DefaultMaxRead).
	MaxRead int64
	// ConditionalDelete says whether conditional deletes are sent to the
	// server. Default DeleteAuto.
	ConditionalDelete DeleteMode
}

// Store is a driver.Store on one GCS bucket and prefix. It is safe for
// concurrent use.
type Store struct {
	driver.Counter
	client     *storage.Client
	bucket     *storage.BucketHandle
	name       string // bucket name
	prefix     string
	project    string
	endpoint   string // for messages
	maxRead    int64
	condDelete bool
	// bucketSeen is set once the bucket answered (errors.go).
	bucketSeen atomic.Bool
	closed     atomic.Bool
}

var (
	_ driver.Store          = (*Store)(nil)
	_ driver.RequestCounter = (*Store)(nil)
	_ driver.BucketCreator  = (*Store)(nil)

	_ driver.ConditionalDeleteForcer = (*Store)(nil)
)

// Open returns a Store for cfg. It makes no request to the store; without
// an emulator endpoint it looks up Application Default Credentials and
// fails when there are none.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("gcs: empty bucket name")
	}
	if err := driver.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("gcs: prefix: %w", err)
	}
	if cfg.MaxRead <= 0 {
		cfg.MaxRead = driver.DefaultMaxRead
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Project == "" {
		cfg.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	s := &Store{name: cfg.Bucket, prefix: cfg.Prefix, project: cfg.Project, maxRead: cfg.MaxRead}
	var rt http.RoundTripper = &countingTransport{base: base, counter: &s.Counter}
	opts := []option.ClientOption{storage.WithJSONReads(), storage.WithDisabledClientMetrics()}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("STORAGE_EMULATOR_HOST")
	}
	if endpoint != "" {
		if !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("gcs: endpoint %q: want a URL such as http://127.0.0.1:4443", endpoint)
		}
		endpoint = strings.TrimSuffix(u.String(), "/")
		s.endpoint = endpoint
		opts = append(opts, option.WithEndpoint(endpoint+"/storage/v1/"))
	} else {
		s.endpoint = "Google Cloud Storage"
		authed, err := htransport.NewTransport(ctx, rt, option.WithScopes(storage.ScopeFullControl))
		if err != nil {
			return nil, fmt.Errorf("gcs: %w: %w (set GOOGLE_APPLICATION_CREDENTIALS or run gcloud auth application-default login; for an emulator set STORAGE_EMULATOR_HOST)", driver.ErrAccessDenied, err)
		}
		rt = authed
	}
	condDelete, err := conditionalDelete(cfg.ConditionalDelete, endpoint != "")
	if err != nil {
		return nil, err
	}
	s.condDelete = condDelete
	opts = append(opts, option.WithHTTPClient(&http.Client{Transport: rt}))
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	client.SetRetry(storage.WithMaxAttempts(cfg.MaxAttempts))
	s.client = client
	s.bucket = client.Bucket(cfg.Bucket)
	return s, nil
}

// conditionalDelete is whether a Store of mode honours conditional
// deletes; DeleteAuto trusts Google Cloud Storage, not an emulator.
func conditionalDelete(mode DeleteMode, emulator bool) (bool, error) {
	switch mode {
	case DeleteAuto:
		return !emulator, nil
	case DeleteConditional:
		return true, nil
	case DeleteUnsupported:
		return false, nil
	}
	return false, fmt.Errorf("gcs: unknown DeleteMode %d", mode)
}

// countingTransport counts every request attempt that reached the server
// (the whole request was written to a connection, or a response came)
// and hands each response to the call's recorder (errors.go).
type countingTransport struct {
	base    http.RoundTripper
	counter *driver.Counter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, sent := driver.TraceSent(r.Context())
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if sent() || resp != nil {
		t.counter.Inc(classOf(r))
	}
	if err == nil {
		if rec, ok := r.Context().Value(recorderKey{}).(*recorder); ok {
			rec.record(resp)
		}
	}
	return resp, err
}

// classOf maps a JSON API request to its billing class.
func classOf(r *http.Request) driver.Class {
	p := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		switch {
		case strings.HasSuffix(p, "/o"):
			return driver.ClassList
		case r.URL.Query().Get("alt") == "media" || strings.HasPrefix(p, "/download/"):
			return driver.ClassGet
		}
		return driver.ClassHead
	case http.MethodDelete:
		return driver.ClassDelete
	}
	return driver.ClassPut
}

// generation parses a version. ok is false for a string no object can
// have as its version.
func generation(v string) (g int64, ok bool) {
	g, err := strconv.ParseInt(v, 10, 64)
	return g, err == nil && g > 0
}

// noGeneration fails a write conditional on a version that is no
// generation, and so matches no object: ErrPrecondition, once one
// metadata read of the object has shown that the bucket answers (a
// missing bucket or an unreachable endpoint is reported as such). An
// empty version sends nothing.
func (s *Store) noGeneration(ctx context.Context, op, key, full, v string) error {
	why := fmt.Errorf("version %q is no generation", v)
	if v == "" {
		return driver.Wrap(op, key, driver.ErrPrecondition, why)
	}
	ctx, rec := withRecorder(ctx)
	_, err := s.bucket.Object(full).Attrs(ctx)
	if err == nil || isNotFound(err) && !s.bucketGone(ctx, rec, "get", err) {
		return driver.Wrap(op, key, driver.ErrPrecondition, why)
	}
	return s.fail(ctx, rec, op, key, nil, err)
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	full, err := driver.PrefixedKey(ctx, "get", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return driver.Object{}, err
	}
	ctx, rec := withRecorder(ctx)
	r, err := s.bucket.Object(full).NewReader(ctx)
	if err != nil {
		return driver.Object{}, s.fail(ctx, rec, "get", key, notFoundAs(driver.ErrNotFound), err)
	}
	defer r.Close()
	s.bucketSeen.Store(true)
	if r.Attrs.Size > s.maxRead {
		return driver.Object{}, driver.Wrap("get", key, driver.ErrTooLarge,
			fmt.Errorf("object is %d bytes, read cap is %d", r.Attrs.Size, s.maxRead))
	}
	data, err := driver.ReadCapped(r, s.maxRead)
	if err != nil {
		return driver.Object{}, driver.Wrap("get", key, nil, err)
	}
	return driver.Object{
		Key:      key,
		Data:     data,
		Version:  strconv.FormatInt(r.Attrs.Generation, 10),
		Modified: r.Attrs.LastModified,
	}, nil
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	full, err := driver.PrefixedKey(ctx, "put", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return "", err
	}
	o := s.bucket.Object(full).Retryer(storage.WithPolicy(storage.RetryNever))
	switch v, isMatch := cond.Match(); {
	case cond.IsIfAbsent():
		o = o.If(storage.Conditions{DoesNotExist: true})
	case isMatch:
		g, ok := generation(v)
		if !ok {
			return "", s.noGeneration(ctx, "put", key, full, v)
		}
		o = o.If(storage.Conditions{GenerationMatch: g})
	}
	ctx, rec := withRecorder(ctx)
	// Cancelling wctx on every return ends the writer's goroutine.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := o.NewWriter(wctx)
	w.ChunkSize = 0 // one request, no resumable session
	_, werr := w.Write(data)
	if err := w.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		// A conditional write of a missing object answers 412, but a
		// bare 404 (no bucket) must not pass for a failed condition.
		return "", s.fail(ctx, rec, "put", key, conditionKind(!cond.IsNone()), werr)
	}
	s.bucketSeen.Store(true)
	return strconv.FormatInt(w.Attrs().Generation, 10), nil
}

// Delete implements driver.Store.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	full, err := driver.PrefixedKey(ctx, "delete", s.prefix, key, s.closed.Load(), driver.ValidateKey)
	if err != nil {
		return err
	}
	o := s.bucket.Object(full).Retryer(storage.WithPolicy(storage.RetryNever))
	v, isMatch := cond.Match()
	switch {
	case cond.IsIfAbsent():
		return driver.Wrap("delete", key, driver.ErrUnsupported, errors.New("IfAbsent is not a delete condition"))
	case isMatch && !s.condDelete:
		return driver.Wrap("delete", key, driver.ErrUnsupported,
			errors.New("conditional delete is not enabled for this endpoint (Config.ConditionalDelete)"))
	case isMatch:
		g, ok := generation(v)
		if !ok {
			return s.noGeneration(ctx, "delete", key, full, v)
		}
		o = o.If(storage.Conditions{GenerationMatch: g})
	}
	ctx, rec := withRecorder(ctx)
	err = o.Delete(ctx)
	if err == nil {
		s.bucketSeen.Store(true)
		return nil
	}
	if !isMatch && isNotFound(err) && !s.bucketGone(ctx, rec, "delete", err) {
		s.bucketSeen.Store(true)
		return nil // already gone
	}
	// A conditional delete of a missing object answers 404.
	return s.fail(ctx, rec, "delete", key, conditionKind(isMatch), err)
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	full, err := driver.PrefixedKey(ctx, "list", s.prefix, prefix, s.closed.Load(), driver.ValidatePrefix)
	if err != nil {
		return driver.ListResult{}, err
	}
	ctx, rec := withRecorder(ctx)
	q := &storage.Query{Prefix: full}
	if err := q.SetAttrSelection([]string{"Name", "Generation", "Size", "Updated"}); err != nil {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, err)
	}
	var res driver.ListResult
	it := s.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return driver.ListResult{}, s.fail(ctx, rec, "list", prefix, nil, err)
		}
		if !strings.HasPrefix(a.Name, s.prefix) {
			continue
		}
		res.Entries = append(res.Entries, driver.Entry{
			Key:      strings.TrimPrefix(a.Name, s.prefix),
			Version:  strconv.FormatInt(a.Generation, 10),
			Size:     a.Size,
			Modified: a.Updated,
		})
	}
	s.bucketSeen.Store(true)
	// The first page's time: an entry modified while later pages were
	// read then looks younger, never older, than it is.
	if res.ServerTime = rec.date(); res.ServerTime.IsZero() {
		return driver.ListResult{}, driver.Wrap("list", prefix, nil, errors.New("response carries no Date header"))
	}
	slices.SortFunc(res.Entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// Capabilities implements driver.Store.
func (s *Store) Capabilities() driver.Capabilities {
	return driver.Capabilities{Name: "gcs", ConditionalDelete: s.condDelete, MaxRead: s.maxRead}
}

// ForceConditionalDelete implements driver.ConditionalDeleteForcer: a
// Store on the same client, bucket and prefix whose Delete sends
// ifGenerationMatch whatever Config.ConditionalDelete says. Its requests
// are counted by s, and its Close leaves the client open. For
// measuring a server (coordctl check) only.
func (s *Store) ForceConditionalDelete() driver.Store {
	return &forced{Store: &Store{
		client: s.client, bucket: s.bucket, name: s.name, prefix: s.prefix,
		project: s.project, endpoint: s.endpoint, maxRead: s.maxRead, condDelete: true,
	}}
}

// forced is a Store that shares its client with another.
type forced struct{ *Store }

func (f *forced) Close() error {
	f.closed.Store(true)
	return nil
}

// Close implements driver.Store: it closes the client Open made.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.client.Close()
}

// CreateBucket implements driver.BucketCreator. It makes the bucket in
// Config.Project (or GOOGLE_CLOUD_PROJECT).
func (s *Store) CreateBucket(ctx context.Context) (bool, error) {
	const op = "create-bucket"
	if s.closed.Load() {
		return false, driver.Wrap(op, s.name, driver.ErrClosed, nil)
	}
	ctx, rec := withRecorder(ctx)
	_, err := s.bucket.Attrs(ctx)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return false, s.fail(ctx, rec, op, s.name, nil, err)
	}
	if s.project == "" {
		return false, driver.Wrap(op, s.name, nil, errors.New("no project to make the bucket in: set GOOGLE_CLOUD_PROJECT"))
	}
	err = s.bucket.Create(ctx, s.project, nil)
	switch status(err) {
	case 0:
		return true, nil
	case http.StatusConflict:
		if _, aerr := s.bucket.Attrs(ctx); aerr == nil {
			return false, nil // ours, made meanwhile
		}
		return false, s.fail(ctx, rec, op, s.name, always(driver.ErrBucketExists), err)
	case http.StatusBadRequest:
		return false, s.fail(ctx, rec, op, s.name, always(driver.ErrInvalidBucketName), err)
	}
	return false, s.fail(ctx, rec, op, s.name, nil, err)
}
