package coord

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
)

// Run is the one call for one leader-only job: it opens a Hub over store
// with cfg, campaigns for name (Global mode, namespace "default"), runs
// job while this process leads, campaigns again after a loss (or after a
// back-off when job returns: see plugin.Leader), and returns when ctx is
// done, after stepping down, waiting for job and releasing the lease
// (within HeartbeatInterval). It returns nil then, or the error that kept
// it from campaigning (invalid config or name, ErrUnsafeStore, a missing
// bucket, denied access).
//
// job runs while this process leads, and its ctx is cancelled the moment
// the leadership ends (context.Cause tells why: ErrLeaseLost,
// ErrRenewDeadline, ErrResigned, ErrOperatorRelease, ErrUnsafeStore).
// term.Epoch fences its writes. On a Hub that runs other plugins too, the
// same is hub.Use(ctx, name, plugin.Func{OnLead: job}, UseOptions{}),
// then Subscription.Close.
func Run(ctx context.Context, store driver.Store, cfg Config, name string, job func(ctx context.Context, term plugin.Term) error) error {
	if job == nil {
		return fmt.Errorf("coord: Run %q: the job is nil", name)
	}
	h, err := NewHub(store, cfg)
	if err != nil {
		return err
	}
	sub, err := h.Use(ctx, name, plugin.Func{OnLead: job}, UseOptions{})
	if err == nil {
		<-ctx.Done()
		err = sub.Close(ctx)
	}
	return errors.Join(err, h.Close(ctx))
}

// leading returns this process's current run of the plugin and the
// coordinator and slot it runs on (a stand-in's, in Global mode, while
// the namespace leader does not subscribe the plugin).
func (s *Subscription) leading() (*pluginRun, *Coordinator, *slot) {
	c, sl, _ := s.state()
	c.mu.Lock()
	r, stand := sl.run, sl.standIn
	c.mu.Unlock()
	if r != nil || stand == nil {
		return r, c, sl
	}
	stand.mu.Lock()
	defer stand.mu.Unlock()
	if ss := stand.subs[s.name]; ss != nil && ss.run != nil {
		return ss.run, stand, ss
	}
	return nil, c, sl
}

// WaitLeader blocks until this process leads the plugin and returns the
// leadership's Term, or returns ctx's cause when ctx is done first (or
// ErrClosed once the Subscription is closed). It is the one way to wait;
// the end of a leadership is the cancellation of the plugin's ctx, and
// every change of leader reaches the plugin's plugin.Observer or
// Coordinator.Observe.
func (s *Subscription) WaitLeader(ctx context.Context) (plugin.Term, error) {
	for {
		_, sl, _ := s.state()
		ch := sl.changes.wait()
		if t, ok := s.Term(); ok {
			return t, nil
		}
		select {
		case <-ch:
		case <-s.closing:
			return plugin.Term{}, ErrClosed
		case <-ctx.Done():
			return plugin.Term{}, context.Cause(ctx)
		}
	}
}

// Resign ends this process's leadership of the plugin now: the plugin's
// context is cancelled (cause ErrResigned), and once Lead and Tick have
// returned the plugin's lease is released, so that another process takes
// it at its next heartbeat. This process stays subscribed and campaigns
// again after a back-off (two HeartbeatIntervals from the release,
// doubling with each resignation in a row); Close stops campaigning.
// Resign waits for the plugin to return within HeartbeatInterval (or
// ctx's deadline, if sooner) and returns ErrNotLeader when this process
// does not lead it.
func (s *Subscription) Resign(ctx context.Context) error {
	r, owner, sl := s.leading()
	if r == nil {
		return ErrNotLeader
	}
	owner.resign(sl, r, nil, true)
	cctx, cancel := owner.closeContext(ctx)
	defer cancel()
	select {
	case <-r.done:
		return nil
	case <-cctx.Done():
		return fmt.Errorf("%s: resigning %s: the plugin has not returned: %w", owner.prefix, s.name, context.Cause(cctx))
	}
}

// maxValueLen bounds what Proclaim publishes.
const maxValueLen = 1024

// Proclaim publishes value (an address, say, at most 1024 bytes)
// with every lease this Hub holds, as etcd's Proclaim or a Consul lock's
// value: it is written with the next renewal of each (no extra request)
// and with every lease won later, and followers read it from the records
// they read anyway: plugin.Change.Value for observers and watchers,
// LeaderInfo.Value from Leader, ReadStatus and coordctl. "" publishes
// nothing. A longer value, or one that is not valid UTF-8 (records are
// JSON, which cannot carry it without loss), is refused with a
// *ConfigError (errors.Is(err, ErrInvalidConfig)).
func (h *Hub) Proclaim(value string) error {
	if len(value) > maxValueLen {
		return badConfig("Proclaim", "the value is %d bytes, at most %d", len(value), maxValueLen)
	}
	if !utf8.ValidString(value) {
		return badConfig("Proclaim", "the value is not valid UTF-8")
	}
	h.value.Store(&value)
	return nil
}

// proclaimed is the value of Proclaim ("" when none).
func (h *Hub) proclaimed() string {
	if v := h.value.Load(); v != nil {
		return *v
	}
	return ""
}
