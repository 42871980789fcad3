package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver"
)

// ---- status ----

func (c *cli) status(ctx context.Context, store driver.Store, o options) int {
	st, err := readStatus(ctx, store, o)
	if err != nil {
		return c.fail(err)
	}
	view := coordhttp.FromStatus(st)
	if o.json {
		c.printJSON(view)
	} else {
		c.printStatus(st, view)
	}
	if !view.HasLeader {
		return exitNoLeader
	}
	return exitOK
}

func (c *cli) printStatus(st coord.Status, view coordhttp.Status) {
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "namespace\t%s\n", st.Namespace)
	li := st.Leader
	fmt.Fprintf(w, "leader\t%s\n", leaderText(li))
	fmt.Fprintf(w, "state\t%s\n", leaseState(li, st.LeaseAge, view.HasLeader))
	if li.Version != "" {
		fmt.Fprintf(w, "version\t%s\n", li.Version)
	}
	fmt.Fprintf(w, "workers\t%d active\n", len(st.Workers))
	for _, wk := range st.Workers {
		fmt.Fprintf(w, "\t%s\t(seen %s ago)\n", wk.ID, roundDuration(wk.Age))
	}
	if len(st.Plugins) > 0 {
		fmt.Fprintf(w, "plugins\t%d\n", len(st.Plugins))
		for _, p := range st.Plugins {
			fmt.Fprintf(w, "\t%s\t%s\t%s\n", p.Plugin, leaderText(p.Leader), pluginState(p, st.ServerTime))
		}
	}
}

func leaderText(li coord.LeaderInfo) string {
	switch {
	case li.Corrupt != nil:
		return "corrupt record: " + li.Corrupt.Error()
	case li.ID == "" && li.Version == "":
		return "none (no lease record)"
	}
	return fmt.Sprintf("%s (epoch %d)", li.ID, li.Epoch)
}

func leaseState(li coord.LeaderInfo, age time.Duration, held bool) string {
	switch {
	case li.Version == "" && li.Corrupt == nil:
		return "no leader"
	case li.Corrupt != nil:
		return "no leader (corrupt record: the next coordinator to look takes it over)"
	case li.Released:
		by := li.ReleasedBy
		if by == li.ID {
			by = "its holder"
		}
		return "released by " + by + " (no leader until a follower takes over)"
	}
	s := "held"
	if !held {
		s = "expired"
	}
	if !li.Modified.IsZero() {
		s += fmt.Sprintf(" (last written %s ago, lease %s)", roundDuration(age), li.Lease)
	} else {
		s += fmt.Sprintf(" (lease %s)", li.Lease)
	}
	return s
}

func pluginState(p coord.Status, now time.Time) string {
	li := p.Leader
	var s string
	switch {
	case li.Corrupt != nil:
		s = "corrupt"
	case li.Version == "":
		s = "no lease record"
	case li.Released:
		s = "released"
	case li.Delegated:
		s = fmt.Sprintf("delegated to the namespace lease (namespace epoch %d)", li.NamespaceEpoch)
	default:
		s = string(li.Mode)
		if !li.Modified.IsZero() && !now.IsZero() && !coordhttp.HasLeader(li, now.Sub(li.Modified)) {
			s += ", expired"
		}
	}
	if len(p.Workers) > 0 {
		s += fmt.Sprintf(", per-plugin workers: %d", len(p.Workers))
	}
	return s
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// ---- workers ----

// workerJSON is one line of "workers -json".
type workerJSON struct {
	coordhttp.Worker
	// Plugin is the plugin of a per-plugin worker ("" for a namespace
	// worker).
	Plugin string `json:"plugin,omitempty"`
}

func (c *cli) workers(ctx context.Context, store driver.Store, o options) int {
	st, err := readStatus(ctx, store, o)
	if err != nil {
		return c.fail(err)
	}
	list := []workerJSON{}
	add := func(ws []coord.Worker, plugin string) {
		for _, w := range ws {
			list = append(list, workerJSON{Worker: coordhttp.Worker{ID: w.ID, LastSeen: w.LastSeen, AgeSeconds: w.Age.Seconds(), Mode: string(w.Mode), Meta: w.Meta}, Plugin: plugin})
		}
	}
	add(st.Workers, "")
	for _, p := range st.Plugins {
		add(p.Workers, p.Plugin)
	}
	if o.json {
		c.printJSON(list)
	} else {
		w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "WORKER\tELECTION\tLAST SEEN\tAGE\tMODE\tMETA")
		for _, wk := range list {
			election := "namespace " + st.Namespace
			if wk.Plugin != "" {
				election = "plugin " + wk.Plugin
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", wk.ID, election, wk.LastSeen.UTC().Format(time.RFC3339),
				roundDuration(time.Duration(wk.AgeSeconds*float64(time.Second))), wk.Mode, metaText(wk.Meta))
		}
		w.Flush()
	}
	if len(list) == 0 {
		if !o.json {
			fmt.Fprintf(c.stderr, "coordctl: no active worker in namespace %s (within %s)\n", o.namespace, o.workerTimeout)
		}
		return exitNoLeader
	}
	return exitOK
}

