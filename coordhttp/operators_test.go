package coordhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

// TestLivezNeverSaysFailing: through a store outage of the leader /livez
// stays 200 and its body (text and JSON) speaks of the loops only, while
// /healthz is 503 "failing".
func TestLivezNeverSaysFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, va := pair(t)
		h := coordhttp.New(a, coordhttp.Options{})
		va.Partition(a.Config().HeartbeatInterval)
		sawFailing := false
		for range 120 {
			time.Sleep(250 * time.Millisecond)
			synctest.Wait()
			for _, q := range []string{"", "?format=json"} {
				res := get(t, h, "/livez"+q)
				b := body(t, res)
				if res.StatusCode != 200 || strings.Contains(b, "failing") || strings.Contains(b, "store") || strings.Contains(b, "breaker") {
					t.Fatalf("/livez%s during a store outage: %d %q", q, res.StatusCode, b)
				}
			}
			if code, hl := health(t, h, "/healthz"); code == 503 && hl.Status == "failing" {
				sawFailing = true
			}
		}
		if !sawFailing {
			t.Error("/healthz never said failing during the outage")
		}
		va.Heal()
	})
}

// TestNoCoordinatorRunning: with no coordinator /healthz and /readyz are
// 503 and say so; /livez is 200 "idle" (no loop to stall).
func TestNoCoordinatorRunning(t *testing.T) {
	hub, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close(context.Background())
	h := coordhttp.New(hub, coordhttp.Options{})
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/healthz", 503, "none: no coordinator is running"},
		{"/readyz?plugin=queue", 503, "no coordinator is running"},
		{"/livez", 200, "idle: no coordinator is running"},
	} {
		res := get(t, h, c.path)
		if b := body(t, res); res.StatusCode != c.code || !strings.Contains(b, c.says) || strings.HasPrefix(b, "ok") {
			t.Errorf("%s with no coordinator: %d %q, want %d %q", c.path, res.StatusCode, b, c.code, c.says)
		}
	}
}

// TestSecurityHeaders: every answer forbids sniffing and framing, and
// the page's policy allows no script and no request elsewhere.
func TestSecurityHeaders(t *testing.T) {
	hub, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close(context.Background())
	h := coordhttp.New(hub, coordhttp.Options{})
	for _, path := range []string{"/", "/status.json", "/livez", "/healthz", "/readyz?plugin=x", "/nope"} {
		res := get(t, h, path)
		csp := res.Header.Get("Content-Security-Policy")
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
}

// TestTickLabels: the timeline's tick labels are well formed durations,
// equal to their distance from now, at every span.
func TestTickLabels(t *testing.T) {
	hub, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close(context.Background())
	if _, err := hub.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	tick := regexp.MustCompile(`<text class="tick"[^>]*>([^<]*)</text>`)
	form := regexp.MustCompile(`^-([1-9][0-9]*h)?([1-9][0-9]?m)?([1-9][0-9]?s)?$`)
	spans := []time.Duration{time.Second, 4 * time.Second, 10 * time.Second, 40 * time.Second, time.Minute, 90 * time.Second,
		2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, 45 * time.Minute,
		time.Hour, 90 * time.Minute, 2 * time.Hour, 24 * time.Hour, 7*time.Minute + 30*time.Second, 61 * time.Minute}
	for s := time.Second; s <= 3*time.Hour; s = s*3/2 + time.Second {
		spans = append(spans, s)
	}
	for _, span := range spans {
		h := coordhttp.New(hub, coordhttp.Options{Timeline: span})
		ms := tick.FindAllStringSubmatch(body(t, get(t, h, "/")), -1)
		if len(ms) != 5 || ms[4][1] != "now" {
			t.Fatalf("span %v: ticks %v", span, ms)
		}
		for i, m := range ms[:4] {
			exact := span * time.Duration(4-i) / 4
			want, wellFormed := exact.Round(time.Millisecond), true
			if exact >= 10*time.Second {
				want, wellFormed = exact.Round(time.Second), form.MatchString(m[1])
			}
			got, err := time.ParseDuration(strings.TrimPrefix(m[1], "-"))
			if !wellFormed || err != nil || got != want || !strings.HasPrefix(m[1], "-") {
				t.Errorf("span %v: tick %d reads %q, want -%v", span, i, m[1], want)
			}
		}
	}
}

// TestOutagePageAfterRenewDeadline: a leader whose store stopped
// answering, past its renew deadline and with no page read before, shows
// itself as the last known leader and when it was seen leading.
func TestOutagePageAfterRenewDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, va := pair(t)
		h := coordhttp.New(a, coordhttp.Options{MaxAge: -1})
		va.Partition(0)
		cfg := a.Config()
		time.Sleep(cfg.HeartbeatInterval + cfg.RenewDeadline + time.Second)
		synctest.Wait()
		if l, _ := leadingIn(a, "default", "queue"); l {
			t.Fatal("still leading past the renew deadline")
		}
		page := getPage(t, h)
		s := page.Coordinators[0]
		if s.LeaderState != coordhttp.LeaderUnknown || s.LastKnown == nil || s.LastKnown.ID != "worker-a" || s.LastKnown.SeenAt.IsZero() {
			t.Fatalf("outage past the renew deadline: state %q, last known %+v", s.LeaderState, s.LastKnown)
		}
		p := parseHTML(t, get(t, h, "/").Body)
		if lk := p.sections[0].fields["last-known"]; !strings.Contains(lk, "worker-a") || !strings.Contains(lk, "seen leading until") {
			t.Errorf("page: last known %q", lk)
		}
		va.Heal()
	})
}

