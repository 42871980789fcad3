package coordhttp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/plugin"
)

// Health endpoints. None sends a storage request: they read what the
// engine keeps in memory (coord.Coordinator.Health, coord.Hub.StoreCheck,
// coord.Hub.Leading), so a probe every second costs nothing on the bill
// and answers during an outage.
//
//	/livez             200 while every coordinator's loop runs (ends a heartbeat cycle within HeartbeatBound), 503 "stalled" otherwise;
//	                   it says nothing of the store ("idle", 200, when no coordinator runs: there is no loop to stall)
//	/healthz           200 while every loop runs and the store answers; 503 otherwise, saying which,
//	                   and 503 "none" while no coordinator runs (nothing to be healthy)
//	/readyz?plugin=P   200 while this process leads plugin P (&namespace=N; default "default"), else 503
//	                   (404: P is not subscribed here, while other coordinators run)
//
// The split is deliberate. A store outage is not cured by restarting the
// process, so /livez (the Kubernetes liveness probe) stays 200 while the
// loop keeps trying; /healthz (monitoring, load balancers that should
// avoid a degraded instance) turns 503 at the first failed request, so
// that an operator is never told "ok" while the leader cannot renew.

// HeartbeatBound is the longest time a running loop goes without ending a
// heartbeat cycle, whatever the store does: the next cycle starts within
// HeartbeatInterval + HeartbeatJitter of the last (an open circuit
// breaker waits at most HeartbeatInterval/2 + HeartbeatInterval), and a
// cycle sends at most two requests in a row, each bounded by
// HeartbeatInterval. Defaults: 3 × 5s + 1s = 16s.
func HeartbeatBound(cfg coord.Config) time.Duration {
	return 3*cfg.HeartbeatInterval + cfg.HeartbeatJitter
}

// Health is the document of /healthz and /livez (JSON with ?format=json).
type Health struct {
	// Status is "ok", "failing" (every loop runs, but the store fails or
	// is unsafe: this process cannot lead, or cannot keep leading),
	// "stalled" (a loop has not ended a heartbeat cycle within its bound)
	// or "none" (no coordinator runs in this process).
	Status string `json:"status"`
	// Summary is Status in a sentence.
	Summary string `json:"summary"`
	// StoreCheck is the Hub's store check: pending, passed, skipped,
	// unsafe or failed (see coord.StoreCheckState).
	StoreCheck   string       `json:"store_check"`
	Coordinators []LoopHealth `json:"coordinators"`
}

