// Package coordhttp serves the status of a coord.Hub over HTTP: every
// coordinator's election (leader, epoch, lease age, workers, subscribed
// plugins, mode, metrics) as JSON at status.json, and the same data as a
// small self-contained HTML page (no scripts, auto-refreshing) at the
// handler's root.
//
//	http.Handle("/coord/", http.StripPrefix("/coord", coordhttp.New(hub, coordhttp.Options{})))
//
// Unlike the Prometheus collector, a status read costs storage requests:
// per coordinator one GET of its lease, one LIST of its workers and one
// GET per subscribed plugin. Results are therefore shared for
// Options.MaxAge between requests, so a page left open by several people
// does not multiply the bill.
package coordhttp

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord"
)

// Defaults of Options.
const (
	DefaultRefresh = 10 * time.Second
	DefaultTimeout = 5 * time.Second
	DefaultMaxAge  = 2 * time.Second
)

// Options configure a Handler. The zero value is valid.
type Options struct {
	// Refresh is the HTML page's auto-refresh period (a meta refresh).
	// Default DefaultRefresh; negative: no auto-refresh.
	Refresh time.Duration
	// Timeout bounds the storage reads of one status snapshot. Default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxAge is how long a snapshot is served before the store is read
	// again. Default DefaultMaxAge; negative: read on every request.
	MaxAge time.Duration
	// StoreURL is the store's URL (storeurl), shown as its scheme,
	// bucket, prefix, host or endpoint and region. A URL that carries
	// credentials, or does not parse, is never shown. Empty: the page
	// says the store is not configured.
	StoreURL string
	// Timeline is the span of the leadership timeline. Default
	// DefaultTimeline.
	Timeline time.Duration
}

// DefaultTimeline is the default span of the page's leadership timeline.
const DefaultTimeline = 15 * time.Minute

// Page is the document served at status.json.
type Page struct {
	// Generated is when the snapshot was read (this process's clock).
	Generated time.Time `json:"generated"`
	// Coordinators: one entry per running coordinator of the Hub, the
	// namespace ones first, then per-plugin ones, each group in order of
	// namespace and plugin.
	Coordinators []Status `json:"coordinators"`
	// Store is where the records live (Options.StoreURL), never
	// credentials; Settings the Hub's settings in force; StoreCheck the
	// Hub's store check (coord.Hub.StoreCheck).
	Store      StoreInfo `json:"store"`
	Settings   Settings  `json:"settings"`
	StoreCheck string    `json:"store_check"`
	// Plugins are the plugins subscribed in this process with their
	// holders, and History the last leadership changes this process saw
	// (coord.Hub.History): both from memory, no storage request.
	Plugins []PluginView `json:"plugins"`
	History []Change     `json:"history"`
}

// Handler serves a Hub's status. Create it with New.
type Handler struct {
	hub  *coord.Hub
	opts Options
	mux  *http.ServeMux

	mu   sync.Mutex // held while reading, so concurrent requests share one read
	page *Page
	// good is, per coordinator, the leader of its last successful read.
	good map[string]LastKnown
}

// New returns a Handler over hub. It serves GET / (HTML), GET
// /status.json (JSON) and the health endpoints GET /livez, /healthz and
// /readyz (see Health, Ready) relative to where it is mounted; mount it
// with http.StripPrefix under a path ending in "/".
func New(hub *coord.Hub, opts Options) *Handler {
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Timeline <= 0 {
		opts.Timeline = DefaultTimeline
	}
	h := &Handler{hub: hub, opts: opts, mux: http.NewServeMux(), good: map[string]LastKnown{}}
	h.mux.HandleFunc("GET /{$}", h.serveHTML)
	h.mux.HandleFunc("GET /status.json", h.serveJSON)
	h.mux.HandleFunc("GET /healthz", h.serveHealth(false))
	h.mux.HandleFunc("GET /livez", h.serveHealth(true))
	h.mux.HandleFunc("GET /readyz", h.serveReadyz)
	return h
}

// securityHeaders are sent with every answer: no content sniffing, no
// framing, no script, no request elsewhere. The page's inline <style> and
// the SVG's presentation attributes are all it needs.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	h.mux.ServeHTTP(w, r)
}

