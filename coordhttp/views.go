package coordhttp

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/storeurl"
)

// Leader states (Status.LeaderState).
const (
	LeaderHeld    = "held"    // the lease names a live holder (HasLeader)
	LeaderNone    = "none"    // the lease was read: nobody holds it
	LeaderUnknown = "unknown" // the lease could not be read (see LastKnown)
)

// LastKnown is the last leader this process knew of when the store
// cannot be read now.
type LastKnown struct {
	ID    string `json:"id"`
	Epoch uint64 `json:"epoch"`
	// SeenAt is when it was known to lead (the Hub's Clock).
	SeenAt time.Time `json:"seen_at"`
	// Source: "self" (this process leads until its renew deadline),
	// "read" (the last status read that succeeded), "history" (the last
	// leader change this process saw, Hub.History: SeenAt is the
	// takeover) or "ended" (that leader was seen leading until SeenAt,
	// when this process stopped knowing of a leader).
	Source string `json:"source"`
}

// StoreInfo describes the store from Options.StoreURL: where coord's
// records live, never how to get in. Credentials cannot appear: a URL
// that carries any (or does not parse) is not shown at all.
type StoreInfo struct {
	Scheme   string `json:"scheme,omitempty"`
	Bucket   string `json:"bucket,omitempty"`
	Prefix   string `json:"prefix,omitempty"`
	Host     string `json:"host,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	Path     string `json:"path,omitempty"`
	// Root is Config.Root: the key prefix of coord's records within the
	// store (after Prefix).
	Root string `json:"root"`
	// Note explains what is not shown ("" when the URL is shown).
	Note string `json:"note,omitempty"`
}

func storeInfo(raw, root string) StoreInfo {
	info := StoreInfo{Root: root}
	if raw == "" {
		info.Note = "not configured (coordhttp.Options.StoreURL)"
		return info
	}
	spec, err := storeurl.Parse(raw)
	if err != nil {
		// Never echo the URL or the parser's message: either may quote a
		// secret put where it does not belong.
		info.Note = "not shown: the configured store URL is not a valid store URL (URLs must not carry credentials)"
		return info
	}
	info.Scheme, info.Bucket, info.Prefix, info.Host = spec.Scheme, spec.Bucket, spec.Prefix, spec.Host
	info.Endpoint, info.Region, info.Path = spec.Endpoint, spec.Region, spec.Path
	return info
}

// Settings are the Hub's settings in force (coord.Hub.Config).
type Settings struct {
	HeartbeatIntervalSeconds float64           `json:"heartbeat_interval_seconds"`
	HeartbeatJitterSeconds   float64           `json:"heartbeat_jitter_seconds"`
	LeaseTimeoutSeconds      float64           `json:"lease_timeout_seconds"`
	RenewDeadlineSeconds     float64           `json:"renew_deadline_seconds"`
	WorkerTimeoutSeconds     float64           `json:"worker_timeout_seconds"`
	HeartbeatBoundSeconds    float64           `json:"heartbeat_bound_seconds"`
	DisableMembership        bool              `json:"disable_membership"`
	SkipStoreCheck           bool              `json:"skip_store_check"`
	Diagnostics              bool              `json:"diagnostics"`
	Root                     string            `json:"root"`
	WorkerID                 string            `json:"worker_id,omitempty"`
	WorkerMeta               map[string]string `json:"worker_meta,omitempty"`
}

func settings(cfg coord.Config) Settings {
	return Settings{
		HeartbeatIntervalSeconds: cfg.HeartbeatInterval.Seconds(), HeartbeatJitterSeconds: cfg.HeartbeatJitter.Seconds(),
		LeaseTimeoutSeconds: cfg.LeaseTimeout.Seconds(), RenewDeadlineSeconds: cfg.RenewDeadline.Seconds(),
		WorkerTimeoutSeconds: cfg.WorkerTimeout.Seconds(), HeartbeatBoundSeconds: HeartbeatBound(cfg).Seconds(),
		DisableMembership: cfg.DisableMembership, SkipStoreCheck: cfg.SkipStoreCheck, Diagnostics: cfg.Diagnostics,
		Root: cfg.Root, WorkerID: cfg.WorkerID, WorkerMeta: cfg.WorkerMeta,
	}
}

// PluginView is one plugin subscribed in this process: who leads it as
// far as this process knows (from its own leadership and the records it
// reads anyway; no request), and since when.
type PluginView struct {
	Namespace string `json:"namespace"`
	Plugin    string `json:"plugin"`
	Mode      string `json:"mode"`
	FellBack  bool   `json:"fell_back,omitempty"`
	// LeadingHere: this process leads the plugin now.
	LeadingHere bool `json:"leading_here"`
	// Holder is the leader's worker id ("" when none is known).
	Holder string `json:"holder"`
	Epoch  uint64 `json:"epoch"`
	// Since is when this process saw the holder take over (nil: not seen
	// in the kept history).
	Since *time.Time `json:"since,omitempty"`
}

// Change is one leadership change of a plugin (coord.HistoryEntry).
type Change struct {
	At        time.Time `json:"at"`
	Namespace string    `json:"namespace"`
	Plugin    string    `json:"plugin"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Epoch     uint64    `json:"epoch"`
	Self      bool      `json:"self,omitempty"`
}

