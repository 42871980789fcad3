package coordhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/html"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// cluster starts two processes on store inside the current synctest
// bubble: hub a uses "queue" (Global) and "mailer" (PerPlugin), hub b uses
// "queue" (Global). Hub a starts first and leads the namespace lease.
func cluster(t *testing.T, store driver.Store) (a, b *coord.Hub) {
	t.Helper()
	open := func(id string) *coord.Hub {
		h, err := coord.NewHub(store, coord.Config{WorkerID: id, RandSeed: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		return h
	}
	a = open("worker-a")
	if _, err := a.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Use(t.Context(), "mailer", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin}); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	b = open("worker-b")
	if _, err := b.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Second) // both have written worker records; plugin leases claimed
	synctest.Wait()
	return a, b
}

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Result()
}

func getPage(t *testing.T, h http.Handler) coordhttp.Page {
	t.Helper()
	res := get(t, h, "/status.json")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var page coordhttp.Page
	dec := json.NewDecoder(res.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page
}

func TestJSONMatchesCoordinators(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cluster(t, mem.New(mem.Options{}))
		pa, pb := getPage(t, coordhttp.New(a, coordhttp.Options{})), getPage(t, coordhttp.New(b, coordhttp.Options{}))
		if len(pa.Coordinators) != 2 || len(pb.Coordinators) != 1 {
			t.Fatalf("%d and %d coordinators, want 2 and 1", len(pa.Coordinators), len(pb.Coordinators))
		}
		ns, mailer, follower := pa.Coordinators[0], pa.Coordinators[1], pb.Coordinators[0]
		if ns.Mode != "global" || ns.Plugin != "" || mailer.Mode != "per-plugin" || mailer.Plugin != "mailer" {
			t.Fatalf("order/modes: %s/%q then %s/%q, want the namespace coordinator first", ns.Mode, ns.Plugin, mailer.Mode, mailer.Plugin)
		}
		gc, err := a.GlobalCoordinator(t.Context(), "default")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []coordhttp.Status{ns, follower} {
			if s.Leader.ID != "worker-a" || s.Leader.Epoch != gc.Metrics().Epoch || !s.HasLeader || s.Error != "" {
				t.Errorf("%s sees leader %q epoch %d has_leader %v error %q; want worker-a at epoch %d",
					s.WorkerID, s.Leader.ID, s.Leader.Epoch, s.HasLeader, s.Error, gc.Metrics().Epoch)
			}
			if len(s.Workers) != 2 {
				t.Errorf("%s: %d workers, want 2", s.WorkerID, len(s.Workers))
			}
			if len(s.Plugins) != 1 || s.Plugins[0].Name != "queue" || !s.Plugins[0].Lease.Delegated || s.Plugins[0].Lease.ID != "worker-a" {
				t.Errorf("%s: plugins %+v, want queue delegated to worker-a", s.WorkerID, s.Plugins)
			}
			if s.LeaseAgeSeconds == nil || *s.LeaseAgeSeconds > s.Leader.LeaseSeconds {
				t.Errorf("%s: lease age %v of %vs", s.WorkerID, s.LeaseAgeSeconds, s.Leader.LeaseSeconds)
			}
			if s.Metrics == nil || s.Metrics.HeartbeatCount == 0 || s.Metrics.Requests["GET"] == 0 {
				t.Errorf("%s: metrics %+v", s.WorkerID, s.Metrics)
			}
		}
		if !ns.IsLeader || follower.IsLeader || ns.WorkerID != "worker-a" || follower.WorkerID != "worker-b" {
			t.Errorf("is_leader: a %v, b %v", ns.IsLeader, follower.IsLeader)
		}
		if !mailer.IsLeader || mailer.Leader.ID != "worker-a" || mailer.Leader.Mode != "per-plugin" || len(mailer.Workers) != 1 {
			t.Errorf("mailer: %+v", mailer)
		}
	})
}

// section is what the HTML page shows for one coordinator.
type section struct {
	attrs   map[string]string // data-namespace, data-plugin, data-mode
	fields  map[string]string // data-field -> text
	metrics map[string]string // data-metric -> text
	workers []string
	plugins []string
}

// parsedPage is the HTML page as read back by a parser.
type parsedPage struct {
	title, refresh, jsonLink string
	sections                 []*section
	outage                   string
	store, settings          map[string]string            // data-store, data-setting -> text
	plugins                  map[string]map[string]string // data-plugin-view -> data-col -> text
	bars                     []bar                        // timeline
	ticks                    []string                     // the timeline's tick labels
}

// bar is one rect of the timeline.
type bar struct{ plugin, holder, epoch, title string }