// TestOutagePageAfterRenewDeadlineInBrowser is the same page in Chromium.
func TestOutagePageAfterRenewDeadlineInBrowser(t *testing.T) {
	bin := browser(t)
	view := faultstore.New(mem.New(mem.Options{}), 0)
	cfg := coord.Config{WorkerID: "browser-w1", HeartbeatInterval: 200 * time.Millisecond, LeaseTimeout: time.Second}
	hub, err := coord.NewHub(view, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		view.Heal()
		_ = hub.Close(context.Background())
	}()
	sub, err := hub.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := sub.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	view.Partition(0)
	for deadline := time.Now().Add(10 * time.Second); isLeading(sub); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still leading 10 s into the outage")
		}
	}
	ts := httptest.NewServer(coordhttp.New(hub, coordhttp.Options{MaxAge: -1, Timeout: time.Second}))
	defer ts.Close()
	srv := ts.URL
	res, err := http.Get(srv + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Security-Policy") == "" {
		t.Error("no Content-Security-Policy")
	}
	p := render(t, bin, srv+"/", "outage-after-deadline")
	s := p.sections[0]
	if s.fields["leader"] != "unknown" || !strings.Contains(s.fields["last-known"], "browser-w1") || !strings.Contains(s.fields["last-known"], "seen leading until") {
		t.Errorf("outage page after the renew deadline: fields %v", s.fields)
	}
}

// TestWorkerCountMatchesListedWorkers: on the leader and the follower,
// status.json's worker_count equals the workers it lists, from the first
// page on (it said 1 beside 3 listed workers).
func TestWorkerCountMatchesListedWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _ := pair(t)
		for _, hub := range []*coord.Hub{a, b} {
			page := getPage(t, coordhttp.New(hub, coordhttp.Options{MaxAge: -1}))
			for _, s := range page.Coordinators {
				if s.Metrics == nil || s.Metrics.WorkerCount != len(s.Workers) || len(s.Workers) != 2 {
					t.Errorf("%s: worker_count %v beside %d listed workers %+v, want 2 and 2", hub.Config().WorkerID, s.Metrics, len(s.Workers), s.Workers)
				}
			}
		}
	})
}
