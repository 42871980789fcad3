package coord

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Views for operators (status pages, health checks, metrics exporters).
// Each reads what the engine keeps in memory; none sends a storage
// request, so they answer in an outage too.

// PluginLeadership is one plugin subscribed in this process and whether
// this process leads it now.
type PluginLeadership struct {
	Namespace string
	Plugin    string
	// Mode is the effective mode (PerPlugin during a fallback).
	Mode     Mode
	FellBack bool
	// Leading: this process leads the plugin now (Subscription.IsLeader);
	// Epoch is then the plugin's epoch (its fencing token).
	Leading bool
	Epoch   uint64
}

// Leadership lists the plugins subscribed in this process, sorted by
// namespace and plugin, each with whether this process leads it now.
func (h *Hub) Leadership() []PluginLeadership {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for _, s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	out := make([]PluginLeadership, 0, len(subs))
	for _, s := range subs {
		c, _, mode := s.state()
		if c == nil { // still attaching (inside Use)
			continue
		}
		pl := PluginLeadership{Namespace: s.ns, Plugin: s.name, Mode: mode, FellBack: s.FellBack()}
		if t, ok := s.Term(); ok {
			pl.Leading, pl.Epoch = true, t.Epoch
		}
		out = append(out, pl)
	}
	slices.SortFunc(out, func(a, b PluginLeadership) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Plugin, b.Plugin)
	})
	return out
}

// Leading reports whether this process leads the plugin name of namespace
// ("" is DefaultNamespace) now, and whether that plugin is subscribed in
// this process at all.
func (h *Hub) Leading(namespace, name string) (leading, subscribed bool) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	h.mu.Lock()
	s := h.subs[namespace+"/"+name]
	h.mu.Unlock()
	if s == nil {
		return false, false
	}
	if c, _, _ := s.state(); c == nil {
		return false, true
	}
	return s.IsLeader(), true
}

// Store check states (StoreCheckState.State).
const (
	StoreCheckPending = "pending" // not run yet (nothing has tried to lead)
	StoreCheckPassed  = "passed"
	StoreCheckSkipped = "skipped" // Config.SkipStoreCheck
	StoreCheckUnsafe  = "unsafe"  // the store broke a rule: nothing leads
	StoreCheckFailed  = "failed"  // the check could not run (store unreachable); tried again at the next attempt to lead
)

// StoreCheckState is the Hub's view of its store check (see
// Config.SkipStoreCheck and CheckStore).
type StoreCheckState struct {
	State string
	// Err is the last error of the check (nil when passed, skipped or
	// pending); errors.Is(Err, ErrUnsafeStore) holds for StoreCheckUnsafe.
	Err error
}

// StoreCheck reports the result of the Hub's store check.
func (h *Hub) StoreCheck() StoreCheckState {
	if h.cfg.SkipStoreCheck {
		return StoreCheckState{State: StoreCheckSkipped}
	}
	sc := &h.check
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.passed:
		return StoreCheckState{State: StoreCheckPassed}
	case errors.Is(sc.lastErr, ErrUnsafeStore):
		return StoreCheckState{State: StoreCheckUnsafe, Err: sc.lastErr}
	case sc.lastErr != nil:
		return StoreCheckState{State: StoreCheckFailed, Err: sc.lastErr}
	}
	return StoreCheckState{State: StoreCheckPending}
}

// LoopHealth is what a health check needs to know of one Coordinator.
type LoopHealth struct {
	// LastHeartbeat is when the last heartbeat cycle ended (Clock; zero
	// before the first).
	LastHeartbeat time.Time
	// ConsecutiveFailures counts the storage requests that failed in a
	// row since the last one that succeeded (lost preconditions and
	// misses are answers, not failures).
	ConsecutiveFailures int
	// Breaker is "closed", "open" or "half-open".
	Breaker string
	// Leading: this process leads the election now. RenewedAt is then
	// the start of its last successful renewal, and LeadsUntil the renew
	// deadline (RenewedAt + RenewDeadline) at which it steps down unless
	// a renewal succeeds first.
	Leading    bool
	RenewedAt  time.Time
	LeadsUntil time.Time
}

// Health reports the state of the coordinator's loop and of its store
// (no request).
func (c *Coordinator) Health() LoopHealth {
	var lh LoopHealth
	if t := c.lastBeatTime.Load(); t != nil {
		lh.LastHeartbeat = *t
	}
	c.store.mu.Lock()
	lh.ConsecutiveFailures, lh.Breaker = c.store.failures, c.store.state
	c.store.mu.Unlock()
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	if t.alive(c.clock.Now()) {
		t.mu.Lock()
		lh.LeadsUntil = t.deadline
		t.mu.Unlock()
		lh.Leading, lh.RenewedAt = true, lh.LeadsUntil.Add(-c.cfg.RenewDeadline)
	}
	return lh
}

// HeartbeatSamples returns the durations of the heartbeat cycles ended
// after the first `after` cycles of this coordinator, oldest first, and
// the number of cycles ended so far: pass it back as after to read only
// the new ones. Only the last 256 durations are kept; missed counts
// those that had already been dropped.
func (c *Coordinator) HeartbeatSamples(after uint64) (samples []time.Duration, total, missed uint64) {
	r := &c.latency
	r.mu.Lock()
	defer r.mu.Unlock()
	total = uint64(r.n)
	if after >= total {
		return nil, total, 0
	}
	kept := uint64(len(r.samples))
	first := after
	if total-after > kept {
		first, missed = total-kept, total-kept-after
	}
	for i := first; i < total; i++ {
		samples = append(samples, r.samples[i%kept])
	}
	return samples, total, missed
}
