package testserver

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/chaos/turnproxy"
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

	// strip and stripped: see NewStrippingProxy.
	strip    atomic.Bool
	stripped atomic.Uint64
}

// NewCountingProxy starts a proxy on loopback in front of target (a base
// URL such as "http://127.0.0.1:9000") and stops it when t ends. The
// client's Host header is passed through unchanged, so SigV4 signatures
// made for the proxy's address stay valid at the server.
func NewCountingProxy(t testing.TB, target string) *CountingProxy {
	t.Helper()
	return newProxy(t, target, nil)
}

// NewStrippingProxy is a CountingProxy in front of srv that, while
// Strip(true) is in force (from the start), removes the conditional
// headers If-Match and If-None-Match from every request and signs it again
// with srv's credentials (turnproxy.Resign; aws-chunked bodies are
// decoded): srv then sees unconditional writes and deletes, as from a
// store that silently ignores conditions.
func NewStrippingProxy(t testing.TB, srv Server) *CountingProxy {
	t.Helper()
	creds := turnproxy.Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region}
	var p *CountingProxy
	p = newProxy(t, srv.Endpoint, func(r *http.Request) {
		if !p.strip.Load() {
			return
		}
		stripped, _, err := turnproxy.Resign(r, creds)
		if err != nil {
			t.Errorf("stripping proxy: %v", err)
			return
		}
		if stripped {
			p.stripped.Add(1)
		}
	})
	p.strip.Store(true)
	return p
}

// Strip turns the stripping of a NewStrippingProxy on or off.
func (p *CountingProxy) Strip(on bool) { p.strip.Store(on) }

// Stripped is how many requests had their conditional headers removed.
func (p *CountingProxy) Stripped() uint64 { return p.stripped.Load() }

func newProxy(t testing.TB, target string, rewrite func(*http.Request)) *CountingProxy {
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
			if rewrite != nil {
				rewrite(r.Out)
			}
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