func pluginViews(hub *coord.Hub, hist []coord.HistoryEntry, self func(ns string) string) []PluginView {
	out := []PluginView{}
	for _, s := range hub.Subscriptions() {
		m := s.Metrics()
		term, leading := s.Term()
		v := PluginView{Namespace: s.Namespace(), Plugin: s.Name(), Mode: string(m.Mode), FellBack: m.FallbackActive, LeadingHere: leading}
		for i := len(hist) - 1; i >= 0; i-- {
			e := hist[i]
			if e.Namespace == s.Namespace() && e.Plugin == s.Name() {
				v.Holder, v.Epoch = e.To, e.Epoch
				at := e.At
				v.Since = &at
				break
			}
		}
		if leading {
			if id := self(s.Namespace()); v.Holder != id {
				v.Holder, v.Since = id, nil
			}
			v.Epoch = term.Epoch
		}
		out = append(out, v)
	}
	return out
}

func changes(hist []coord.HistoryEntry) []Change {
	out := make([]Change, 0, len(hist))
	for _, e := range hist {
		out = append(out, Change{At: e.At, Namespace: e.Namespace, Plugin: e.Plugin, From: e.From, To: e.To, Epoch: e.Epoch, Self: e.Self})
	}
	return out
}

// lastFromHistory is the last leader seen, in the history, of any plugin
// that coordinator c runs (its namespace's in Global mode): "history",
// seen from its takeover on, or "ended", seen leading until a later
// entry said no leader was known (a leader that stopped at its renew
// deadline, say).
func lastFromHistory(c *coord.Coordinator, hist []coord.HistoryEntry) (LastKnown, bool) {
	m := c.Metrics()
	var after *coord.HistoryEntry // the entry after the one looked at
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		if e.Namespace != m.Namespace || (m.Mode != coord.Global && e.Plugin != m.Plugin) {
			continue
		}
		if e.To != "" {
			if after != nil && after.To == "" {
				return LastKnown{ID: e.To, Epoch: e.Epoch, SeenAt: after.At, Source: "ended"}, true
			}
			return LastKnown{ID: e.To, Epoch: e.Epoch, SeenAt: e.At, Source: "history"}, true
		}
		after = &hist[i]
	}
	return LastKnown{}, false
}

func coordKey(c *coord.Coordinator) string {
	m := c.Metrics()
	return string(m.Mode) + "\x00" + m.Namespace + "\x00" + m.Plugin
}

