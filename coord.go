package coord

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/internal/deadline"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/storage"
)

// Hub is one process's use of one store: it owns the namespace
// coordinators (Global mode, created lazily, one per namespace) and the
// per-plugin ones. Create one per process per store with NewHub.
type Hub struct {
	store  driver.Store
	cfg    Config
	epochs *epochBook
	// checkStore is store with the deadlines of the store check.
	checkStore driver.Store
	check      storeCheck
	value      atomic.Pointer[string] // Proclaim
	history    history

	mu        sync.Mutex
	rng       *rand.Rand
	baseSeed  uint64            // Config.RandSeed, or a random one
	seeds     map[string]uint64 // seedFor: seeds handed out per name
	globals   map[string]*Coordinator
	coords    []*Coordinator
	subs      map[string]*Subscription // namespace + "/" + plugin
	workerIDs map[string]string
	closed    bool
	closing   chan struct{} // closed by Close
}

// NewHub returns a Hub over store. cfg is validated (zero fields take
// their defaults); an invalid cfg gives an error for which
// errors.Is(err, ErrInvalidConfig) holds.
func NewHub(store driver.Store, cfg Config) (*Hub, error) {
	if store == nil {
		return nil, &ConfigError{Field: "store", Rule: "must not be nil"}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	seed := cfg.RandSeed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return &Hub{
		store: store, cfg: cfg,
		checkStore: storage.New(store, storage.Options{Timeout: cfg.HeartbeatInterval, Clock: deadlineClockOf(cfg.Clock)}),
		epochs:     &epochBook{max: make(map[string]uint64)},
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		baseSeed:   seed,
		seeds:      make(map[string]uint64),
		globals:    make(map[string]*Coordinator),
		subs:       make(map[string]*Subscription),
		workerIDs:  make(map[string]string),
		closing:    make(chan struct{}),
	}, nil
}

// Config returns the Hub's configuration with defaults applied.
func (h *Hub) Config() Config { return h.cfg }

// seedFor returns a seed for one named use (a coordinator's jitter, a
// store check's token): a function of the Hub's seed, the name and how
// many seeds that name had before. Uses that start in an order the
// scheduler decides (a re-check beside a coordinator's start) then never
// shift each other's draws, so a seeded Hub replays exactly.
func (h *Hub) seedFor(name string) uint64 {
	h.mu.Lock()
	n := h.seeds[name]
	h.seeds[name] = n + 1
	h.mu.Unlock()
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%s/%d", h.baseSeed, name, n)
	return f.Sum64()
}

// workerID is Config.WorkerID, or gcs-<namespace>-<unix ms>-<random>,
// made once per namespace.
func (h *Hub) workerID(ns string) string {
	if h.cfg.WorkerID != "" {
		return h.cfg.WorkerID
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if id, ok := h.workerIDs[ns]; ok {
		return id
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	for i := range b {
		b[i] = alphabet[h.rng.IntN(len(alphabet))]
	}
	id := fmt.Sprintf("gcs-%s-%d-%s", ns, h.cfg.Clock.Now().UnixMilli(), b[:])
	if len(id) > maxNameLen { // long namespaces: keep the id a valid name
		id = id[len(id)-maxNameLen:]
		id = "g" + strings.TrimLeft(id[1:], ".")
	}
	h.workerIDs[ns] = id
	return id
}

// UseOptions tell Use how to coordinate a plugin.
type UseOptions struct {
	// Mode is Global (default) or PerPlugin.
	Mode Mode
	// Namespace isolates elections (tenants never see each other's leases
	// or workers). Default "default".
	Namespace string
}

// Use registers plugin p under name and starts coordinating it. ctx bounds
// the call only (the first reads of the store); the plugin is coordinated
// until the Subscription or the Hub is closed.
//
// Before anything leads, the Hub checks once that the store honours
// conditional writes (see Config.SkipStoreCheck): a store that does not
// makes Use fail with an error for which errors.Is(err, ErrUnsafeStore)
// holds. A missing bucket or denied access (driver.ErrBucketNotFound,
// driver.ErrAccessDenied) fails Use too: no mode can lead on such a store.
//
// In Global mode Use subscribes p to the namespace's coordinator
// (creating it); when that coordinator cannot start (the store does not
// answer a first read of the namespace lease after 3 attempts), Use logs
// "[<name>] Global coordinator unavailable, falling back to per-plugin
// mode" and runs p in PerPlugin mode (Subscription.Metrics shows
// Mode PerPlugin and FallbackActive). A Subscription that fell back tries the
// namespace coordinator again every LeaseTimeout and, once it starts,
// returns to Global mode by itself (logging "[<name>] Global coordinator
// available again, returning to global mode"): it releases its plugin
// lease and subscribes to the namespace coordinator. Running beside
// Global processes meanwhile is safe (see "Delegated plugin
// leases" in docs/safety.md). Nothing is written for a rejected call (invalid name:
// ErrInvalidName; a name used twice in a namespace:
// ErrAlreadySubscribed; a value that is no plugin, or has a method named
// like an ability with another signature: plugin.ErrNoAbilities, naming
// what it expected).
func (h *Hub) Use(ctx context.Context, name string, p plugin.Plugin, opts UseOptions) (*Subscription, error) {
	if opts.Namespace == "" {
		opts.Namespace = defaultNamespace
	}
	if opts.Mode == "" {
		opts.Mode = Global
	}
	if err := ValidateName("plugin", name); err != nil {
		return nil, err
	}
	if err := ValidateName("namespace", opts.Namespace); err != nil {
		return nil, err
	}
	if err := plugin.Check(p); err != nil {
		return nil, fmt.Errorf("coord: plugin %q: %w", name, err)
	}
	if opts.Mode != Global && opts.Mode != PerPlugin {
		return nil, &ConfigError{Field: "UseOptions.Mode", Rule: fmt.Sprintf("unknown mode %q: Global or PerPlugin", opts.Mode)}
	}
	ns := opts.Namespace
	regKey := ns + "/" + name
	sub := &Subscription{hub: h, name: name, ns: ns, mode: opts.Mode, closing: make(chan struct{}), returned: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if h.subs[regKey] != nil {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %q in namespace %q", ErrAlreadySubscribed, name, ns)
	}
	h.subs[regKey] = sub // reserve the name
	h.mu.Unlock()
	err := h.attach(ctx, sub, p)
	if err != nil {
		h.mu.Lock()
		delete(h.subs, regKey)
		h.mu.Unlock()
		return nil, err
	}
	return sub, nil
}

func (h *Hub) attach(ctx context.Context, sub *Subscription, p plugin.Plugin) error {
	if err := h.ensureStoreChecked(ctx); errors.Is(err, ErrUnsafeStore) || noFallbackCures(err) {
		return err
	}
	if sub.mode == Global {
		var s *slot
		c, err := h.globalCoordinator(ctx, sub.ns, func(c *Coordinator) (err error) {
			s, err = c.subscribe(sub.name, p)
			return err
		})
		switch {
		case err == nil:
			sub.c, sub.s = c, s
			close(sub.returned)
			return nil
		case errors.Is(err, ErrStoreUnavailable):
			h.cfg.Logger.Warn(fmt.Sprintf("[%s] Global coordinator unavailable, falling back to per-plugin mode", sub.name),
				"namespace", sub.ns, "err", err)
			sub.mode, sub.fellBack = PerPlugin, true
		default:
			return err
		}
	}
	c := newCoordinator(h, PerPlugin, sub.ns, sub.name)
	c.fallback = sub.fellBack
	if !sub.fellBack {
		// The first heartbeat's read, now: a missing bucket or denied
		// access fails Use (no mode can cure them).
		switch err := c.lease.poll(ctx); {
		case noFallbackCures(err):
			return fmt.Errorf("%s: %w", c.prefix, err)
		case err == nil:
			c.fresh = true
		}
	}
	s, err := c.subscribe(sub.name, p)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.coords = append(h.coords, c)
	c.start()
	h.mu.Unlock()
	sub.c, sub.s = c, s
	if sub.fellBack {
		go h.returnToGlobal(sub, p)
	} else {
		close(sub.returned)
	}
	return nil
}

// returnToGlobal tries, every LeaseTimeout, to start the namespace
// coordinator for a Subscription that fell back, and moves the plugin
// over once it starts: the per-plugin coordinator stops (releasing the
// plugin lease, which stays the one authority in every mode), then the
// plugin subscribes to the namespace coordinator.
func (h *Hub) returnToGlobal(sub *Subscription, p plugin.Plugin) {
	defer close(sub.returned)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sub.closing:
		case <-h.closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.cfg.Clock.After(h.cfg.LeaseTimeout):
		}
		c, err := h.globalCoordinator(ctx, sub.ns, nil)
		if err != nil {
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		old, _, _ := sub.state()
		if err := old.close(ctx); err != nil {
			h.cfg.Logger.Warn(fmt.Sprintf("[%s] stopping the fallback coordinator", sub.name), "namespace", sub.ns, "err", err)
		}
		h.mu.Lock()
		h.coords = slices.DeleteFunc(h.coords, func(x *Coordinator) bool { return x == old })
		h.mu.Unlock()
		// Switch unless Close has begun: Close, which stops waiting for
		// this return at its bound, then closes what it finds (old).
		sub.mu.Lock()
		if ctx.Err() != nil {
			sub.mu.Unlock()
			return
		}
		sl, err := c.subscribe(sub.name, p)
		if err == nil {
			sub.c, sub.s, sub.mode, sub.fellBack = c, sl, Global, false
		}
		sub.mu.Unlock()
		if err != nil {
			return // the Hub is closing
		}
		h.cfg.Logger.Info(fmt.Sprintf("[%s] Global coordinator available again, returning to global mode", sub.name), "namespace", sub.ns)
		return
	}
}

// GlobalCoordinator returns the namespace's shared coordinator, creating
// and starting it on first use. Starting reads the namespace lease (the
// first heartbeat); when the store does not answer after a few attempts
// it returns an error for which errors.Is(err, ErrStoreUnavailable) holds
// and nothing keeps running.
func (h *Hub) GlobalCoordinator(ctx context.Context, namespace string) (*Coordinator, error) {
	return h.globalCoordinator(ctx, namespace, nil)
}

// globalCoordinator is GlobalCoordinator that also calls subscribe, if not
// nil, on the coordinator before returning it: before its loop starts when
// this call creates it, so that the first heartbeat already sees the
// plugin (and a run replays exactly: internal/sim).
func (h *Hub) globalCoordinator(ctx context.Context, namespace string, subscribe func(*Coordinator) error) (*Coordinator, error) {
	if subscribe == nil {
		subscribe = func(*Coordinator) error { return nil }
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if c := h.globals[namespace]; c != nil {
		h.mu.Unlock()
		return c, subscribe(c)
	}
	h.mu.Unlock()
	c := newCoordinator(h, Global, namespace, "")
	if err := c.probe(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if other := h.globals[namespace]; other != nil {
		h.mu.Unlock()
		return other, subscribe(other) // lost a creation race; ours never started
	}
	if err := subscribe(c); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	h.globals[namespace] = c
	h.coords = append(h.coords, c)
	c.start()
	h.mu.Unlock()
	return c, nil
}

// Coordinators returns every running coordinator: the namespace ones and
// the per-plugin ones.
func (h *Hub) Coordinators() []*Coordinator {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.coords)
}

// Close stops every coordinator: each steps down (cancelling its plugins'
// contexts, its stand-ins' too, as Close begins), releases its lease so a follower takes over at its next
// heartbeat, and deletes its worker record. Like Subscription.Close it
// ignores ctx's cancellation, not its deadline: it returns within
// HeartbeatInterval (or by ctx's deadline, if sooner) whatever the store
// does. Errors are aggregated (github.com/hashicorp/go-multierror).
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.closing)
	coords := slices.Clone(h.coords)
	h.mu.Unlock()
	// The coordinators close side by side; their errors are reported in
	// the order of h.coords, not of completion, so that one history
	// always gives the same error.
	errs := make([]error, len(coords))
	var wg sync.WaitGroup
	for i, c := range coords {
		wg.Go(func() { errs[i] = c.close(ctx) })
	}
	wg.Wait()
	var result *multierror.Error
	for _, err := range errs {
		if err != nil {
			result = multierror.Append(result, err)
		}
	}
	return result.ErrorOrNil()
}

// Subscription is one plugin registered with Use.
type Subscription struct {
	hub      *Hub
	name, ns string
	closing  chan struct{} // closed by Close
	returned chan struct{} // closed when no return to Global mode runs

	mu       sync.Mutex
	mode     Mode
	fellBack bool
	c        *Coordinator
	s        *slot

	once     sync.Once
	closeErr error
}

func (s *Subscription) state() (*Coordinator, *slot, Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c, s.s, s.mode
}

// Name returns the plugin's name.
func (s *Subscription) Name() string { return s.name }

// Namespace returns the plugin's namespace.
func (s *Subscription) Namespace() string { return s.ns }

// Metrics returns a snapshot of the counters of the coordinator that runs
// the plugin now (the namespace's in Global mode, the plugin's own in
// PerPlugin mode and during a fallback, when Metrics.FallbackActive is
// set): it follows the Subscription across a fallback and a return to
// Global mode, so it never goes stale.
func (s *Subscription) Metrics() Metrics {
	c, _, _ := s.state()
	return c.Metrics()
}

// Term returns the current leadership of the plugin by this process, and
// whether this process leads the plugin right now.
func (s *Subscription) Term() (plugin.Term, bool) {
	r, c, _ := s.leading()
	if r == nil || !r.parent.alive(c.clock.Now()) {
		return plugin.Term{}, false
	}
	return r.term, true
}

// Close stops coordinating the plugin: its leadership context is
// cancelled, and once the plugin has returned its lease is released if
// this process held it (Global), or its coordinator stopped (PerPlugin).
// Like Hub.Close it ignores the cancellation of ctx, not its deadline: it
// returns within HeartbeatInterval (or by ctx's deadline, if sooner)
// whatever the store does, on every path (a fallback, a return to Global
// mode in progress, a plugin led by a stand-in), and the leadership ends
// as it begins. The name may then be used again.
func (s *Subscription) Close(ctx context.Context) error {
	s.once.Do(func() {
		// One bound for the whole Close, whichever path it takes.
		c, _, _ := s.state()
		cctx, cancel := c.closeContext(ctx)
		defer cancel()
		close(s.closing)
		select {
		case <-s.returned: // a return to Global mode is done, or stops without switching
		case <-cctx.Done(): // it is stopping the fallback coordinator: closed below too
		}
		s.closeErr = s.stop(cctx)
		s.hub.mu.Lock()
		if s.hub.subs[s.ns+"/"+s.name] == s {
			delete(s.hub.subs, s.ns+"/"+s.name)
		}
		s.hub.mu.Unlock()
	})
	return s.closeErr
}

// stop lets go of the plugin within cctx, the bound of Close: it
// unsubscribes it from the namespace coordinator (Global) or stops its
// coordinator (PerPlugin).
func (s *Subscription) stop(cctx context.Context) error {
	c, sl, mode := s.state()
	if mode != Global {
		err := c.closeWithin(cctx)
		s.hub.mu.Lock()
		s.hub.coords = slices.DeleteFunc(s.hub.coords, func(x *Coordinator) bool { return x == c })
		s.hub.mu.Unlock()
		return err
	}
	if _, err := c.unsubscribe(s.name); err != nil {
		if c.isStopping() { // after Hub.Close there is nothing left to do
			return nil
		}
		return err
	}
	select {
	case <-sl.gone:
	case <-c.done:
	case <-cctx.Done():
		return fmt.Errorf("%s: closing %s: %w", c.prefix, s.name, deadline.Cause(cctx))
	}
	return nil
}

// noFallbackCures reports whether err is one that per-plugin mode cannot
// cure either: its leases live under the same root with the same
// permissions.
func noFallbackCures(err error) bool {
	return errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrAccessDenied)
}
