package coord

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/s3coord/coord/driver"
)

// Rule is a rule of conditional writes that the store check (CheckStore)
// checks, or that the engine saw the store break while running. It is
// the error that names the broken rule: the error of an unsafe store
// satisfies both errors.Is(err, ErrUnsafeStore) and errors.Is(err, rule),
// and errors.As(err, &rule) tells which rule it is.
type Rule string

func (r Rule) Error() string { return string(r) }

// Rules of conditional writes. The store check also needs IfAbsent on a
// missing key and IfMatch on the current version to succeed; a store that
// fails those is not proven unsafe, and the check says it was
// inconclusive.
const (
	ruleIfAbsentCreates      Rule = "IfAbsent on a missing key must succeed"
	RuleIfAbsentExisting     Rule = "IfAbsent on an existing key must fail"
	ruleIfMatchCurrent       Rule = "IfMatch on the current version must succeed"
	RuleIfMatchStale         Rule = "IfMatch on a replaced version must fail"
	RuleIfMatchMissing       Rule = "IfMatch on a missing key must fail"
	RuleOneHolderPerEpoch    Rule = "a lease epoch has one holder"
	RuleEpochsIncrease       Rule = "a lease's epoch never goes down"
	RuleReplacedVersionStays Rule = "a write conditioned on a replaced version must fail"
)

// unsafeStore is the error of a store that broke rule on key.
func unsafeStore(rule Rule, key string) error {
	return fmt.Errorf("%w: %w (key %q)", ErrUnsafeStore, rule, key)
}

// CheckStore checks that store honours conditional writes, on two scratch
// keys under root (<root>_check/…) that it deletes afterwards: IfAbsent
// creates a missing key and fails on an existing one; IfMatch succeeds on
// the current version and fails on a replaced one and on a missing key.
// A store that lets a write through that must fail gives an error for
// which errors.Is(err, ErrUnsafeStore) holds, naming the Rule; a
// store that cannot be asked (unreachable, no bucket, access denied) gives
// its storage error, and a write that should succeed but lost its
// precondition (S3's 409 to concurrent conditional writes) an error
// saying the check was inconclusive. Each request is bounded like an
// operator's (30 s, or ctx's deadline if sooner).
//
// A Hub runs this check before it leads anything on its store (see
// Config.SkipStoreCheck), at most once an hour while it passes: 6
// requests (5 PUTs and 1 DELETE) on a store that passes.
func CheckStore(ctx context.Context, store driver.Store, root string) error {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return checkStore(ctx, operatorStore(store), root, hex.EncodeToString(b[:]))
}

// checkStore is CheckStore on the scratch keys named by token.
func checkStore(ctx context.Context, store driver.Store, root, token string) (err error) {
	if root == "" {
		root = defaultRoot
	}
	key := root + "_check/" + token + ".json"
	missing := root + "_check/" + token + "-missing.json"
	body := func(step int) []byte { return fmt.Appendf(nil, `{"check":%q,"step":%d}`, token, step) }
	created := []string{}
	defer func() {
		if derr := removeScratch(ctx, store, created); err == nil {
			err = derr
		}
	}()

	// A lost precondition where the write should succeed is no proof:
	// S3 answers 409 to concurrent conditional writes (ErrPrecondition).
	inconclusive := func(rule Rule, err error) error {
		return fmt.Errorf("coord: store check inconclusive: %s: %w", rule, err)
	}
	v1, err := store.Put(ctx, key, body(1), driver.IfAbsent())
	switch {
	case errors.Is(err, driver.ErrPrecondition):
		return inconclusive(ruleIfAbsentCreates, err)
	case err != nil:
		return err
	}
	created = append(created, key)
	if _, err = store.Put(ctx, key, body(2), driver.IfAbsent()); err == nil {
		return unsafeStore(RuleIfAbsentExisting, key)
	} else if !errors.Is(err, driver.ErrPrecondition) {
		return err
	}
	if _, err = store.Put(ctx, key, body(3), driver.IfMatch(v1)); errors.Is(err, driver.ErrPrecondition) {
		return inconclusive(ruleIfMatchCurrent, err)
	} else if err != nil {
		return err
	}
	if _, err = store.Put(ctx, key, body(4), driver.IfMatch(v1)); err == nil {
		return unsafeStore(RuleIfMatchStale, key)
	} else if !errors.Is(err, driver.ErrPrecondition) {
		return err
	}
	if _, err = store.Put(ctx, missing, body(5), driver.IfMatch(v1)); err == nil {
		created = append(created, missing)
		return unsafeStore(RuleIfMatchMissing, missing)
	} else if !errors.Is(err, driver.ErrPrecondition) {
		return err
	}
	return nil
}