func parseHTML(t *testing.T, r io.Reader) parsedPage {
	t.Helper()
	doc, err := html.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	p := parsedPage{store: map[string]string{}, settings: map[string]string{}, plugins: map[string]map[string]string{}}
	var cur *section
	var row map[string]string
	var group string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := attrs(n)
			squash := func() string { return strings.Join(strings.Fields(text(n)), " ") }
			switch {
			case a["data-store"] != "":
				p.store[a["data-store"]] = squash()
			case a["data-setting"] != "":
				p.settings[a["data-setting"]] = squash()
			case a["data-plugin-view"] != "":
				row = map[string]string{}
				p.plugins[a["data-plugin-view"]] = row
			case a["data-col"] != "" && row != nil:
				row[a["data-col"]] = squash()
			case a["data-timeline-plugin"] != "":
				group = a["data-timeline-plugin"]
			case n.Data == "rect" && group != "":
				p.bars = append(p.bars, bar{plugin: group, holder: a["data-holder"], epoch: a["data-epoch"], title: squash()})
			case a["data-field"] == "outage":
				p.outage = squash()
			case n.Data == "text" && a["class"] == "tick":
				p.ticks = append(p.ticks, squash())
			}
			switch {
			case n.Data == "title" && n.Parent != nil && n.Parent.Data == "head":
				p.title = text(n)
			case n.Data == "meta" && a["http-equiv"] == "refresh":
				p.refresh = a["content"]
			case n.Data == "a" && strings.HasSuffix(a["href"], ".json"):
				p.jsonLink = a["href"]
			case n.Data == "section" && a["class"] == "coordinator":
				cur = &section{attrs: a, fields: map[string]string{}, metrics: map[string]string{}}
				p.sections = append(p.sections, cur)
			}
			if cur != nil {
				if f := a["data-field"]; f != "" {
					cur.fields[f] = strings.Join(strings.Fields(text(n)), " ")
				}
				if m := a["data-metric"]; m != "" {
					cur.metrics[m] = strings.Join(strings.Fields(text(n)), " ")
				}
				if w := a["data-worker"]; w != "" {
					cur.workers = append(cur.workers, w)
				}
				if pl := a["data-plugin"]; pl != "" && n.Data == "tr" {
					cur.plugins = append(cur.plugins, pl+"="+strings.Join(strings.Fields(text(n)), " "))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p
}

func attrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// checkPage compares the HTML page with the JSON status of the same
// snapshot.
func checkPage(t *testing.T, p parsedPage, page coordhttp.Page) {
	t.Helper()
	if p.title != "coord status" || p.jsonLink != "status.json" {
		t.Errorf("title %q, JSON link %q", p.title, p.jsonLink)
	}
	if len(p.sections) != len(page.Coordinators) {
		t.Fatalf("page shows %d coordinators, JSON has %d", len(p.sections), len(page.Coordinators))
	}
	for i, s := range page.Coordinators {
		got := p.sections[i]
		want := map[string]string{
			"leader":       s.Leader.ID,
			"epoch":        strconv.FormatUint(s.Leader.Epoch, 10),
			"worker-id":    s.WorkerID,
			"worker-count": strconv.Itoa(len(s.Workers)),
			"version":      s.Leader.Version,
			"has-leader":   map[bool]string{true: "yes", false: "no"}[s.HasLeader],
			"is-leader":    map[bool]string{true: "leading", false: "following"}[s.IsLeader],
		}
		for f, v := range want {
			if got.fields[f] != v {
				t.Errorf("section %d: %s = %q, want %q", i, f, got.fields[f], v)
			}
		}
		if got.attrs["data-namespace"] != s.Namespace || got.attrs["data-mode"] != s.Mode || got.attrs["data-plugin"] != s.Plugin {
			t.Errorf("section %d: attributes %v, want %s/%s/%q", i, got.attrs, s.Namespace, s.Mode, s.Plugin)
		}
		if len(got.workers) != len(s.Workers) {
			t.Errorf("section %d: %d worker rows, want %d", i, len(got.workers), len(s.Workers))
		}
		for j, w := range s.Workers {
			if j < len(got.workers) && got.workers[j] != w.ID {
				t.Errorf("section %d: worker row %d is %s, want %s", i, j, got.workers[j], w.ID)
			}
		}
		if len(got.plugins) != len(s.Plugins) {
			t.Errorf("section %d: plugin rows %v, want %d", i, got.plugins, len(s.Plugins))
		}
		if s.Metrics != nil && got.metrics["heartbeat_count"] != strconv.FormatUint(s.Metrics.HeartbeatCount, 10) {
			t.Errorf("section %d: heartbeats %q, want %d", i, got.metrics["heartbeat_count"], s.Metrics.HeartbeatCount)
		}
		if s.Metrics != nil && got.metrics["breaker"] != s.Metrics.Breaker {
			t.Errorf("section %d: breaker %q, want %q", i, got.metrics["breaker"], s.Metrics.Breaker)
		}
	}
}

func TestHTMLParsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cluster(t, mem.New(mem.Options{}))
		for _, h := range []*coord.Hub{a, b} {
			handler := coordhttp.New(h, coordhttp.Options{Refresh: 7 * time.Second})
			res := get(t, handler, "/")
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
			p := parseHTML(t, res.Body)
			if p.refresh != "7" {
				t.Errorf("meta refresh %q, want 7", p.refresh)
			}
			checkPage(t, p, getPage(t, handler)) // the same snapshot (MaxAge)
		}
		// The follower's page names the other process as leader.
		p := parseHTML(t, get(t, coordhttp.New(b, coordhttp.Options{Refresh: -1}), "/").Body)
		if p.refresh != "" {
			t.Errorf("Refresh -1: meta refresh %q", p.refresh)
		}
		if len(p.sections) != 1 || p.sections[0].fields["leader"] != "worker-a" || p.sections[0].fields["is-leader"] != "following" {
			t.Errorf("follower page: %+v", p.sections)
		}
	})
}

