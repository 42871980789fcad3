package coord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storage"
)

// LeaderInfo is what a lease record says.
type LeaderInfo struct {
	// ID is the holder's worker id; empty when there is no record.
	ID    string
	Epoch uint64
	// Released: the holder (or an operator, ReleasedBy) gave the lease up.
	Released   bool
	ReleasedBy string
	// Version is the record's store version (for ForceRelease).
	Version string
	// Renewed is the holder's wall clock at its last write: a hint only.
	Renewed time.Time
	// Modified is the store's modification time, when the driver knows it.
	Modified time.Time
	Lease    time.Duration
	Mode     Mode
	// Delegated: a plugin lease held by the namespace lease with epoch
	// NamespaceEpoch.
	Delegated      bool
	NamespaceEpoch uint64
	// StandIn: a plugin lease held by a Global process for a namespace
	// leader that does not subscribe the plugin.
	StandIn bool
	// Plugins: in a namespace lease, the plugins its leader leads and
	// their epochs.
	Plugins map[string]uint64
	// Value is what the holder proclaims (Hub.Proclaim).
	Value string
	// Corrupt is set (and the other fields empty) when the record could
	// not be decoded.
	Corrupt error
}

func leaderInfo(obj driver.Object, rec *leaseRecord, corrupt error) LeaderInfo {
	li := LeaderInfo{Version: obj.Version, Modified: obj.Modified, Corrupt: corrupt}
	if rec != nil {
		li.ID, li.Epoch, li.Released, li.ReleasedBy = rec.Leader, rec.Epoch, rec.Released, rec.ReleasedBy
		li.Renewed, li.Lease, li.Mode = rec.Renewed, rec.lease(), Mode(rec.Mode)
		li.Delegated, li.NamespaceEpoch, li.Plugins, li.Value = rec.Delegated, rec.NamespaceEpoch, rec.Plugins, rec.Value
		li.StandIn = rec.StandIn
	}
	return li
}

// readLeader reads one lease record. Missing: zero LeaderInfo, nil error.
// Corrupt: LeaderInfo.Corrupt set, nil error.
func readLeader(ctx context.Context, store driver.Store, key, ns, plugin string) (LeaderInfo, error) {
	obj, err := store.Get(ctx, key)
	switch {
	case errors.Is(err, driver.ErrNotFound):
		return LeaderInfo{}, nil
	case errors.Is(err, driver.ErrTooLarge):
		return LeaderInfo{Corrupt: fmt.Errorf("%w: %v", ErrCorruptRecord, err)}, nil
	case err != nil:
		return LeaderInfo{}, err
	}
	rec, corrupt := decodeLease(obj.Data, ns, plugin)
	return leaderInfo(obj, rec, corrupt), nil
}

// Status is a view of one election (Coordinator.Status), of a whole
// namespace read from the store (ReadStatus), or of one plugin's lease in
// either (Status.Plugins).
type Status struct {
	Namespace string
	// Mode and WorkerID describe the coordinator (empty from ReadStatus).
	// Plugin names the plugin of a PerPlugin coordinator, or of an entry
	// of Plugins.
	Mode     Mode
	Plugin   string
	WorkerID string
	IsLeader bool
	// Leader is the lease of the election (the namespace lease for
	// ReadStatus, the plugin lease for an entry of Plugins).
	Leader LeaderInfo
	// LeaseAge is the server's time minus the lease's modification time,
	// when the store reports both.
	LeaseAge time.Duration
	// Workers are the active workers (of the namespace, or the
	// per-plugin workers of the plugin for an entry of Plugins).
	Workers []Worker
	// Plugins are the plugin leases: of the subscribed plugins
	// (Coordinator.Status in Global mode), or of every plugin with
	// records in the namespace (ReadStatus).
	Plugins    []Status
	ServerTime time.Time
	// Metrics of the coordinator (nil from ReadStatus).
	Metrics *Metrics
}