// ---- watch ----

// leaseKey is what watch compares between two reads of a lease.
type leaseKey struct {
	id       string
	epoch    uint64
	released bool
	corrupt  bool
	held     bool
}

// watchEvent is one line of "watch -json".
type watchEvent struct {
	Time      time.Time `json:"time"`
	Namespace string    `json:"namespace"`
	// Plugin is "" for the namespace lease.
	Plugin string `json:"plugin,omitempty"`
	// Initial marks the state found by the first read.
	Initial bool `json:"initial,omitempty"`
	// From and To are leader ids ("" for none).
	From  string `json:"from"`
	To    string `json:"to"`
	Epoch uint64 `json:"epoch"`
	// State is "held", "expired", "released", "corrupt" or "absent".
	State string `json:"state"`
}

func keyOf(li coord.LeaderInfo, held bool) leaseKey {
	return leaseKey{id: li.ID, epoch: li.Epoch, released: li.Released, corrupt: li.Corrupt != nil, held: held}
}

func (k leaseKey) state() string {
	switch {
	case k.corrupt:
		return "corrupt"
	case k.id == "" && k.epoch == 0:
		return "absent"
	case k.released:
		return "released"
	case !k.held:
		return "expired"
	}
	return "held"
}

func (c *cli) watch(ctx context.Context, store driver.Store, o options) int {
	last := map[string]leaseKey{} // "" namespace lease, else plugin
	first := true
	failing := false
	for {
		st, err := readStatus(ctx, store, o)
		switch {
		case ctx.Err() != nil:
			return exitOK
		case err != nil:
			// Keep watching through store trouble; say so once per spell.
			if !failing {
				fmt.Fprintln(c.stderr, "coordctl: watch:", err)
			}
			failing = true
		default:
			if failing {
				fmt.Fprintln(c.stderr, "coordctl: watch: the store answers again")
			}
			failing = false
			now := st.ServerTime
			if now.IsZero() {
				now = time.Now()
			}
			current := map[string]coord.LeaderInfo{"": st.Leader}
			held := map[string]bool{"": coordhttp.HasLeader(st.Leader, st.LeaseAge)}
			for _, p := range st.Plugins {
				if p.Leader.Version == "" && p.Leader.Corrupt == nil {
					continue // workers but no lease yet
				}
				current[p.Plugin] = p.Leader
				age := time.Duration(0)
				if !p.Leader.Modified.IsZero() && !st.ServerTime.IsZero() {
					age = st.ServerTime.Sub(p.Leader.Modified)
				}
				held[p.Plugin] = coordhttp.HasLeader(p.Leader, age)
			}
			names := make([]string, 0, len(current))
			for n := range current {
				names = append(names, n)
			}
			slices.Sort(names) // "" (the namespace lease) first
			for _, n := range names {
				k := keyOf(current[n], held[n])
				prev, seen := last[n]
				if seen && prev == k {
					continue
				}
				last[n] = k
				if !seen && !first && k.state() == "absent" {
					continue
				}
				c.event(o, watchEvent{
					Time: now, Namespace: st.Namespace, Plugin: n, Initial: first,
					From: prev.id, To: k.id, Epoch: k.epoch, State: k.state(),
				})
			}
			first = false
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(o.interval):
		}
	}
}

