// Package storeurl parses and opens the store URLs that every command and
// example accepts:
//
//	mem://                                   in-memory, nothing survives the process
//	bolt:///abs/path/to.db                   bbolt file (bolt:rel/path.db for a relative path)
//	s3://bucket/prefix?region=eu-west-1      AWS S3 (or any S3 API with endpoint=…)
//	minio://host:port/bucket/prefix?secure=false   minio-go against MinIO
//	gs://bucket/prefix                       Google Cloud Storage
//
// s3 takes the query parameters region, endpoint (an http(s) URL),
// path_style (bool), verify_etag (bool: re-read torn reads, for servers
// such as versitygw), conditional_delete (bool; absent means "AWS S3
// proper yes, custom endpoint no", see driver/s3.DeleteAuto) and
// default_chain (bool: with a custom endpoint, look credentials up in the
// AWS SDK's whole default chain, instance metadata included). minio takes
// secure (bool, default true) and region. gs takes endpoint (an
// emulator's http(s) URL; STORAGE_EMULATOR_HOST also works) and
// conditional_delete (absent means "GCS yes, emulator no"). A non-empty
// prefix always ends in "/" (one is added), so keys live in a folder.
//
// Parse knows every scheme; Open opens mem and bolt, and the schemes of
// the drivers linked into the program: each driver package registers its
// scheme when imported, so a program links only the drivers it names:
//
//	import (
//		_ "github.com/s3coord/coord/driver/s3"    // s3://
//		_ "github.com/s3coord/coord/driver/minio" // minio://
//		_ "github.com/s3coord/coord/driver/gcs"   // gs://
//	)
//
// Opening a scheme whose driver is not linked fails with ErrNotLinked,
// naming the import. coordctl links them all.
//
// Credentials never appear in a URL: a URL with user:password@ is
// rejected with ErrCredentialsInURL. They come from the environment: for
// s3 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared
// files (and on AWS S3 proper, or with default_chain=true, the rest of the
// SDK's default chain: container and instance roles); for minio
// MINIO_ACCESS_KEY/MINIO_SECRET_KEY, else MINIO_ROOT_USER/
// MINIO_ROOT_PASSWORD, else the AWS variables; for gs Application Default
// Credentials. Spec.String therefore never contains a secret, and error
// messages never echo what might be one.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
)

// Schemes.
const (
	SchemeMem   = "mem"
	SchemeBolt  = "bolt"
	SchemeS3    = "s3"
	SchemeMinIO = "minio"
	SchemeGCS   = "gs"
)

// Errors. Every error from Parse satisfies errors.Is(err, ErrInvalid) and
// one of the more specific sentinels.
var (
	// ErrInvalid: the URL is not a valid store URL.
	ErrInvalid = errors.New("invalid store URL")
	// ErrUnknownScheme: the scheme is not mem, bolt, s3, minio or gs.
	ErrUnknownScheme = errors.New("unknown scheme")
	// ErrNotLinked: Open was given a valid URL whose driver the program
	// does not import (see the package documentation). Not an ErrInvalid.
	ErrNotLinked = errors.New("store driver not linked into this program")
	// ErrMissingBucket: an s3, minio or gs URL names no bucket, or an invalid one.
	ErrMissingBucket = errors.New("missing or invalid bucket")
	// ErrBadParameter: a query parameter is unknown, repeated or has a bad
	// value.
	ErrBadParameter = errors.New("bad query parameter")
	// ErrBadLocation: the host, path or prefix is wrong for the scheme.
	ErrBadLocation = errors.New("bad location")
	// ErrCredentialsInURL: the URL carries user:password@; credentials
	// must come from the environment.
	ErrCredentialsInURL = errors.New("credentials in URL")
	// ErrCredentials: the environment's credentials are incomplete.
	ErrCredentials = errors.New("incomplete credentials in the environment")
)

// Error is the error Parse returns.
type Error struct {
	// URL is the URL without its query and userinfo, or "" when it could
	// not be shown safely.
	URL string
	// Reason says what is wrong, naming the part.
	Reason string
	// Kind is one of the specific sentinels.
	Kind error
}

