package conformance_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

// The suite is only worth something if it fails when a driver breaks the
// contract. TestSuiteCatchesBrokenStores runs the suite in a child process
// against mem wrapped so that it breaks exactly one rule, and checks that
// the subtest named for that rule fails. The controls (a faithful wrapper,
// with and without conditional delete) must pass the whole suite, so the
// failures come from the broken rule, not from the wrapper.

const ruleEnv = "COORD_BROKEN_RULE"

// brokenRules maps each way of breaking the contract to the subtest that
// must catch it.
var brokenRules = map[string]string{
	"ifmatch-ignored":            "Put/IfMatch",
	"ifmatch-missing-notfound":   "Put/IfMatchMissing",
	"ifabsent-ignored":           "Put/IfAbsent",
	"version-unchanged":          "Put/None",
	"getversion-differs":         "Put/None",
	"conditional-delete-ignored": "Delete/IfMatch",
	"unsupported-delete-deletes": "Delete/IfMatch",
	"delete-ifabsent-deletes":    "Delete/IfAbsent",
	"capability-misreported":     "Capabilities/Report",
	"ifabsent-check-then-act":    "Race/IfAbsent",
	"ifmatch-check-then-act":     "Race/IfMatch",
	"stale-read":                 "Linearizability/History",
	"notfound-not-normalised":    "Get/Missing",
	"error-not-wrapped":          "Get/Missing",
	"error-wrong-op":             "Get/Missing",
	"list-unsorted":              "List/ByteOrder",
	"list-truncated-at-page":     "List/Pagination",
	"list-ignores-prefix":        "List/Prefix",
	"list-no-servertime":         "List/ServerTime",
	"list-servertime-stale":      "List/ServerTime",
	"list-wrong-size":            "List/Entries",
	"no-key-validation":          "Keys/Invalid",
	"invalid-key-not-wrapped":    "Keys/Invalid",
	"counts-invalid-keys":        "Keys/Invalid",
	"no-read-cap":                "Read/TooLarge",
	"read-cap-off-by-one":        "Read/AtCap",
	"ignores-context":            "Context/Canceled",
	"ignores-deadline":           "Context/DeadlineExceeded",
	"close-noop":                 "Close/ErrClosed",
	"counts-only-successes":      "Requests/Counts",
	"counts-nothing-for-delete":  "Requests/Counts",
	"counts-twice-per-list":      "Requests/Counts",
}

// controls must pass the whole suite.
var controls = []string{"none", "none-without-conditional-delete"}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	if os.Getenv(ruleEnv) != "" {
		t.Skip("child process")
	}
	for _, rule := range controls {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			out, err := runChild(t, rule, "^TestBrokenStore$")
			if err != nil {
				t.Errorf("the suite fails against the faithful wrapper %q: %v\n%s", rule, err, out)
			}
		})
	}
	for rule, subtest := range brokenRules {
		t.Run(rule, func(t *testing.T) {
			t.Parallel()
			g, c, _ := strings.Cut(subtest, "/")
			out, err := runChild(t, rule, "^TestBrokenStore$/^"+regexp.QuoteMeta(g)+"$/^"+regexp.QuoteMeta(c)+"$")
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("rule %q: the suite did not fail (err %v):\n%s", rule, err, out)
			}
			if want := "--- FAIL: TestBrokenStore/" + subtest + " "; !strings.Contains(out, want) {
				t.Errorf("rule %q: output does not contain %q:\n%s", rule, want, out)
			}
		})
	}
}

func runChild(t *testing.T, rule, pattern string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), ruleEnv+"="+rule)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBrokenStore is the child: the suite against the store broken by the
// rule in the environment.
func TestBrokenStore(t *testing.T) {
	rule := os.Getenv(ruleEnv)
	if rule == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	if _, ok := brokenRules[rule]; !ok && !slices.Contains(controls, rule) {
		t.Fatalf("unknown rule %q", rule)
	}
	conformance.Run(t, brokenHarness{rule: rule})
}

const testMaxRead = 4096

type brokenHarness struct{ rule string }

func (h brokenHarness) Options() conformance.Options {
	return conformance.Options{ConditionalDelete: h.conditionalDelete(), MaxRead: testMaxRead}
}

func (h brokenHarness) conditionalDelete() bool {
	return h.rule != "none-without-conditional-delete" && h.rule != "unsupported-delete-deletes" && h.rule != "invalid-key-not-wrapped"
}

func (h brokenHarness) MakeStore(context.Context, *testing.T) (driver.Store, error) {
	maxRead := int64(testMaxRead)
	switch h.rule {
	case "no-read-cap":
		maxRead = 1 << 30
	case "read-cap-off-by-one":
		maxRead = testMaxRead - 1
	}
	return &brokenStore{
		Store:   mem.New(mem.Options{MaxRead: maxRead}),
		rule:    h.rule,
		condDel: h.conditionalDelete(),
		cache:   map[string]driver.Object{},
	}, nil
}

// brokenStore is mem with one rule broken.
type brokenStore struct {
	*mem.Store
	rule    string
	condDel bool

	mu       sync.Mutex
	cache    map[string]driver.Object // stale-read
	gets     int
	failures uint64 // counts-only-successes
	deletes  uint64 // counts-nothing-for-delete
	lists    uint64 // counts-twice-per-list
	invalid  uint64 // counts-invalid-keys
}

func (b *brokenStore) ctx(ctx context.Context) context.Context {
	if b.rule == "ignores-context" && errors.Is(ctx.Err(), context.Canceled) ||
		b.rule == "ignores-deadline" && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return context.Background()
	}
	return ctx
}