// Status reads the lease and the active workers (one GET, one LIST, and
// one GET per subscribed plugin in Global mode).
func (c *Coordinator) Status(ctx context.Context) (Status, error) {
	st := Status{Namespace: c.ns, Mode: c.mode, Plugin: c.plugin, WorkerID: c.worker, IsLeader: c.isLeader()}
	li, err := c.Leader(ctx)
	if err != nil {
		return st, err
	}
	st.Leader = li
	if !c.cfg.DisableMembership {
		ws, now, err := listWorkers(ctx, c.store, workersPrefix(c.cfg.Root, c.ns, c.plugin), c.cfg.WorkerTimeout)
		if err != nil {
			return st, err
		}
		ws = withLeader(ws, li, now, c.cfg.WorkerTimeout)
		c.workerCount.Store(int64(len(ws))) // the count beside the list agrees with it
		readWorkerDetails(ctx, c.store, workersPrefix(c.cfg.Root, c.ns, c.plugin), ws)
		st.Workers, st.ServerTime = ws, now
		if !li.Modified.IsZero() {
			st.LeaseAge = max(0, now.Sub(li.Modified))
		}
	}
	if c.mode == Global {
		for _, name := range c.plugins() {
			pl, err := readLeader(ctx, c.store, pluginLeaseKey(c.cfg.Root, c.ns, name), c.ns, name)
			if err != nil {
				return st, err
			}
			st.Plugins = append(st.Plugins, Status{Namespace: c.ns, Plugin: name, Leader: pl})
		}
	}
	m := c.Metrics()
	st.Metrics = &m
	return st, nil
}

// operatorRequestTimeout bounds each request of ReadStatus and
// ForceRelease (the caller's ctx may bound them sooner).
const operatorRequestTimeout = 30 * time.Second

// operatorStore is store as the operator calls use it: through the store
// layer (keys checked, errors wrapped once, each request bounded by
// operatorRequestTimeout even when the driver ignores its context). Not
// to be closed: the caller owns store.
func operatorStore(store driver.Store) driver.Store {
	return storage.New(store, storage.Options{Timeout: operatorRequestTimeout})
}

// ReadStatus reads a namespace's coordination state from store without
// running a coordinator (for operators): the namespace lease, the plugin
// leases and the workers active within workerTimeout (<= 0: the default
// WorkerTimeout, 20s), of both modes, with their records' Mode, Started
// and Meta (one LIST, one GET per lease and per active worker). root ""
// is the default Root.
func ReadStatus(ctx context.Context, store driver.Store, root, namespace string, workerTimeout time.Duration) (Status, error) {
	if root == "" {
		root = defaultRoot
	}
	if workerTimeout <= 0 {
		workerTimeout = defaultWorkerTimeout
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return Status{}, err
	}
	store = operatorStore(store)
	st := Status{Namespace: namespace}
	li, err := readLeader(ctx, store, namespaceLeaseKey(root, namespace), namespace, "")
	if err != nil {
		return st, err
	}
	st.Leader = li
	res, err := store.List(ctx, root+namespace+"/")
	if err != nil {
		return st, err
	}
	st.ServerTime = res.ServerTime
	if !li.Modified.IsZero() {
		st.LeaseAge = max(0, res.ServerTime.Sub(li.Modified))
	}
	gw := workersPrefix(root, namespace, "")
	plugins := map[string]*Status{}
	pluginsPrefix := root + namespace + "/plugins/"
	for _, e := range res.Entries {
		age := res.ServerTime.Sub(e.Modified)
		if id, ok := workerIDFromKey(gw, e.Key); ok {
			if age <= workerTimeout {
				st.Workers = append(st.Workers, Worker{ID: id, LastSeen: e.Modified, Age: max(age, 0)})
			}
			continue
		}
		if err := notePluginEntry(ctx, store, plugins, pluginsPrefix, namespace, e, age, workerTimeout); err != nil {
			return st, err
		}
	}
	// Leaders write no worker record: their leases are their records.
	st.Workers = withLeader(st.Workers, st.Leader, res.ServerTime, workerTimeout)
	readWorkerDetails(ctx, store, gw, st.Workers)
	for _, ps := range plugins {
		ps.Workers = withLeader(ps.Workers, ps.Leader, res.ServerTime, workerTimeout)
		readWorkerDetails(ctx, store, workersPrefix(root, namespace, ps.Plugin), ps.Workers)
		st.Plugins = append(st.Plugins, *ps)
	}
	slices.SortFunc(st.Plugins, func(a, b Status) int { return strings.Compare(a.Plugin, b.Plugin) })
	return st, nil
}

