package chaos

import (
	"net/http"
	"strings"
)

// RouteTransport sends the HTTP requests Match selects to the address To
// (host:port) instead of their own, and the others unchanged, over Base
// (http.DefaultTransport when nil). With a FaultProxy of their own in front
// of the selected requests, a fault hits those requests alone: the
// FaultProxy forwards bytes and cannot tell one request from another.
//
// The Host header stays the one the request was made for, so a SigV4
// signature made for the original endpoint still holds at the server.
type RouteTransport struct {
	Base  http.RoundTripper
	Match func(*http.Request) bool
	To    string
}

// RoundTrip implements http.RoundTripper.
func (t *RouteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Match == nil || !t.Match(req) {
		return base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.URL.Host = t.To
	return base.RoundTrip(r)
}

// IsWorkerList reports whether req is an S3 ListObjectsV2 of coord's
// worker records: the LIST with which a leader counts them (the directory
// of its lease, a prefix that ends in "/"), in both modes, or an operator
// view's (a prefix that ends in "workers/"); not the store check's
// scratch prefix, nor a LIST of one key.
func IsWorkerList(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	q := req.URL.Query()
	p := q.Get("prefix")
	return q.Has("list-type") && strings.HasSuffix(p, "/") && !strings.Contains(p, "_check/")
}