func (e *Error) Error() string {
	if e.URL == "" {
		return fmt.Sprintf("store URL: %s: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("store URL %q: %s: %s", e.URL, e.Kind, e.Reason)
}

// Unwrap makes errors.Is match ErrInvalid and Kind.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Kind} }

// Spec is a parsed store URL. The fields a scheme does not use are zero.
type Spec struct {
	// Scheme is SchemeMem, SchemeBolt, SchemeS3, SchemeMinIO or SchemeGCS.
	Scheme string
	// Path is the bolt file (absolute, or relative to the working
	// directory).
	Path string
	// Host is the minio server's host[:port].
	Host string
	// Bucket and Prefix locate the objects of s3, minio and gs. Prefix is
	// "" or ends with "/".
	Bucket, Prefix string
	// Region is the bucket's region (s3, minio); "" means the default.
	Region string
	// Endpoint is an s3 custom endpoint URL ("" means AWS S3), or a gs
	// emulator's URL ("" means GCS, or STORAGE_EMULATOR_HOST).
	Endpoint string
	// PathStyle addresses s3 buckets as endpoint/bucket.
	PathStyle bool
	// ConditionalDelete overrides the s3 or gs driver's conditional-delete
	// decision; nil leaves it to the driver (on for AWS and GCS, off for a
	// custom endpoint).
	ConditionalDelete *bool
	// VerifyETag makes the s3 driver re-read a Get whose ETag is not the
	// MD5 of its body (verify_etag=true): needed on servers that can tear
	// a read racing a write, such as versitygw v1.8.0.
	VerifyETag bool
	// Insecure selects plain HTTP for minio (secure=false).
	Insecure bool
	// DefaultChain lets the s3 driver with a custom endpoint use the AWS
	// SDK's whole credential chain, instance metadata included
	// (default_chain=true).
	DefaultChain bool
}

// Parse parses a store URL. The error, if any, satisfies
// errors.Is(err, ErrInvalid) and names what is wrong; it never contains
// the URL's credentials or query values other than those it complains
// about.
func Parse(raw string) (Spec, error) {
	// An '@' anywhere may end a userinfo that the parser did not
	// recognise as one (a password containing '/', '?' or '#' moves the
	// rest of the secret into the path, query or fragment), so such a URL
	// is never shown, and s3 and minio URLs, whose bucket, prefix and
	// parameters have no use for an '@', are rejected as carrying
	// credentials.
	hasAt := strings.Contains(raw, "@")
	if scheme, _, ok := strings.Cut(raw, ":"); ok && hasAt {
		if scheme = strings.ToLower(scheme); scheme == SchemeS3 || scheme == SchemeMinIO || scheme == SchemeGCS {
			return Spec{}, &Error{Kind: ErrCredentialsInURL, Reason: "'@' in the URL: " + credentialsHint(scheme)}
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		if hasAt {
			// The parser's message may quote part of a password.
			return Spec{}, &Error{Kind: ErrBadLocation, Reason: "malformed URL (not shown: it may contain credentials)"}
		}
		var ue *url.Error
		reason := err.Error()
		if errors.As(err, &ue) {
			reason = ue.Err.Error()
		}
		return Spec{}, &Error{URL: safeRaw(raw), Kind: ErrBadLocation, Reason: "malformed URL: " + reason}
	}
	if u.User != nil {
		return Spec{}, &Error{Kind: ErrCredentialsInURL, Reason: credentialsHint(u.Scheme)}
	}
	shown := ""
	if !hasAt {
		shown = shownURL(u)
	}
	fail := func(kind error, format string, args ...any) (Spec, error) {
		return Spec{}, &Error{URL: shown, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return fail(ErrBadLocation, "a fragment (#…) is not allowed")
	}
	q, err := query(u.RawQuery, hasAt)
	if err != nil {
		return fail(ErrBadParameter, "%v", err)
	}

	switch u.Scheme {
	case SchemeMem:
		if u.Host != "" || u.Path != "" || u.Opaque != "" {
			return fail(ErrBadLocation, "mem takes no host or path: write mem://")
		}
		if err := q.only(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		return Spec{Scheme: SchemeMem}, nil

	case SchemeBolt:
		if err := q.only(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		path := u.Path
		switch {
		case u.Opaque != "":
			p, err := url.PathUnescape(u.Opaque)
			if err != nil {
				return fail(ErrBadLocation, "bad escape in path")
			}
			path = p
		case u.Host != "" && hasAt:
			return fail(ErrBadLocation, "bolt takes a file path, not a host (or credentials): write bolt:///absolute/path.db or bolt:relative/path.db")
		case u.Host != "":
			return fail(ErrBadLocation, "bolt takes a file path, not a host %q: write bolt:///absolute/path.db or bolt:relative/path.db", u.Host)
		}
		if path == "" || path == "/" {
			return fail(ErrBadLocation, "missing file path: write bolt:///absolute/path.db or bolt:relative/path.db")
		}
		if strings.HasSuffix(path, "/") {
			return fail(ErrBadLocation, "file path ends with /: name a file, not a directory")
		}
		if hasControl(path) {
			return fail(ErrBadLocation, "file path contains a control character")
		}
		return Spec{Scheme: SchemeBolt, Path: path}, nil

	case SchemeS3:
		if u.Opaque != "" {
			return fail(ErrBadLocation, "write s3://bucket/prefix")
		}
		spec := Spec{Scheme: SchemeS3, Bucket: u.Host}
		if err := checkBucket(spec.Bucket); err != nil {
			return fail(ErrMissingBucket, "%v (write s3://bucket/prefix)", err)
		}
		if spec.Prefix, err = prefix(strings.TrimPrefix(u.Path, "/")); err != nil {
			return fail(ErrBadLocation, "%v", err)
		}
		if spec.Region, err = q.region(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if spec.Endpoint, err = q.endpoint(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if spec.PathStyle, _, err = q.boolean("path_style"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		cd, set, err := q.boolean("conditional_delete")
		if err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if set {
			spec.ConditionalDelete = &cd
		}
		if spec.VerifyETag, _, err = q.boolean("verify_etag"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if spec.DefaultChain, _, err = q.boolean("default_chain"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if err := q.only("region", "endpoint", "path_style", "conditional_delete", "verify_etag", "default_chain"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		return spec, nil

	case SchemeGCS:
		if u.Opaque != "" {
			return fail(ErrBadLocation, "write gs://bucket/prefix")
		}
		spec := Spec{Scheme: SchemeGCS, Bucket: u.Host}
		// GCS also allows '_' in bucket names.
		if err := checkBucket(strings.ReplaceAll(spec.Bucket, "_", "-")); err != nil {
			return fail(ErrMissingBucket, "%v (write gs://bucket/prefix)", strings.ReplaceAll(err.Error(), "'-'", "'-', '_'"))
		}
		if spec.Prefix, err = prefix(strings.TrimPrefix(u.Path, "/")); err != nil {
			return fail(ErrBadLocation, "%v", err)
		}
		if spec.Endpoint, err = q.endpoint(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		cd, set, err := q.boolean("conditional_delete")
		if err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		if set {
			spec.ConditionalDelete = &cd
		}
		if err := q.only("endpoint", "conditional_delete"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		return spec, nil

	case SchemeMinIO:
		if u.Opaque != "" || u.Host == "" {
			return fail(ErrBadLocation, "missing server: write minio://host:port/bucket/prefix")
		}
		if err := checkHost(u.Host); err != nil {
			return fail(ErrBadLocation, "%v", err)
		}
		bucket, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		spec := Spec{Scheme: SchemeMinIO, Host: u.Host, Bucket: bucket}
		if err := checkBucket(bucket); err != nil {
			return fail(ErrMissingBucket, "%v (write minio://host:port/bucket/prefix)", err)
		}
		if spec.Prefix, err = prefix(rest); err != nil {
			return fail(ErrBadLocation, "%v", err)
		}
		if spec.Region, err = q.region(); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		secure, set, err := q.boolean("secure")
		if err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		spec.Insecure = set && !secure
		if err := q.only("secure", "region"); err != nil {
			return fail(ErrBadParameter, "%v", err)
		}
		return spec, nil

	case "":
		return fail(ErrUnknownScheme, "no scheme: use mem://, bolt:///path, s3://bucket, minio://host/bucket or gs://bucket")
	default:
		return fail(ErrUnknownScheme, "%q: use mem, bolt, s3, minio or gs", u.Scheme)
	}
}

// String returns the canonical URL of s: Parse(s.String()) yields s
// again. It never contains credentials (a Spec holds none).
func (s Spec) String() string {
	switch s.Scheme {
	case SchemeMem:
		return "mem://"
	case SchemeBolt:
		p := (&url.URL{Path: s.Path}).EscapedPath()
		if strings.HasPrefix(s.Path, "/") {
			return "bolt://" + p
		}
		return "bolt:" + p
	case SchemeS3:
		v := url.Values{}
		if s.Region != "" {
			v.Set("region", s.Region)
		}
		if s.Endpoint != "" {
			v.Set("endpoint", s.Endpoint)
		}
		if s.PathStyle {
			v.Set("path_style", "true")
		}
		if s.ConditionalDelete != nil {
			v.Set("conditional_delete", strconv.FormatBool(*s.ConditionalDelete))
		}
		if s.VerifyETag {
			v.Set("verify_etag", "true")
		}
		if s.DefaultChain {
			v.Set("default_chain", "true")
		}
		u := url.URL{Scheme: SchemeS3, Host: s.Bucket, RawQuery: v.Encode()}
		if s.Prefix != "" {
			u.Path = "/" + s.Prefix
		}
		return u.String()
	case SchemeMinIO:
		v := url.Values{}
		if s.Region != "" {
			v.Set("region", s.Region)
		}
		if s.Insecure {
			v.Set("secure", "false")
		}
		u := url.URL{Scheme: SchemeMinIO, Host: s.Host, Path: "/" + s.Bucket + "/" + s.Prefix, RawQuery: v.Encode()}
		if s.Prefix == "" {
			u.Path = "/" + s.Bucket
		}
		return u.String()
	case SchemeGCS:
		v := url.Values{}
		if s.Endpoint != "" {
			v.Set("endpoint", s.Endpoint)
		}
		if s.ConditionalDelete != nil {
			v.Set("conditional_delete", strconv.FormatBool(*s.ConditionalDelete))
		}
		u := url.URL{Scheme: SchemeGCS, Host: s.Bucket, RawQuery: v.Encode()}
		if s.Prefix != "" {
			u.Path = "/" + s.Prefix
		}
		return u.String()
	}
	return s.Scheme + "://"
}

// Open parses raw and opens the store it names.
func Open(ctx context.Context, raw string) (driver.Store, error) {
	spec, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return spec.Open(ctx)
}

// Opener opens the store a parsed URL names. Opening does no network
// I/O: a missing bucket or wrong credentials show up on the first call.
type Opener func(ctx context.Context, s Spec) (driver.Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{
		SchemeMem:  func(context.Context, Spec) (driver.Store, error) { return mem.New(mem.Options{}), nil },
		SchemeBolt: func(_ context.Context, s Spec) (driver.Store, error) { return bolt.Open(s.Path, bolt.Options{}) },
	}
	// drivers names the package that registers each scheme.
	drivers = map[string]string{
		SchemeS3:    "github.com/s3coord/coord/driver/s3",
		SchemeMinIO: "github.com/s3coord/coord/driver/minio",
		SchemeGCS:   "github.com/s3coord/coord/driver/gcs",
	}
)

// Register makes Open use open for scheme. Driver packages call it from
// init; it panics when the scheme is not one Parse knows, when open is
// nil, or when the scheme is registered twice.
func Register(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, known := drivers[scheme]; !known || open == nil {
		panic(fmt.Sprintf("storeurl: Register(%q): not a scheme of Parse, or a nil Opener", scheme))
	}
	if _, dup := openers[scheme]; dup {
		panic(fmt.Sprintf("storeurl: Register(%q) called twice", scheme))
	}
	openers[scheme] = open
}

// Open opens the store s names with the Opener registered for its scheme.
// mem:// opens a new, empty store each time.
func (s Spec) Open(ctx context.Context) (driver.Store, error) {
	openersMu.RLock()
	open, ok := openers[s.Scheme]
	openersMu.RUnlock()
	if ok {
		return open(ctx, s)
	}
	if pkg, known := drivers[s.Scheme]; known {
		return nil, fmt.Errorf("%w: %s:// needs import _ %q", ErrNotLinked, s.Scheme, pkg)
	}
	return nil, &Error{URL: s.String(), Kind: ErrUnknownScheme, Reason: fmt.Sprintf("%q: use mem, bolt, s3, minio or gs", s.Scheme)}
}

func credentialsHint(scheme string) string {
	env := "the environment"
	switch scheme {
	case SchemeS3:
		env = "the AWS default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
	case SchemeMinIO:
		env = "MINIO_ACCESS_KEY and MINIO_SECRET_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD)"
	case SchemeGCS:
		env = "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth application-default login)"
	}
	return "user:password@ must not appear in a store URL (URLs end up in logs); remove it and set " + env
}

// shownURL is u without userinfo and query, for error messages.
func shownURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}
	return c.String()
}

// safeRaw is an unparseable raw URL without its query, for error messages.
func safeRaw(raw string) string {
	raw, _, _ = strings.Cut(raw, "?")
	if len(raw) > 200 {
		raw = raw[:200] + "…"
	}
	return raw
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// checkBucket applies S3's bucket naming rules: 3 to 63 characters of
// lowercase letters, digits, '.' and '-', starting and ending with a
// letter or digit.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("no bucket")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q must be 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return fmt.Errorf("bucket %q: only lowercase letters, digits, '.' and '-' are allowed", b)
		}
		if !alnum && (i == 0 || i == len(b)-1) {
			return fmt.Errorf("bucket %q must start and end with a letter or digit", b)
		}
	}
	return nil
}

// checkHost checks a minio host[:port].
func checkHost(h string) error {
	host, port := h, ""
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return fmt.Errorf("server %q: %v", h, err)
		}
	}
	if host == "" {
		return fmt.Errorf("server %q has no host name", h)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("server %q: port must be 1 to 65535", h)
		}
	}
	return nil
}

// prefix validates and normalises a key prefix: "" or ending with "/".
func prefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if err := driver.ValidatePrefix(p); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return p, nil
}

// params is a parsed query that remembers which parameters were read.
// A quiet one (of a URL that may hold credentials) names no unknown
// parameter and no value in its errors.
type params struct {
	v     url.Values
	seen  map[string]bool
	quiet bool
}

func query(raw string, quiet bool) (params, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return params{}, errors.New("malformed query (check its % escapes and separators)")
	}
	for k, vs := range v {
		if len(vs) > 1 {
			if quiet {
				return params{}, errors.New("a parameter is given more than once")
			}
			return params{}, fmt.Errorf("%q given %d times", k, len(vs))
		}
	}
	return params{v: v, seen: map[string]bool{}, quiet: quiet}, nil
}

// shown is how an error quotes a value: not at all when quiet.
func (p params) shown(v string) string {
	if p.quiet {
		return "(value not shown)"
	}
	return strconv.Quote(v)
}

// get returns a parameter's value and whether it was given.
func (p params) get(name string) (string, bool) {
	p.seen[name] = true
	vs, ok := p.v[name]
	if !ok {
		return "", false
	}
	return vs[0], true
}

// only fails on any parameter not in allowed. It names the parameter but
// never its value, which could be a secret put in the wrong place.
func (p params) only(allowed ...string) error {
	for k := range p.v {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			name := p.shown(k)
			if len(allowed) == 0 {
				return fmt.Errorf("unknown parameter %s: this scheme takes none", name)
			}
			return fmt.Errorf("unknown parameter %s: allowed are %s", name, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (p params) boolean(name string) (value, given bool, err error) {
	s, ok := p.get(name)
	if !ok {
		return false, false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, true, fmt.Errorf("%s=%s is not a bool (use true or false)", name, p.shown(s))
	}
	return b, true, nil
}

func (p params) region() (string, error) {
	s, ok := p.get("region")
	if !ok {
		return "", nil
	}
	if s == "" || len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return "", fmt.Errorf("region=%s: want a region name such as us-east-1", p.shown(s))
	}
	return s, nil
}

func (p params) endpoint() (string, error) {
	s, ok := p.get("endpoint")
	if !ok {
		return "", nil
	}
	if strings.Contains(s, "@") {
		return "", errors.New("endpoint: " + credentialsHint(SchemeS3))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Host == "":
		return "", errors.New("endpoint must be a URL such as http://127.0.0.1:9000")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("endpoint scheme %q: want http or https", u.Scheme)
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("endpoint must not have a query or fragment")
	}
	if err := checkHost(u.Host); err != nil {
		return "", fmt.Errorf("endpoint: %v", err)
	}
	return s, nil
}
