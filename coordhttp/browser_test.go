package coordhttp_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

// browser finds a headless-capable Chromium (Debian package: chromium;
// COORD_TEST_BROWSER names another binary). Without one the test skips,
// unless COORD_REQUIRE_BROWSER is set (CI machines that install it).
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("COORD_TEST_BROWSER"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("COORD_REQUIRE_BROWSER") != "" {
		t.Fatal("COORD_REQUIRE_BROWSER is set but no chromium is on PATH (Debian: apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium); the page is still checked with an HTML parser")
	return ""
}

// TestPageInBrowser renders the page of a running hub in headless
// Chromium and reads the DOM it built. Real time: a browser is a separate
// process.
func TestPageInBrowser(t *testing.T) {
	bin := browser(t)
	h, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{WorkerID: "browser-w1"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	led := make(chan struct{})
	if _, err := h.Use(t.Context(), "queue", &plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
		close(led)
		<-ctx.Done()
		return nil
	}}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-led:
	case <-time.After(10 * time.Second):
		t.Fatal("no leadership within 10s")
	}
	handler := coordhttp.New(h, coordhttp.Options{MaxAge: time.Minute, StoreURL: "s3://my-bucket/coord?region=eu-west-1"}) // JSON and page: one snapshot
	srv := httptest.NewServer(handler)
	defer srv.Close()

	p := render(t, bin, srv.URL+"/", "normal")
	page := getPage(t, handler)
	checkPage(t, p, page)
	if len(p.sections) != 1 || p.sections[0].fields["leader"] != "browser-w1" || p.sections[0].fields["is-leader"] != "leading" ||
		len(p.sections[0].plugins) != 1 {
		t.Errorf("rendered: %+v", p.sections)
	}
	if p.store["bucket"] != "my-bucket" || p.settings["lease_timeout"] != "15s" || p.plugins["default/queue"]["holder"] != "browser-w1" ||
		len(p.bars) != 1 || p.bars[0].holder != "browser-w1" || p.outage != "" {
		t.Errorf("rendered: store %v, settings %v, plugins %v, timeline %+v, banner %q", p.store, p.settings, p.plugins, p.bars, p.outage)
	}
}

// TestOutagePageInBrowser renders the page of a leader whose store has
// stopped answering: the leader is "unknown" with the last known one.
func TestOutagePageInBrowser(t *testing.T) {
	bin := browser(t)
	store := newCounting()
	h, err := coord.NewHub(store, coord.Config{WorkerID: "browser-w1"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	sub, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := sub.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	handler := coordhttp.New(h, coordhttp.Options{MaxAge: -1, StoreURL: "s3://my-bucket/coord?region=eu-west-1"})
	getPage(t, handler) // one good read
	store.fail.Store(true)
	defer store.fail.Store(false)
	srv := httptest.NewServer(handler)
	defer srv.Close()
	p := render(t, bin, srv.URL+"/", "outage")
	if len(p.sections) != 1 {
		t.Fatalf("rendered %d sections", len(p.sections))
	}
	s := p.sections[0]
	if s.fields["leader"] != "unknown" || s.fields["epoch"] != "unknown" || s.fields["worker-count"] != "unknown" ||
		!strings.Contains(s.fields["last-known"], "browser-w1") || !strings.Contains(p.outage, "unknown") || !strings.Contains(s.fields["error"], errDown.Error()) {
		t.Errorf("outage page: fields %v, banner %q", s.fields, p.outage)
	}
}

// render loads url in headless Chromium, returns the DOM it built, and
// saves a screenshot under $COORD_SCREENSHOT_DIR (when set) as name.png.
func render(t *testing.T, bin, url, name string) parsedPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"}
	cmd := exec.CommandContext(ctx, bin, append(flags, "--user-data-dir="+t.TempDir(), "--dump-dom", url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	t.Logf("chromium rendered the %s page in %v", name, time.Since(start).Round(time.Millisecond))
	if dir := os.Getenv("COORD_SCREENSHOT_DIR"); dir != "" {
		shot := filepath.Join(dir, name+".png")
		cmd := exec.CommandContext(ctx, bin, append(flags, "--user-data-dir="+t.TempDir(), "--window-size=1000,1300", "--screenshot="+shot, url)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("screenshot: %v\n%s", err, out)
		}
	}
	return parseHTML(t, &stdout)
}
