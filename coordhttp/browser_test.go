package coordhttp_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
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
	handler := coordhttp.New(h, coordhttp.Options{MaxAge: time.Minute}) // JSON and page: one snapshot
	srv := httptest.NewServer(handler)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--dump-dom", srv.URL+"/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	t.Logf("chromium rendered the page in %v", time.Since(start).Round(time.Millisecond))
	p := parseHTML(t, &stdout)
	page := getPage(t, handler)
	checkPage(t, p, page)
	if len(p.sections) != 1 || p.sections[0].fields["leader"] != "browser-w1" || p.sections[0].fields["is-leader"] != "leading" ||
		len(p.sections[0].plugins) != 1 {
		t.Errorf("rendered: %+v", p.sections)
	}
}