func TestEmptyHub(t *testing.T) {
	h, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	handler := coordhttp.New(h, coordhttp.Options{})
	if page := getPage(t, handler); len(page.Coordinators) != 0 || page.Coordinators == nil {
		t.Errorf("coordinators %#v, want an empty list", page.Coordinators)
	}
	if !strings.Contains(text(mustParse(t, get(t, handler, "/").Body)), "No coordinator is running") {
		t.Error("empty page does not say that nothing runs")
	}
}

func mustParse(t *testing.T, r io.Reader) *html.Node {
	t.Helper()
	n, err := html.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoutes(t *testing.T) {
	h, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	handler := coordhttp.New(h, coordhttp.Options{})
	if res := get(t, handler, "/nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d", res.StatusCode)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/status.json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /status.json: %d", rec.Code)
	}
	mux := http.NewServeMux()
	mux.Handle("/coord/", http.StripPrefix("/coord", handler))
	if res := get(t, mux, "/coord/status.json"); res.StatusCode != http.StatusOK {
		t.Errorf("mounted under /coord/: %d", res.StatusCode)
	}
}

// counting is a view of an in-memory store that counts the GETs and
// LISTs reaching it and fails them (errDown) while fail is set.
type counting struct {
	*faultstore.Store
	gets, lists atomic.Int64
	fail        atomic.Bool
}

var errDown = errors.New("store down")

func newCounting() *counting {
	c := &counting{Store: faultstore.New(mem.New(mem.Options{}), 0)}
	c.SetHooks(faultstore.Hooks{Before: func(_ context.Context, call faultstore.Call) error {
		switch call.Op {
		case faultstore.OpGet:
			c.gets.Add(1)
		case faultstore.OpList:
			c.lists.Add(1)
		default:
			return nil
		}
		if c.fail.Load() {
			return errDown
		}
		return nil
	}})
	return c
}

func TestSnapshotShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newCounting()
		h, err := coord.NewHub(store, coord.Config{DisableMembership: true})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.GlobalCoordinator(t.Context(), "default"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		handler := coordhttp.New(h, coordhttp.Options{MaxAge: 2 * time.Second, Refresh: -1})
		reads := func() int64 { return store.gets.Load() + store.lists.Load() }
		before := reads()
		first := getPage(t, handler)
		one := reads() - before
		if one != 1 {
			t.Fatalf("one snapshot of a coordinator without plugins or membership read %d times, want 1 GET", one)
		}
		get(t, handler, "/")
		getPage(t, handler)
		if n := reads() - before; n != one {
			t.Errorf("three requests within MaxAge read the store %d times, want %d", n, one)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		before = reads()
		second := getPage(t, handler)
		if reads()-before < 1 || !second.Generated.After(first.Generated) {
			t.Errorf("after MaxAge: %d reads, generated %v then %v", reads()-before, first.Generated, second.Generated)
		}
	})
}

func TestStoreErrorShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newCounting()
		h, err := coord.NewHub(store, coord.Config{WorkerID: "w1"})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.GlobalCoordinator(t.Context(), "default"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		store.fail.Store(true)
		handler := coordhttp.New(h, coordhttp.Options{MaxAge: -1})
		page := getPage(t, handler)
		if len(page.Coordinators) != 1 || !strings.Contains(page.Coordinators[0].Error, errDown.Error()) || page.Coordinators[0].Metrics == nil {
			t.Fatalf("store down: %+v", page.Coordinators)
		}
		p := parseHTML(t, get(t, handler, "/").Body)
		if len(p.sections) != 1 || !strings.Contains(p.sections[0].fields["error"], errDown.Error()) {
			t.Errorf("page does not show the error: %+v", p.sections)
		}
		store.fail.Store(false)
	})
}
