package chaos

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestRouteTransport(t *testing.T) {
	serve := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name+" "+r.Host)
		}))
		t.Cleanup(s.Close)
		return s
	}
	own, other := serve("own"), serve("other")
	ownHost := own.Listener.Addr().String()
	client := &http.Client{Transport: &RouteTransport{Match: IsWorkerList, To: other.Listener.Addr().String()}}
	for _, tc := range []struct {
		method, query, want string
	}{
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/default/workers/"), "other"},
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/default/plugins/p/workers/"), "other"},
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/default/"), "other"},
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/default/plugins/p/"), "other"},
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/_check/0123/"), "own"},
		{"GET", "list-type=2&prefix=" + url.QueryEscape("coord/default/state.json"), "own"},
		{"GET", "", "own"},
		{"PUT", "list-type=2&prefix=" + url.QueryEscape("coord/default/workers/"), "own"},
	} {
		req, err := http.NewRequest(tc.method, own.URL+"/bucket?"+tc.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.want + " " + ownHost; string(b) != want {
			t.Errorf("%s ?%s: answered %q, want %q (the Host header unchanged)", tc.method, tc.query, b, want)
		}
	}
}