// Snapshot returns the current status of every coordinator, reading the
// store unless a snapshot younger than Options.MaxAge exists. A
// coordinator whose status cannot be read has Status.Error set; Snapshot
// itself does not fail.
func (h *Handler) Snapshot(ctx context.Context) Page {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.page != nil && h.opts.MaxAge > 0 && time.Since(h.page.Generated) < h.opts.MaxAge {
		return *h.page
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	cfg := h.hub.Config()
	hist := h.hub.History()
	check, _ := h.hub.StoreCheck()
	page := Page{
		Generated: time.Now(), Coordinators: []Status{},
		Store: storeInfo(h.opts.StoreURL, cfg.Root), Settings: settings(cfg), StoreCheck: string(check),
		History: changes(hist),
	}
	selfID := map[string]string{}
	for _, c := range sortCoordinators(h.hub.Coordinators()) {
		m := c.Metrics()
		selfID[m.Namespace] = m.WorkerID
		st, err := c.Status(ctx)
		s := FromStatus(st)
		now := cfg.Clock.Now()
		if err != nil {
			s.Error = err.Error()
			if s.Metrics == nil { // Status gives up before filling metrics
				m := fromMetrics(c.Metrics())
				s.Metrics = &m
			}
			s.WorkersUnknown = !cfg.DisableMembership && st.ServerTime.IsZero()
			if st.Leader.Version == "" && st.Leader.Corrupt == nil { // the lease itself was not read
				s.LeaderState, s.HasLeader = LeaderUnknown, false
				s.LastKnown = h.lastKnown(c, hist, now)
			}
		} else if s.HasLeader {
			h.good[coordKey(c)] = LastKnown{ID: s.Leader.ID, Epoch: s.Leader.Epoch, SeenAt: now, Source: "read"}
		} else {
			delete(h.good, coordKey(c))
		}
		page.Coordinators = append(page.Coordinators, s)
	}
	page.Plugins = pluginViews(h.hub, hist, func(ns string) string {
		if id, ok := selfID[ns]; ok {
			return id
		}
		return cfg.WorkerID
	})
	sortViews(page.Plugins)
	if ctx.Err() == nil { // a page cut short by the caller is not shared
		h.page = &page
	}
	return page
}

// lastKnown is who led coordinator c's election when last known: this
// process if it leads now (until its renew deadline), else the later of
// the last successful read and the last change in the history.
func (h *Handler) lastKnown(c *coord.Coordinator, hist []coord.HistoryEntry, now time.Time) *LastKnown {
	if m := c.Metrics(); m.IsLeader {
		return &LastKnown{ID: m.WorkerID, Epoch: m.Epoch, SeenAt: now, Source: "self"}
	}
	lk, ok := h.good[coordKey(c)]
	if e, found := lastFromHistory(c, hist); found && (!ok || e.SeenAt.After(lk.SeenAt)) {
		lk, ok = e, true
	}
	if !ok {
		return nil
	}
	return &lk
}

// sortCoordinators orders namespace coordinators first, then per-plugin
// ones, each by namespace and plugin.
func sortCoordinators(cs []*coord.Coordinator) []*coord.Coordinator {
	rank := func(m coord.Metrics) int {
		if m.Mode == coord.Global {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(cs, func(a, b *coord.Coordinator) int {
		ma, mb := a.Metrics(), b.Metrics()
		return cmp.Or(cmp.Compare(rank(ma), rank(mb)), strings.Compare(ma.Namespace, mb.Namespace), strings.Compare(ma.Plugin, mb.Plugin))
	})
	return cs
}

func (h *Handler) serveJSON(w http.ResponseWriter, r *http.Request) {
	page := h.Snapshot(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(page) // a failed write means the client left
}

//go:embed page.html
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"seconds": formatSeconds,
	"clock":   clockText,
	"ago": func(now time.Time, t any) string {
		var at time.Time
		switch t := t.(type) {
		case time.Time:
			at = t
		case *time.Time:
			if t == nil {
				return ""
			}
			at = *t
		}
		return formatSeconds(max(0, now.Sub(at)).Seconds()) + " ago"
	},
	"add": func(a, b int) int { return a + b },
	"yesno": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"title": func(s Status) string {
		if s.Plugin != "" {
			return s.Namespace + " / " + s.Plugin
		}
		return s.Namespace
	},
}).Parse(pageSource))

type pageData struct {
	Page
	Refresh  int // seconds; 0: none
	Timeline Timeline
	Now      time.Time // the Hub's Clock
	Outage   bool      // some coordinator's status could not be read
	// TimelineSeconds is the timeline's span.
	TimelineSeconds float64
}

func (h *Handler) serveHTML(w http.ResponseWriter, r *http.Request) {
	data := pageData{Page: h.Snapshot(r.Context()), Now: h.hub.Config().Clock.Now()}
	data.Timeline = timeline(data.Plugins, data.History, data.Now, h.opts.Timeline)
	data.TimelineSeconds = h.opts.Timeline.Seconds()
	for _, c := range data.Coordinators {
		data.Outage = data.Outage || c.Error != ""
	}
	if h.opts.Refresh > 0 {
		data.Refresh = max(1, int(h.opts.Refresh.Round(time.Second)/time.Second))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, data); err != nil {
		// Headers are gone; all that is left is to stop writing.
		return
	}
}

// clockText renders a time.Time or *time.Time in UTC.
func clockText(v any) string {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case *time.Time:
		if v == nil {
			return ""
		}
		t = *v
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 MST")
}

// formatSeconds renders a duration in seconds for people: "850ms",
// "4.2s", "3m05s".
func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
