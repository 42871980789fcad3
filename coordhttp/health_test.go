package coordhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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

// pair starts two processes, each on its own fault-injecting view of one
// store, both using "queue" (Global); a starts first and leads.
func pair(t *testing.T) (a, b *coord.Hub, va *faultstore.Store) {
	t.Helper()
	store := mem.New(mem.Options{})
	open := func(id string, seed uint64) (*coord.Hub, *faultstore.Store) {
		view := faultstore.New(store, seed)
		h, err := coord.NewHub(view, coord.Config{WorkerID: id, RandSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			view.Partition(0)
			_ = h.Close(context.Background())
		})
		if _, err := h.Use(t.Context(), "queue", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
		return h, view
	}
	a, va = open("worker-a", 1)
	waitLeading(t, a, "queue", time.Minute)
	b, _ = open("worker-b", 2)
	time.Sleep(10 * time.Second)
	synctest.Wait()
	return a, b, va
}

// waitLeading advances virtual time until hub leads plugin.
func waitLeading(t *testing.T, hub *coord.Hub, name string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if l, _ := leadingIn(hub, "default", name); l {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s does not lead %s within %v", hub.Config().WorkerID, name, limit)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
	}
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func health(t *testing.T, h http.Handler, path string) (int, coordhttp.Health) {
	t.Helper()
	res := get(t, h, path+"?format=json")
	var hl coordhttp.Health
	if err := json.NewDecoder(res.Body).Decode(&hl); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, hl
}

func TestHealthAndReadiness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _ := pair(t)
		ha, hb := coordhttp.New(a, coordhttp.Options{}), coordhttp.New(b, coordhttp.Options{})
		for _, h := range []http.Handler{ha, hb} {
			for _, path := range []string{"/healthz", "/livez"} {
				res := get(t, h, path)
				if txt := body(t, res); res.StatusCode != http.StatusOK || !strings.HasPrefix(txt, "ok: ") {
					t.Errorf("%s: %d %q", path, res.StatusCode, txt)
				}
			}
		}
		code, hl := health(t, ha, "/healthz")
		if code != 200 || hl.Status != "ok" || hl.StoreCheck != "passed" || len(hl.Coordinators) != 1 || !hl.Coordinators[0].Leading ||
			!hl.Coordinators[0].Alive || !hl.Coordinators[0].StoreOK || hl.Coordinators[0].StepsDownInSeconds == nil {
			t.Errorf("healthz JSON: %d %+v", code, hl)
		}
		cases := []struct {
			h    http.Handler
			path string
			code int
			text string
		}{
			{ha, "/readyz?plugin=queue", 200, "leading default/queue (epoch 1)"},
			{ha, "/readyz?plugin=queue&namespace=default", 200, "leading"},
			{hb, "/readyz?plugin=queue", 503, "standby"},
			{ha, "/readyz?plugin=nope", 404, "not subscribed"},
			{ha, "/readyz?plugin=queue&namespace=other", 404, "not subscribed"},
			{ha, "/readyz", 400, "needs ?plugin=NAME"},
			{coordhttp.Ready(a, "", "queue"), "/", 200, "leading"},
			{coordhttp.Ready(b, "default", "queue"), "/", 503, "standby"},
		}
		for _, c := range cases {
			res := get(t, c.h, c.path)
			if txt := body(t, res); res.StatusCode != c.code || !strings.Contains(txt, c.text) {
				t.Errorf("%s: %d %q, want %d %q", c.path, res.StatusCode, txt, c.code, c.text)
			}
		}
	})
}

