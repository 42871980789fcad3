package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin"
)

// benchPlugin is a plugin that remembers the last leader it was told of.
type benchPlugin struct {
	mu   sync.Mutex
	last plugin.Change
	seen bool
}

// LeaderChanged implements plugin.Observer.
func (p *benchPlugin) LeaderChanged(c plugin.Change) {
	p.mu.Lock()
	p.last, p.seen = c, true
	p.mu.Unlock()
}

// knownLeader is the leader this plugin instance was last told of ("" for
// none).
func (p *benchPlugin) knownLeader() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last.To
}

// worker is one simulated process: a coord.Hub with its plugins.
type worker struct {
	id      string
	hub     *coord.Hub
	tap     *tapStore
	subs    []*coord.Subscription
	plugins []*benchPlugin // nil entries when observe was false
	stopped bool           // crashed or closed: no longer a candidate
}

// cluster is one scenario's processes on the shared store.
type cluster struct {
	mode    coord.Mode
	plugins int
	workers []*worker
	rt      runner
}

// pluginSpec is one real plugin a scenario registers on every worker
// instead of the benchmark's own plugins.
type pluginSpec struct {
	name string
	// build returns worker i's instance of the plugin, which must use
	// store (the worker's handle) for all its storage requests and may
	// pace itself on clock (the worker's Hub clock: the run's clock).
	build func(i int, store driver.Store, clock clock.Clock) (plugin.Plugin, error)
}

// startCluster creates n workers with plugins plugins each in mode under
// root, every worker starting at the same moment. With observe, plugins
// record the leader changes they are told of (for known). With spec (then
// plugins must be 1), every worker registers spec's plugin instead.
func startCluster(ctx context.Context, rt runner, store driver.Store, cfg coord.Config, root string, mode coord.Mode,
	n, plugins int, seed uint64, observe bool, spec *pluginSpec) (*cluster, error) {
	cl := &cluster{mode: mode, plugins: plugins, rt: rt}
	for i := range n {
		c := cfg
		c.Root = root
		c.WorkerID = fmt.Sprintf("w%d", i+1)
		c.Clock = rt.engineClock()
		c.RandSeed = seed*1000 + uint64(i) + 1
		tap := &tapStore{Store: store, id: c.WorkerID, turn: rt.turn}
		hub, err := coord.NewHub(tap, c)
		if err != nil {
			cl.crashAll()
			return nil, err
		}
		cl.workers = append(cl.workers, &worker{id: c.WorkerID, hub: hub, tap: tap})
	}
	// All workers start together: in parallel, each registering its
	// plugins in order.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, w := range cl.workers {
		wg.Go(func() {
			for j := range plugins {
				var p *benchPlugin
				var used plugin.Plugin = plugin.Func{OnLead: plugin.Idle} // leads, doing nothing
				name := pluginName(j)
				if observe {
					p = &benchPlugin{}
					used = p
				}
				if spec != nil {
					var err error
					if used, err = spec.build(i, w.tap, w.hub.Config().Clock); err != nil {
						errs[i] = err
						return
					}
					name = spec.name
				}
				sub, err := w.hub.Use(ctx, name, used, coord.UseOptions{Mode: mode})
				if err != nil {
					errs[i] = err
					return
				}
				w.subs = append(w.subs, sub)
				w.plugins = append(w.plugins, p)
			}
		})
	}
	rt.call(time.Minute, wg.Wait)
	for _, err := range errs {
		if err != nil {
			cl.crashAll()
			return nil, err
		}
	}
	return cl, nil
}

func pluginName(i int) string { return fmt.Sprintf("plugin-%02d", i+1) }

// leaderOf returns the live worker leading plugin i, or nil when none or
// more than one does (the latter would be a safety violation; it is
// reported by the caller through converged never holding).
func (cl *cluster) leaderOf(i int) *worker {
	var lead *worker
	for _, w := range cl.workers {
		if w.stopped || i >= len(w.subs) {
			continue
		}
		if _, leads := w.subs[i].Term(); !leads {
			continue
		}
		if lead != nil {
			return nil
		}
		lead = w
	}
	return lead
}

// led reports whether every plugin has exactly one live leader, none of
// them in exclude.
func (cl *cluster) led(exclude string) bool {
	for i := range cl.plugins {
		l := cl.leaderOf(i)
		if l == nil || l.id == exclude {
			return false
		}
	}
	return true
}

// known reports whether, besides led, every plugin on every live worker
// has been told who its leader is. It needs a cluster started with
// observe.
func (cl *cluster) known(exclude string) bool {
	for i := range cl.plugins {
		l := cl.leaderOf(i)
		if l == nil || l.id == exclude {
			return false
		}
		for _, w := range cl.workers {
			if !w.stopped && (w.plugins[i] == nil || w.plugins[i].knownLeader() != l.id) {
				return false
			}
		}
	}
	return true
}

// heartbeats sums the heartbeat counts of every coordinator of every
// worker.
func (cl *cluster) heartbeats() uint64 {
	var n uint64
	for _, w := range cl.workers {
		for _, c := range w.hub.Coordinators() {
			n += c.Metrics().HeartbeatCount
		}
	}
	return n
}

// crash stops w as kill -9 would: from this instant none of its requests
// reach the store, and its goroutines are stopped without releasing
// anything (Close with a cancelled context writes nothing).
func (cl *cluster) crash(w *worker) {
	w.tap.crash()
	w.stopped = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cl.rt.call(time.Minute, func() { _ = w.hub.Close(ctx) })
}

// stop closes w gracefully: leases released, worker records deleted.
func (cl *cluster) stop(ctx context.Context, w *worker) error {
	w.stopped = true
	var err error
	cl.rt.call(time.Minute, func() { err = w.hub.Close(ctx) })
	return err
}

// close stops every live worker gracefully.
func (cl *cluster) close(ctx context.Context) error {
	var first error
	for _, w := range cl.workers {
		if !w.stopped {
			if err := cl.stop(ctx, w); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (cl *cluster) crashAll() {
	for _, w := range cl.workers {
		if !w.stopped {
			cl.crash(w)
		}
	}
}

// describe summarises the cluster's state for an error message.
func (cl *cluster) describe() string {
	var b strings.Builder
	for _, w := range cl.workers {
		fmt.Fprintf(&b, "\n  worker %s (stopped %v):", w.id, w.stopped)
		for _, c := range w.hub.Coordinators() {
			m := c.Metrics()
			fmt.Fprintf(&b, " [%s %s leader=%v epoch=%d beats=%d elections=%d errors=%d lost=%d plugins=%v]",
				m.Mode, m.Plugin, m.IsLeader, m.Epoch, m.HeartbeatCount, m.ElectionCount, m.Errors, m.PreconditionsLost, m.Plugins)
		}
		for i, sub := range w.subs {
			_, leads := sub.Term()
			fmt.Fprintf(&b, " sub%d=%v", i, leads)
		}
	}
	return b.String()
}
