package coord

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
)

// Job is work that one process at a time runs: it runs while this process
// leads, and its ctx is cancelled the moment the leadership ends
// (context.Cause tells why: ErrLeaseLost, ErrRenewDeadline, ErrResigned,
// ErrOperatorRelease, ErrUnsafeStore). term.Epoch fences its writes.
type Job func(ctx context.Context, term plugin.Term) error

// Run is the one call for one leader-only job: it opens a Hub over store
// with cfg, campaigns for name (Global mode, namespace "default"), runs
// job while this process leads, campaigns again after a loss (or after a
// back-off when job returns: see plugin.Leader), and returns when ctx is
// done, after stepping down, waiting for job and releasing the lease
// (within HeartbeatInterval). It returns nil then, or the error that kept
// it from campaigning (invalid config or name, ErrUnsafeStore, a missing
// bucket, denied access).
func Run(ctx context.Context, store driver.Store, cfg Config, name string, job Job) error {
	h, err := NewHub(store, cfg)
	if err != nil {
		return err
	}
	err = h.Run(ctx, name, job, UseOptions{})
	return errors.Join(err, h.Close(ctx))
}

// Run is Use for one job (see the package-level Run): it blocks until ctx
// is done, then closes the Subscription (releasing the lease) and returns.
func (h *Hub) Run(ctx context.Context, name string, job Job, opts UseOptions) error {
	if job == nil {
		return fmt.Errorf("coord: Run %q: the job is nil", name)
	}
	sub, err := h.Use(ctx, name, plugin.Func{OnLead: job}, opts)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return sub.Close(ctx)
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
// ErrClosed once the Subscription is closed).
func (s *Subscription) WaitLeader(ctx context.Context) (plugin.Term, error) {
	for {
		ch := s.Changed()
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

// Changed returns a channel that is closed at the next change of this
// process's leadership of the plugin (it starts or ends leading); read
// Term then. With WaitLeader it replaces polling IsLeader.
func (s *Subscription) Changed() <-chan struct{} {
	_, sl, _ := s.state()
	return sl.changes.wait()
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

// MaxValueLen bounds what Proclaim publishes.
const MaxValueLen = 1024

// ErrValueTooLong: Proclaim of more than MaxValueLen bytes.
var ErrValueTooLong = errors.New("coord: proclaimed value too long")

// ErrValueNotUTF8: Proclaim of a value that is not valid UTF-8 (records
// are JSON, which cannot carry it without loss).
var ErrValueNotUTF8 = errors.New("coord: proclaimed value is not valid UTF-8")

// Proclaim publishes value (an address, say, at most MaxValueLen bytes)
// with every lease this Hub holds, as etcd's Proclaim or a Consul lock's
// value: it is written with the next renewal of each (no extra request)
// and with every lease won later, and followers read it from the records
// they read anyway: plugin.Change.Value for observers and watchers,
// LeaderInfo.Value from Leader, ReadStatus and coordctl. "" publishes
// nothing. A value that is not valid UTF-8 is refused (ErrValueNotUTF8).
func (h *Hub) Proclaim(value string) error {
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLong, len(value), MaxValueLen)
	}
	if !utf8.ValidString(value) {
		return ErrValueNotUTF8
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