// TestHealthDuringOutage: the leader's store hangs (every request is
// accepted and never answered) or is partitioned. /livez stays 200 all
// along (the loop keeps heartbeating within its bound: restarting would
// not cure the store); /healthz says "failing" from the first failed
// request, never "ok" while the leader cannot renew; /readyz turns 503
// by the renew deadline, and the other process becomes ready. Once the
// store answers again /healthz is 200 again.
func TestHealthDuringOutage(t *testing.T) {
	for _, fault := range []string{"hang", "partition"} {
		t.Run(fault, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, va := pair(t)
				ha, hb := coordhttp.New(a, coordhttp.Options{}), coordhttp.New(b, coordhttp.Options{})
				cfg := a.Config()
				c := a.Coordinators()[0]
				renewed := c.Metrics().RenewedAt
				start := time.Now()
				if fault == "hang" {
					va.Set(faultstore.Faults{HangRate: 1})
				} else {
					va.Partition(cfg.HeartbeatInterval)
				}
				var failingAt, unreadyAt time.Duration
				for time.Since(start) < 2*time.Minute {
					time.Sleep(250 * time.Millisecond)
					synctest.Wait()
					now := time.Since(start)
					if code, hl := health(t, ha, "/livez"); code != 200 || !hl.Coordinators[0].Alive {
						t.Fatalf("%v into the outage: /livez %d %+v", now, code, hl)
					}
					code, hl := health(t, ha, "/healthz")
					lh := c.Metrics()
					if lh.ConsecutiveFailures > 0 && (code != 503 || hl.Status != "failing") {
						t.Fatalf("%v: %d failed requests but /healthz %d %q", now, lh.ConsecutiveFailures, code, hl.Status)
					}
					if code == 503 && failingAt == 0 {
						failingAt = now
						if !strings.Contains(hl.Summary, "store is failing") || hl.Coordinators[0].StoreOK {
							t.Errorf("failing: %+v", hl)
						}
					}
					if failingAt > 0 && code != 503 {
						t.Fatalf("%v: /healthz %d %q after failing at %v, store still down", now, code, hl.Summary, failingAt)
					}
					if res := get(t, ha, "/readyz?plugin=queue"); res.StatusCode == 503 && unreadyAt == 0 {
						unreadyAt = now
					} else if unreadyAt > 0 && res.StatusCode != 503 {
						t.Fatalf("%v: /readyz %d after it went 503", now, res.StatusCode)
					}
				}
				// The first renewal after the fault fails after at most
				// interval + jitter + a request timeout.
				if limit := 2*cfg.HeartbeatInterval + cfg.HeartbeatJitter; failingAt == 0 || failingAt > limit {
					t.Errorf("/healthz failing after %v, want within %v", failingAt, limit)
				}
				deadline := renewed.Add(cfg.RenewDeadline).Sub(start)
				if unreadyAt == 0 || unreadyAt > deadline+250*time.Millisecond {
					t.Errorf("/readyz 503 after %v, want by the renew deadline (%v)", unreadyAt, deadline)
				}
				if res := get(t, hb, "/readyz?plugin=queue"); res.StatusCode != 200 {
					t.Errorf("the other process: /readyz %d after 2 minutes", res.StatusCode)
				}
				t.Logf("%s: /healthz failing after %v, /readyz 503 after %v (renew deadline %v)", fault, failingAt, unreadyAt, deadline)

				va.Set(faultstore.Faults{})
				va.Heal()
				healed := time.Now()
				for {
					time.Sleep(250 * time.Millisecond)
					synctest.Wait()
					if code, _ := health(t, ha, "/healthz"); code == 200 {
						break
					}
					if time.Since(healed) > time.Minute {
						t.Fatal("/healthz not 200 within a minute of healing")
					}
				}
			})
		})
	}
}

// TestLivezStalled: a loop that stopped is reported once it is past its
// bound, by /livez and /healthz alike.
func TestLivezStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _, _ := pair(t)
		h := coordhttp.New(a, coordhttp.Options{})
		cs := a.Coordinators()
		if err := a.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(a.Coordinators()) != len(cs) {
			t.Skip("a closed Hub no longer lists its coordinators")
		}
		bound := coordhttp.HeartbeatBound(a.Config())
		time.Sleep(bound + time.Second)
		synctest.Wait()
		for _, path := range []string{"/livez", "/healthz"} {
			code, hl := health(t, h, path)
			if code != 503 || hl.Status != "stalled" || hl.Coordinators[0].Alive || !strings.Contains(hl.Coordinators[0].Problem, "loop stalled") {
				t.Errorf("%s after Close: %d %+v", path, code, hl)
			}
		}
		if res := get(t, h, "/readyz?plugin=queue"); res.StatusCode == 200 {
			t.Errorf("/readyz %d after Close", res.StatusCode)
		}
	})
}

func TestHeartbeatBound(t *testing.T) {
	if got := coordhttp.HeartbeatBound(coord.DefaultConfig()); got != 16*time.Second {
		t.Errorf("default bound %v, want 16s", got)
	}
}

// isLeading reports whether this process leads s's plugin now.
func isLeading(s *coord.Subscription) bool {
	_, ok := s.Term()
	return ok
}

// leadingIn reports whether h's process leads the plugin name of
// namespace now, and whether h subscribes it.
func leadingIn(h *coord.Hub, namespace, name string) (leading, subscribed bool) {
	for _, s := range h.Subscriptions() {
		if s.Namespace() == namespace && s.Name() == name {
			return isLeading(s), true
		}
	}
	return false, false
}
