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

// Subscriptions lists the plugins subscribed in this process (Use),
// sorted by namespace and plugin: each one's Term tells whether this
// process leads it now, Mode and Metrics how it runs (PerPlugin and
// Metrics.FallbackActive during a fallback).
func (h *Hub) Subscriptions() []*Subscription {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for _, s := range h.subs {
		if c, _, _ := s.state(); c != nil { // not still attaching (inside Use)
			subs = append(subs, s)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(subs, func(a, b *Subscription) int {
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return subs
}

// CheckState is the state of a Hub's store check (Hub.StoreCheck).
type CheckState string

// Store check states.
const (
	StoreCheckPending CheckState = "pending" // not run yet (nothing has tried to lead)
	StoreCheckPassed  CheckState = "passed"
	StoreCheckSkipped CheckState = "skipped" // Config.SkipStoreCheck
	StoreCheckUnsafe  CheckState = "unsafe"  // the store broke a rule: nothing leads
	StoreCheckFailed  CheckState = "failed"  // the check could not run (store unreachable); tried again at the next attempt to lead
)

// StoreCheck reports the state of the Hub's store check (see
// Config.SkipStoreCheck and CheckStore) and its last error: nil when
// passed, skipped or pending; errors.Is(err, ErrUnsafeStore) holds for
// StoreCheckUnsafe.
func (h *Hub) StoreCheck() (CheckState, error) {
	if h.cfg.SkipStoreCheck {
		return StoreCheckSkipped, nil
	}
	sc := &h.check
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.passed:
		return StoreCheckPassed, nil
	case errors.Is(sc.lastErr, ErrUnsafeStore):
		return StoreCheckUnsafe, sc.lastErr
	case sc.lastErr != nil:
		return StoreCheckFailed, sc.lastErr
	}
	return StoreCheckPending, nil
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