func (c *cli) event(o options, e watchEvent) {
	if o.json {
		_ = json.NewEncoder(c.stdout).Encode(e) // one compact object per line
		return
	}
	what := "namespace " + e.Namespace
	if e.Plugin != "" {
		what += " plugin " + e.Plugin
	}
	at := e.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	if e.Initial {
		fmt.Fprintf(c.stdout, "%s %s: leader %s (epoch %d, %s)\n", at, what, orNone(e.To), e.Epoch, e.State)
		return
	}
	fmt.Fprintf(c.stdout, "%s %s: leader %s → %s (epoch %d, %s)\n", at, what, orNone(e.From), orNone(e.To), e.Epoch, e.State)
}

func orNone(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// ---- release ----

// releaseResult is the output of "release -json".
type releaseResult struct {
	Namespace string `json:"namespace"`
	Plugin    string `json:"plugin,omitempty"`
	// Result is "released", "already-released", "would-release" (dry
	// run), "refused-changed", "refused-delegated" or "not-found".
	Result string          `json:"result"`
	Lease  coordhttp.Lease `json:"lease"`
	Error  string          `json:"error,omitempty"`
}

func (c *cli) release(ctx context.Context, store driver.Store, o options) int {
	st, err := readStatus(ctx, store, o)
	if err != nil {
		return c.fail(err)
	}
	li := st.Leader
	what := "namespace " + o.namespace + " lease"
	if o.plugin != "" {
		what = "plugin " + o.plugin + " lease in namespace " + o.namespace
		li = coord.LeaderInfo{}
		for _, p := range st.Plugins {
			if p.Plugin == o.plugin {
				li = p.Leader
			}
		}
	}
	res := releaseResult{Namespace: o.namespace, Plugin: o.plugin, Lease: coordhttp.FromStatus(coord.Status{Leader: li}).Leader}
	finish := func(result string, code int, msg string) int {
		res.Result = result
		if o.json {
			if code != exitOK {
				res.Error = msg
			}
			c.printJSON(res)
		} else if code == exitOK {
			fmt.Fprintln(c.stdout, msg)
		} else {
			fmt.Fprintln(c.stderr, "coordctl:", msg)
		}
		return code
	}
	if li.Version == "" && li.Corrupt == nil {
		return finish("not-found", exitNoLeader, "no "+what+" record")
	}
	if !o.json {
		fmt.Fprintf(c.stdout, "%s: leader %s, version %s\n", what, leaderText(li), li.Version)
	}
	if o.version != "" && o.version != li.Version {
		return finish("refused-changed", exitChanged, fmt.Sprintf("refused: the %s is at version %s, not %s: it changed since you looked; nothing written", what, li.Version, o.version))
	}
	if li.Delegated {
		return finish("refused-delegated", exitDelegated, fmt.Sprintf("refused: the %s is delegated to the namespace lease (namespace epoch %d); release the namespace lease instead", what, li.NamespaceEpoch))
	}
	if li.Released {
		return finish("already-released", exitOK, "already released (by "+li.ReleasedBy+"); nothing written")
	}
	if o.dryRun {
		return finish("would-release", exitOK, "dry run: would release version "+li.Version+"; nothing written")
	}
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	err = coord.ForceRelease(wctx, store, o.root, o.namespace, o.plugin, li.Version)
	switch {
	case err == nil:
		return finish("released", exitOK, fmt.Sprintf("released version %s: the holder's next renewal fails and it steps down; a follower takes over within about one lease (%s)", li.Version, li.Lease))
	case errors.Is(err, coord.ErrChanged):
		return finish("refused-changed", exitChanged, "refused: "+err.Error()+"; nothing written")
	case errors.Is(err, coord.ErrDelegated):
		return finish("refused-delegated", exitDelegated, "refused: "+err.Error())
	case errors.Is(err, driver.ErrNotFound):
		return finish("not-found", exitNoLeader, "no "+what+" record")
	}
	if o.json {
		res.Result, res.Error = "error", err.Error()
		c.printJSON(res)
	}
	return c.fail(err)
}

// metaText prints worker metadata as sorted k=v pairs.
func metaText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