// invalidKey reports (and, for some rules, mishandles) an invalid key.
func (b *brokenStore) invalidKey(key string, validate func(string) error) bool {
	if validate(key) == nil {
		return false
	}
	switch b.rule {
	case "no-key-validation":
		return true
	case "counts-invalid-keys":
		b.mu.Lock()
		b.invalid++
		b.mu.Unlock()
	}
	return false
}

func (b *brokenStore) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.invalidKey(key, driver.ValidateKey) {
		return driver.Object{Key: key, Data: []byte("?"), Version: "1"}, nil
	}
	o, err := b.Store.Get(b.ctx(ctx), key)
	switch {
	case b.rule == "notfound-not-normalised" && errors.Is(err, driver.ErrNotFound):
		return o, &driver.OpError{Op: "get", Key: key, Err: errors.New("NoSuchKey: 404")}
	case b.rule == "error-not-wrapped" && errors.Is(err, driver.ErrNotFound):
		return o, driver.ErrNotFound
	case b.rule == "error-wrong-op" && errors.Is(err, driver.ErrNotFound):
		return o, driver.Wrap("read", key, driver.ErrNotFound, nil)
	case b.rule == "getversion-differs" && err == nil:
		o.Version = "v" + o.Version
	case b.rule == "stale-read":
		b.mu.Lock()
		defer b.mu.Unlock()
		b.gets++
		if old, ok := b.cache[key]; ok && b.gets%2 == 0 {
			return old, nil
		}
		if err == nil {
			b.cache[key] = o
		}
	}
	return o, err
}

func (b *brokenStore) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	if b.invalidKey(key, driver.ValidateKey) {
		return "1", nil
	}
	ctx = b.ctx(ctx)
	_, ifMatch := cond.Match()
	switch {
	case b.rule == "ifmatch-ignored" && ifMatch, b.rule == "ifabsent-ignored" && cond.IsIfAbsent():
		cond = driver.None
	case b.rule == "ifmatch-missing-notfound" && ifMatch:
		if _, err := b.Store.Get(ctx, key); errors.Is(err, driver.ErrNotFound) {
			return "", driver.Wrap("put", key, driver.ErrNotFound, nil)
		}
	case b.rule == "ifabsent-check-then-act" && cond.IsIfAbsent(),
		b.rule == "ifmatch-check-then-act" && ifMatch:
		// Check, then act: the gap lets racing writers all pass the check.
		o, err := b.Store.Get(ctx, key)
		exists := err == nil
		if !cond.Holds(exists, o.Version) {
			return "", driver.Wrap("put", key, driver.ErrPrecondition, nil)
		}
		time.Sleep(time.Millisecond)
		cond = driver.None
	}
	v, err := b.Store.Put(ctx, key, data, cond)
	if b.rule == "version-unchanged" && err == nil {
		return "constant", nil
	}
	if err != nil && b.rule == "counts-only-successes" {
		b.mu.Lock()
		b.failures++
		b.mu.Unlock()
	}
	return v, err
}

func (b *brokenStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if b.invalidKey(key, driver.ValidateKey) {
		return nil
	}
	ctx = b.ctx(ctx)
	if b.rule == "counts-nothing-for-delete" {
		b.mu.Lock()
		b.deletes++
		b.mu.Unlock()
	}
	_, ifMatch := cond.Match()
	switch {
	case b.rule == "conditional-delete-ignored" && ifMatch, b.rule == "delete-ifabsent-deletes" && cond.IsIfAbsent():
		cond = driver.None
	case !b.condDel && ifMatch:
		if err := driver.ValidateKey(key); err != nil {
			if b.rule == "invalid-key-not-wrapped" {
				return err
			}
			return driver.Wrap("delete", key, nil, err)
		}
		if b.rule == "unsupported-delete-deletes" {
			_ = b.Store.Delete(ctx, key, driver.None)
		}
		return driver.Wrap("delete", key, driver.ErrUnsupported, nil)
	}
	return b.Store.Delete(ctx, key, cond)
}

func (b *brokenStore) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	if b.invalidKey(prefix, driver.ValidatePrefix) {
		return driver.ListResult{ServerTime: time.Now()}, nil
	}
	if b.rule == "list-ignores-prefix" {
		prefix = ""
	}
	if b.rule == "counts-twice-per-list" {
		b.mu.Lock()
		b.lists++
		b.mu.Unlock()
	}
	res, err := b.Store.List(b.ctx(ctx), prefix)
	switch b.rule {
	case "list-unsorted":
		slices.SortFunc(res.Entries, func(x, y driver.Entry) int { return strings.Compare(strings.ToLower(x.Key), strings.ToLower(y.Key)) })
	case "list-truncated-at-page":
		res.Entries = res.Entries[:min(len(res.Entries), 1000)]
	case "list-no-servertime":
		res.ServerTime = time.Time{}
	case "list-servertime-stale":
		res.ServerTime = res.ServerTime.Add(-time.Minute)
	case "list-wrong-size":
		for i := range res.Entries {
			res.Entries[i].Size++
		}
	}
	return res, err
}

func (b *brokenStore) Capabilities() driver.Capabilities {
	c := b.Store.Capabilities()
	c.ConditionalDelete = b.condDel
	c.MaxRead = testMaxRead
	if b.rule == "capability-misreported" {
		c.ConditionalDelete = !c.ConditionalDelete
	}
	return c
}

func (b *brokenStore) Close() error {
	if b.rule == "close-noop" {
		return nil
	}
	return b.Store.Close()
}

func (b *brokenStore) Requests() driver.Counts {
	c := b.Store.Requests()
	b.mu.Lock()
	defer b.mu.Unlock()
	c.Put -= b.failures
	c.Delete -= min(c.Delete, b.deletes)
	c.List += b.lists
	c.Get += b.invalid
	return c
}

// Compile-time check that the wrapper is a full store.
var _ driver.RequestCounter = (*brokenStore)(nil)