// removeScratch deletes the check's scratch keys, even once ctx is done,
// and returns the first failure (a key already gone is no failure).
func removeScratch(ctx context.Context, store driver.Store, keys []string) (err error) {
	for _, k := range keys {
		if derr := store.Delete(context.WithoutCancel(ctx), k, driver.None); derr != nil && err == nil && !errors.Is(derr, driver.ErrNotFound) {
			err = fmt.Errorf("coord: store check: removing %s: %w", k, derr)
		}
	}
	return err
}

// storeCheck is a Hub's state of CheckStore: run once before anything
// leads, again after the store was seen breaking a rule. Its lock is never
// held across a request (a check in progress is waited for on running).
type storeCheck struct {
	mu      sync.Mutex
	passed  bool
	running chan struct{} // closed when the check in progress ends
	tried   time.Time     // when the last check ended (zero: none since a failure was seen)
	lastErr error
	// gen counts the store's broken rules seen while running; a
	// leadership that began under an older gen ends.
	gen uint64
	// The unsafe-store notice (see unsafeNoticeKey): the version of it
	// this Hub knows (known: read or written since the last check passed).
	noticeKnown   bool
	noticeVersion string
}

// unsafeNoticeKey is the record a Hub writes under root when it sees the
// store break a rule (Hub.storeBroke): every leading coordinator of every
// Hub on the root reads it once per LeaseTimeout (Hub.checkNotice), so
// that a history
// only a follower saw (two holders of one epoch, say) ends the leaderships
// of other processes too, whose own reads may show nothing wrong.
func unsafeNoticeKey(root string) string {
	if root == "" {
		root = defaultRoot
	}
	return root + "_unsafe.json"
}

