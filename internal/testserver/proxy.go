package testserver

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/s3coord/coord/driver"
)

// CountingProxy is a reverse proxy in front of a server that counts the
// requests it forwards, by billing class. It is the ground truth against
// which a driver's own request counts are checked, so its classification
// is written here independently of any driver.
type CountingProxy struct {
	// URL is the proxy's base URL; point a client at it instead of the
	// server.
	URL string

	mu      sync.Mutex
	counts  driver.Counts
	changed chan struct{} // closed and replaced on every count
}

// NewCountingProxy starts a proxy on loopback in front of target (a base
// URL such as "http://127.0.0.1:9000") and stops it when t ends. The
// client's Host header is passed through unchanged, so SigV4 signatures
// made for the proxy's address stay valid at the server.
func NewCountingProxy(t testing.TB, target string) *CountingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("proxy target %q: %v", target, err)
	}
	p := &CountingProxy{changed: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *CountingProxy) count(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.changed)
	p.changed = make(chan struct{})
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Has("list-type") {
			p.counts.List++
		} else {
			p.counts.Get++
		}
	case http.MethodHead:
		p.counts.Head++
	case http.MethodDelete:
		p.counts.Delete++
	case http.MethodPut, http.MethodPost:
		p.counts.Put++
	}
}

// Changed returns a channel that is closed when the proxy next counts a
// request: wait on it (with a deadline) instead of sleeping.
func (p *CountingProxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Counts returns the requests received so far, by class. Conflicts is
// always zero: the proxy does not read responses.
func (p *CountingProxy) Counts() driver.Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}