// Timeline is the SVG drawing of a Page's history: one row per plugin,
// one bar per holder.
type Timeline struct {
	Width, Height int
	Rows          []TimelineRow
	Ticks         []TimelineTick
	Start, End    time.Time
}

// TimelineRow is one plugin's row.
type TimelineRow struct {
	Label string
	Y     int
	Bars  []TimelineBar
}

// TimelineBar is one holder's time.
type TimelineBar struct {
	X, Width            int
	Holder              string // "" for no leader
	Epoch               uint64
	Self                bool
	Color, Title, Label string
}

// TimelineTick is a time mark on the axis.
type TimelineTick struct {
	X     int
	Label string
}

const (
	timelineLabelWidth = 170
	timelineBarsWidth  = 620
	timelineRowHeight  = 26
)

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f"}

// timeline draws the changes of the plugins in views over [end-window, end].
func timeline(views []PluginView, hist []Change, end time.Time, window time.Duration) Timeline {
	start := end.Add(-window)
	tl := Timeline{Width: timelineLabelWidth + timelineBarsWidth + 10, Start: start, End: end}
	x := func(t time.Time) int {
		f := float64(t.Sub(start)) / float64(window)
		return timelineLabelWidth + int(max(0, min(1, f))*timelineBarsWidth)
	}
	var holders []string
	for _, e := range hist {
		if e.To != "" && !slices.Contains(holders, e.To) {
			holders = append(holders, e.To)
		}
	}
	slices.Sort(holders)
	color := func(id string) string {
		if id == "" {
			return "#e8e8e8"
		}
		return palette[slices.Index(holders, id)%len(palette)]
	}
	for i, v := range views {
		row := TimelineRow{Label: v.Namespace + " / " + v.Plugin, Y: 8 + i*timelineRowHeight}
		var es []Change
		for _, e := range hist {
			if e.Namespace == v.Namespace && e.Plugin == v.Plugin {
				es = append(es, e)
			}
		}
		for j, e := range es {
			to := end
			if j+1 < len(es) {
				to = es[j+1].At
			}
			if !to.After(start) {
				continue
			}
			from := e.At
			if from.Before(start) {
				from = start
			}
			b := TimelineBar{X: x(from), Holder: e.To, Epoch: e.Epoch, Self: e.Self, Color: color(e.To)}
			b.Width = max(2, x(to)-b.X)
			who := e.To
			if who == "" {
				who = "no leader"
			}
			b.Title = who + " from " + clockText(e.At) + " until " + clockText(to)
			if e.To != "" {
				b.Title += " (epoch " + uitoa(e.Epoch) + ")"
			}
			if b.Width > 8*len(who)+10 {
				b.Label = who
			}
			row.Bars = append(row.Bars, b)
		}
		tl.Rows = append(tl.Rows, row)
	}
	tl.Height = 8 + len(views)*timelineRowHeight + 22
	for i := range 5 {
		at := start.Add(window * time.Duration(i) / 4)
		label := "-" + shortDuration(end.Sub(at))
		if i == 4 {
			label = "now"
		}
		tl.Ticks = append(tl.Ticks, TimelineTick{X: x(at), Label: label})
	}
	return tl
}

func uitoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// shortDuration renders a tick's distance from now: "250ms", "2.5s",
// "45s", "7m30s", "15m", "1h", "1h30m".
func shortDuration(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	d = d.Round(time.Second)
	h, m, sec := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	var b strings.Builder
	if h > 0 {
		b.WriteString(uitoa(uint64(h)) + "h")
	}
	if m > 0 {
		b.WriteString(uitoa(uint64(m)) + "m")
	}
	if sec > 0 {
		b.WriteString(uitoa(uint64(sec)) + "s")
	}
	return b.String()
}

// sortViews orders plugin views by namespace and plugin.
func sortViews(vs []PluginView) {
	slices.SortFunc(vs, func(a, b PluginView) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Plugin, b.Plugin))
	})
}