// unsafeNotice is the body of the notice.
type unsafeNotice struct {
	Rule   string    `json:"rule"`
	Detail string    `json:"detail"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// storeCheckEvery is how often, in LeaseTimeouts, a check that found the
// store unsafe is tried again (one that could not finish is tried again at
// the next attempt to lead).
const storeCheckEvery = 1

// storeRecheckPeriod is how long a passed store check lasts: the first
// attempt to lead after it (a Use, a takeover) runs the check again, so a
// store that stopped honouring conditions is refused before anything new
// leads on it. At most 6 requests (CheckStore) per Hub per period.
const storeRecheckPeriod = time.Hour

// ensureStoreChecked runs the Hub's store check unless it passed (or is
// skipped); callers at the same time share one check. It returns nil when
// leading is allowed.
func (h *Hub) ensureStoreChecked(ctx context.Context) error {
	if h.cfg.SkipStoreCheck {
		return nil
	}
	sc := &h.check
	for {
		sc.mu.Lock()
		switch {
		case sc.passed && h.cfg.Clock.Now().Sub(sc.tried) < storeRecheckPeriod:
			sc.mu.Unlock()
			return nil
		case sc.running != nil:
			ch := sc.running
			sc.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		case errors.Is(sc.lastErr, ErrUnsafeStore) && h.cfg.Clock.Now().Sub(sc.tried) < storeCheckEvery*h.cfg.LeaseTimeout:
			err := sc.lastErr
			sc.mu.Unlock()
			return err
		}
		ch := make(chan struct{})
		sc.running = ch
		sc.mu.Unlock()
		err := checkStore(ctx, h.checkStore, h.cfg.Root, fmt.Sprintf("%016x", h.seedFor("check")))
		if err == nil {
			h.noticeBaseline(ctx)
		}
		err = sc.ended(err, h.cfg.Clock.Now())
		close(ch)
		if errors.Is(err, ErrUnsafeStore) {
			h.cfg.Logger.Error("coord: the store does not honour conditional writes; nothing leads on it", "root", h.cfg.Root, "err", err)
		} else if err != nil {
			h.cfg.Logger.Warn("coord: store check could not run", "root", h.cfg.Root, "err", err)
		}
		return err
	}
}

// ended records the result err of the check that ran, ended at now, and
// returns it (nil for a re-check that could not run: the pass holds, and
// is tried again at the next attempt to lead).
func (sc *storeCheck) ended(err error, now time.Time) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.running = nil
	switch {
	case sc.passed && err != nil && !errors.Is(err, ErrUnsafeStore):
		return nil
	case sc.passed && err != nil:
		sc.gen++ // a re-check failed: whatever leads steps down
	}
	sc.tried, sc.lastErr, sc.passed = now, err, err == nil
	return err
}

// storeGen reports the Hub's count of broken rules seen, and whether the
// store check allows leading.
func (h *Hub) storeGen() (uint64, bool) {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	return h.check.gen, h.check.passed || h.cfg.SkipStoreCheck
}

// storeErr is the broken rule last seen (ErrUnsafeStore when none is
// recorded).
func (h *Hub) storeErr() error {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	if h.check.lastErr != nil && errors.Is(h.check.lastErr, ErrUnsafeStore) {
		return h.check.lastErr
	}
	return ErrUnsafeStore
}

// storeBroke records that the store broke a rule while running: every
// coordinator of the Hub steps down, and none leads again before the
// store check passes again. The first rule seen broken since the check
// passed is posted in the unsafe-store notice, for the other Hubs on the
// root (one PUT, unconditional: conditions are what the store may not
// honour now).
func (h *Hub) storeBroke(prefix string, err error) {
	if h.broke(prefix, err) {
		h.postNotice(err)
	}
}

// broke is storeBroke without the notice; it reports whether the store
// check had passed (or is skipped) until now.
func (h *Hub) broke(prefix string, err error) bool {
	h.check.mu.Lock()
	first := h.check.passed || h.cfg.SkipStoreCheck
	h.check.gen++
	h.check.passed, h.check.tried, h.check.lastErr = false, time.Time{}, err
	h.check.mu.Unlock()
	h.cfg.Logger.Error(prefix+" the store broke a rule of conditional writes; stepping down until the store check passes again", "err", err)
	h.mu.Lock()
	coords := slices.Clone(h.coords)
	h.mu.Unlock()
	for _, c := range coords {
		c.endTerm(err)
	}
	return first
}

// postNotice writes the unsafe-store notice for err.
func (h *Hub) postNotice(err error) {
	n := unsafeNotice{Detail: err.Error(), By: h.cfg.WorkerID, At: h.cfg.Clock.Now().UTC()}
	var rule Rule
	if errors.As(err, &rule) {
		n.Rule = string(rule)
	}
	body, _ := json.Marshal(n)
	v, perr := h.checkStore.Put(context.Background(), unsafeNoticeKey(h.cfg.Root), body, driver.None)
	if perr != nil {
		h.cfg.Logger.Warn("coord: writing the unsafe-store notice", "err", perr)
		return
	}
	h.check.mu.Lock()
	h.check.noticeKnown, h.check.noticeVersion = true, v // ours: no news to this Hub
	h.check.mu.Unlock()
}

// noticeBaseline reads the notice as a store check passes: what it says
// then is known (handled by this check); a later version is news. When
// the read fails, the first read by a leader sets the baseline.
func (h *Hub) noticeBaseline(ctx context.Context) {
	v, _, err := readNotice(ctx, h.checkStore, h.cfg.Root)
	h.check.mu.Lock()
	h.check.noticeKnown, h.check.noticeVersion = err == nil, v
	h.check.mu.Unlock()
}

// readNotice returns the notice's version ("" when missing) and the rule
// it names.
func readNotice(ctx context.Context, store driver.Store, root string) (version, rule string, err error) {
	obj, err := store.Get(ctx, unsafeNoticeKey(root))
	switch {
	case errors.Is(err, driver.ErrNotFound):
		return "", "", nil
	case err != nil:
		return "", "", err
	}
	var n unsafeNotice
	if json.Unmarshal(obj.Data, &n) != nil || n.Rule == "" {
		n.Rule = "a rule of conditional writes" // unreadable: still news
	}
	return obj.Version, n.Rule, nil
}

// checkNotice is a leading coordinator's read of the unsafe-store notice,
// due at *next, then once per LeaseTimeout (one GET): a version this Hub
// does not know means another process saw the store break a rule, and
// ends every leadership of the Hub as storeBroke does (no notice again).
func (h *Hub) checkNotice(ctx context.Context, store driver.Store, prefix string, next *time.Time) {
	now := h.cfg.Clock.Now()
	if now.Before(*next) {
		return
	}
	*next = now.Add(h.cfg.LeaseTimeout)
	sc := &h.check
	v, rule, err := readNotice(ctx, store, h.cfg.Root)
	if err != nil {
		return // read again when next due
	}
	sc.mu.Lock()
	news := sc.noticeKnown && v != sc.noticeVersion
	sc.noticeKnown, sc.noticeVersion = true, v
	sc.mu.Unlock()
	if news {
		key := unsafeNoticeKey(h.cfg.Root)
		h.broke(prefix, fmt.Errorf("%w: another process saw the store break it (notice version %s)", unsafeStore(Rule(rule), key), v))
	}
}