// notePluginEntry adds a listed key under pluginsPrefix to plugins: an
// per-plugin worker active within workerTimeout (age: the listing's
// server time minus the key's modification) or the plugin's lease (read
// with a GET). Other keys are ignored.
func notePluginEntry(ctx context.Context, store driver.Store, plugins map[string]*Status, pluginsPrefix, namespace string, e driver.Entry, age, workerTimeout time.Duration) error {
	rest, ok := strings.CutPrefix(e.Key, pluginsPrefix)
	if !ok {
		return nil
	}
	name, tail, _ := strings.Cut(rest, "/")
	if ValidateName("plugin", name) != nil {
		return nil
	}
	ps := plugins[name]
	if ps == nil {
		ps = &Status{Namespace: namespace, Plugin: name}
		plugins[name] = ps
	}
	if id, ok := workerIDFromKey("workers/", tail); ok && age <= workerTimeout {
		ps.Workers = append(ps.Workers, Worker{ID: id, LastSeen: e.Modified, Age: max(age, 0)})
	}
	if tail == "state.json" {
		pl, err := readLeader(ctx, store, e.Key, namespace, name)
		if err != nil {
			return err
		}
		ps.Leader = pl
	}
	return nil
}

// ForceRelease marks a lease released on behalf of an operator, by IfMatch:
// the namespace lease (pluginName "") or a plugin lease. When
// expectVersion is not empty and the record's version differs (someone
// wrote since the operator looked) it writes nothing and returns an error
// for which errors.Is(err, ErrChanged) holds. A plugin lease delegated to
// the namespace lease is refused (ErrDelegated): release the namespace
// lease instead.
//
// Safety: the holder may still be acting, so followers treat an operator
// release like a renewal (they wait a whole lease from when they see it);
// the holder's next renewal fails and it steps down at once. A re-election
// thus happens within about one lease, never with two leaders.
func ForceRelease(ctx context.Context, store driver.Store, root, namespace, pluginName, expectVersion string) error {
	if root == "" {
		root = defaultRoot
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return err
	}
	key := namespaceLeaseKey(root, namespace)
	if pluginName != "" {
		if err := ValidateName("plugin", pluginName); err != nil {
			return err
		}
		key = pluginLeaseKey(root, namespace, pluginName)
	}
	store = operatorStore(store)
	obj, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	if expectVersion != "" && obj.Version != expectVersion {
		return fmt.Errorf("%w: %s is at version %s, not %s", ErrChanged, key, obj.Version, expectVersion)
	}
	rec, err := decodeLease(obj.Data, namespace, pluginName)
	if err != nil {
		return err
	}
	if rec.Delegated {
		return fmt.Errorf("%w: %s (namespace epoch %d)", ErrDelegated, key, rec.NamespaceEpoch)
	}
	if rec.Released {
		return nil
	}
	rec.Released, rec.ReleasedBy = true, "operator"
	if rec.Leader == "operator" {
		rec.ReleasedBy = "operator-release"
	}
	rec.Seq++
	rec.Incarnation = "operator"
	rec.Plugins = nil
	_, err = store.Put(ctx, key, encodeLease(rec), driver.IfMatch(obj.Version))
	if errors.Is(err, driver.ErrPrecondition) {
		return fmt.Errorf("%w: %s changed while releasing: %w", ErrChanged, key, err)
	}
	return err
}