// LoopHealth is one coordinator's part of Health.
type LoopHealth struct {
	Namespace string `json:"namespace"`
	Plugin    string `json:"plugin,omitempty"`
	Mode      string `json:"mode"`
	// Alive: the loop ended a heartbeat cycle within BoundSeconds.
	Alive                   bool     `json:"alive"`
	LastHeartbeatAgeSeconds *float64 `json:"last_heartbeat_age_seconds,omitempty"`
	BoundSeconds            float64  `json:"bound_seconds"`
	// StoreOK: no request has failed since the last that succeeded, and
	// the circuit breaker is closed.
	StoreOK             bool   `json:"store_ok"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	Breaker             string `json:"breaker"`
	Leading             bool   `json:"leading"`
	// RenewedAgoSeconds and StepsDownInSeconds: while leading, the age
	// of the last successful renewal and the time left before the renew
	// deadline.
	RenewedAgoSeconds  *float64 `json:"renewed_ago_seconds,omitempty"`
	StepsDownInSeconds *float64 `json:"steps_down_in_seconds,omitempty"`
	// Problem says what is wrong ("" when nothing is).
	Problem string `json:"problem,omitempty"`
}

// Health judges every coordinator of the Hub now (no storage request).
func (h *Handler) Health() Health { return CheckHealth(h.hub) }

// CheckHealth judges every coordinator of hub now (no storage request).
func CheckHealth(hub *coord.Hub) Health {
	cfg := hub.Config()
	now := cfg.Clock.Now()
	bound := HeartbeatBound(cfg)
	sc, _ := hub.StoreCheck()
	out := Health{Status: "ok", StoreCheck: string(sc), Coordinators: []LoopHealth{}}
	var stalled, failing []string
	if sc == coord.StoreCheckUnsafe {
		failing = append(failing, "the store does not honour conditional writes (unsafe store): nothing leads on it")
	}
	for _, c := range sortCoordinators(hub.Coordinators()) {
		lh := c.Metrics()
		l := LoopHealth{
			Namespace: lh.Namespace, Plugin: lh.Plugin, Mode: string(lh.Mode), BoundSeconds: bound.Seconds(),
			ConsecutiveFailures: lh.ConsecutiveFailures, Breaker: lh.Breaker, Leading: lh.IsLeader,
			StoreOK: lh.ConsecutiveFailures == 0 && lh.Breaker == "closed",
		}
		name := lh.Namespace
		if lh.Plugin != "" {
			name += "/" + lh.Plugin
		}
		var problems []string
		if lh.LastHeartbeatTime.IsZero() {
			problems = append(problems, "no heartbeat cycle has ended yet")
		} else {
			age := max(0, now.Sub(lh.LastHeartbeatTime))
			l.LastHeartbeatAgeSeconds = ptr(age.Seconds())
			l.Alive = age <= bound
			if !l.Alive {
				problems = append(problems, fmt.Sprintf("loop stalled: last heartbeat %s ago (bound %s)", age.Round(time.Millisecond), bound))
			}
		}
		if !l.Alive {
			stalled = append(stalled, name)
		}
		if !l.StoreOK {
			p := fmt.Sprintf("store failing: %d consecutive failed requests, circuit breaker %s", lh.ConsecutiveFailures, lh.Breaker)
			problems = append(problems, p)
			failing = append(failing, name+": "+p)
		}
		if lh.IsLeader {
			l.RenewedAgoSeconds = ptr(max(0, now.Sub(lh.RenewedAt)).Seconds())
			l.StepsDownInSeconds = ptr(max(0, lh.LeadsUntil.Sub(now)).Seconds())
			if !l.StoreOK {
				problems = append(problems, fmt.Sprintf("leading but not renewing: steps down in %s unless a renewal succeeds",
					max(0, lh.LeadsUntil.Sub(now)).Round(time.Millisecond)))
			}
		}
		l.Problem = strings.Join(problems, "; ")
		out.Coordinators = append(out.Coordinators, l)
	}
	switch {
	case len(stalled) > 0:
		out.Status = "stalled"
		out.Summary = "heartbeat loop not running: " + strings.Join(stalled, ", ")
	case len(failing) > 0:
		out.Status = "failing"
		out.Summary = "the loop runs but the store is failing: " + strings.Join(failing, "; ")
	case len(out.Coordinators) == 0:
		out.Status = "none"
		out.Summary = "no coordinator is running in this process"
	default:
		out.Summary = fmt.Sprintf("%d coordinator(s) heartbeating, store answering", len(out.Coordinators))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Liveness is the document of /livez: whether the loops run, and nothing
// of the store (a store outage is not cured by a restart).
type Liveness struct {
	// Status is "ok" (every loop ended a heartbeat cycle within its
	// bound), "stalled" (one has not) or "idle" (no coordinator runs).
	Status       string         `json:"status"`
	Summary      string         `json:"summary"`
	Coordinators []LoopLiveness `json:"coordinators"`
}

// LoopLiveness is one coordinator's part of Liveness.
type LoopLiveness struct {
	Namespace               string   `json:"namespace"`
	Plugin                  string   `json:"plugin,omitempty"`
	Mode                    string   `json:"mode"`
	Alive                   bool     `json:"alive"`
	LastHeartbeatAgeSeconds *float64 `json:"last_heartbeat_age_seconds,omitempty"`
	BoundSeconds            float64  `json:"bound_seconds"`
	Problem                 string   `json:"problem,omitempty"`
}

// CheckLiveness judges whether every coordinator's loop of hub runs (no
// storage request).
func CheckLiveness(hub *coord.Hub) Liveness {
	hl := CheckHealth(hub)
	out := Liveness{Status: "ok", Coordinators: []LoopLiveness{}}
	var stalled []string
	for _, c := range hl.Coordinators {
		l := LoopLiveness{Namespace: c.Namespace, Plugin: c.Plugin, Mode: c.Mode, Alive: c.Alive,
			LastHeartbeatAgeSeconds: c.LastHeartbeatAgeSeconds, BoundSeconds: c.BoundSeconds}
		if !c.Alive {
			l.Problem = "no heartbeat cycle has ended yet"
			if c.LastHeartbeatAgeSeconds != nil {
				l.Problem = fmt.Sprintf("loop stalled: last heartbeat %s ago (bound %s)",
					formatSeconds(*c.LastHeartbeatAgeSeconds), formatSeconds(c.BoundSeconds))
			}
			stalled = append(stalled, loopName(c.Namespace, c.Plugin))
		}
		out.Coordinators = append(out.Coordinators, l)
	}
	switch {
	case len(stalled) > 0:
		out.Status, out.Summary = "stalled", "heartbeat loop not running: "+strings.Join(stalled, ", ")
	case len(out.Coordinators) == 0:
		out.Status, out.Summary = "idle", "no coordinator is running in this process: no loop to stall"
	default:
		out.Summary = fmt.Sprintf("%d heartbeat loop(s) running", len(out.Coordinators))
	}
	return out
}

func loopName(ns, plugin string) string {
	if plugin != "" {
		return ns + "/" + plugin
	}
	return ns
}

// serveHealth answers /healthz (live: false) and /livez (live: true).
func (h *Handler) serveHealth(live bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if live {
			lv := CheckLiveness(h.hub)
			code := http.StatusOK
			if lv.Status == "stalled" {
				code = http.StatusServiceUnavailable
			}
			writeLiveness(w, r, code, lv)
			return
		}
		hl := h.Health()
		code := http.StatusOK
		if hl.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		writeHealth(w, r, code, hl)
	}
}

func writeLiveness(w http.ResponseWriter, r *http.Request, code int, v Liveness) {
	if writeJSON(w, r, code, v) {
		return
	}
	fmt.Fprintf(w, "%s: %s\n", v.Status, v.Summary)
	for _, c := range v.Coordinators {
		state := "running"
		if c.Problem != "" {
			state = c.Problem
		}
		fmt.Fprintf(w, "%s (%s): %s\n", loopName(c.Namespace, c.Plugin), c.Mode, state)
	}
}

// writeJSON writes v as JSON if the request asks ?format=json and
// reports whether it did; else it sets the headers of a text answer.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) bool {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return true
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	return false
}

func writeHealth(w http.ResponseWriter, r *http.Request, code int, v Health) {
	if writeJSON(w, r, code, v) {
		return
	}
	fmt.Fprintf(w, "%s: %s\nstore check: %s\n", v.Status, v.Summary, v.StoreCheck)
	for _, c := range v.Coordinators {
		name := loopName(c.Namespace, c.Plugin)
		state := "ok"
		if c.Problem != "" {
			state = c.Problem
		}
		role := "following"
		if c.Leading {
			role = "leading"
		}
		fmt.Fprintf(w, "%s (%s, %s): %s\n", name, c.Mode, role, state)
	}
}

// Ready returns a readiness handler for one plugin: 200 while this
// process leads plugin name of namespace ("" is "default"), 503 while it
// does not, 404 when the plugin is not subscribed in this process. Like
// Subscription.IsLeader it turns 503 the moment the leadership ends
// (at the renew deadline at the latest), with no storage request. Use it
// to route traffic to the active instance only (active/passive).
func Ready(hub *coord.Hub, namespace, name string) http.Handler {
	if namespace == "" {
		namespace = "default"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveReady(w, hub, namespace, name)
	})
}

// serveReadyz answers /readyz?plugin=NAME[&namespace=NS].
func (h *Handler) serveReadyz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, ns := q.Get("plugin"), q.Get("namespace")
	if ns == "" {
		ns = "default"
	}
	if name == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "readyz needs ?plugin=NAME (and &namespace=NS outside the default namespace): ready while this process leads that plugin")
		return
	}
	serveReady(w, h.hub, ns, name)
}

func serveReady(w http.ResponseWriter, hub *coord.Hub, ns, name string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var sub *coord.Subscription
	for _, s := range hub.Subscriptions() {
		if s.Namespace() == ns && s.Name() == name {
			sub = s
		}
	}
	term, leading := plugin.Term{}, false
	if sub != nil {
		term, leading = sub.Term()
	}
	switch {
	case len(hub.Coordinators()) == 0:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: no coordinator is running in this process")
	case sub == nil:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "not subscribed: plugin %q of namespace %q does not run in this process\n", name, ns)
	case !leading:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "standby: this process does not lead %s/%s\n", ns, name)
	default:
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "leading %s/%s (epoch %d)\n", ns, name, term.Epoch)
	}
}
