// Package conformance is the one test suite every driver.Store passes.
//
// A driver's test file is a small private harness plus one test:
//
//	type harness struct{}
//
//	func (harness) MakeStore(ctx context.Context, t *testing.T) (driver.Store, error) {
//		return mem.New(mem.Options{}), nil
//	}
//
//	func (harness) Options() conformance.Options {
//		return conformance.Options{ConditionalDelete: true}
//	}
//
//	func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }
//
// The suite pins the contract written in package driver: the semantics of
// each condition, normalised and wrapped errors, exactly one winner of a
// 32-way race, linearizable concurrent histories (checked with porcupine),
// listing in key order past one page, server time, key validation, the read
// cap, context cancellation, Close, and request accounting. Every rule is
// its own named subtest (for example "Put/IfMatch" or "List/ServerTime"),
// so a failure names the rule that broke.
//
// The suite is written to be affordable against real servers: every subtest
// gets a fresh store, does few requests, and writes the >1,000 keys of the
// pagination test with bounded parallelism.
package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/s3coord/coord/driver"
)

// Harness makes stores for the suite.
type Harness interface {
	// MakeStore must return a fresh, empty, isolated store: List("") on it
	// returns nothing, and nothing written through it is visible to any
	// other store the harness made (for a real server: a new bucket or a
	// new unique key prefix). ctx is valid only during the call. The suite
	// closes the store when the subtest ends; MakeStore may register
	// t.Cleanup to remove what the store wrote (it runs after that Close).
	// The store must be configured as Options describes (same read cap).
	MakeStore(ctx context.Context, t *testing.T) (driver.Store, error)

	// Options describes what the suite must expect of the stores MakeStore
	// returns. It is called once per Run.
	Options() Options
}

// Options describe the stores a Harness makes. The zero value describes an
// exact local store (mem, bolt) without conditional delete, with the default
// read cap.
type Options struct {
	// ConditionalDelete is the expected Capabilities().ConditionalDelete.
	// The suite checks that the store reports it and behaves accordingly:
	// with it, a stale conditional delete fails with ErrPrecondition and
	// deletes nothing; without it, every conditional delete fails with
	// ErrUnsupported and deletes nothing.
	ConditionalDelete bool

	// MaxRead is the read cap the store was opened with; 0 means
	// driver.DefaultMaxRead. The suite checks Capabilities().MaxRead
	// against it and writes MaxRead+1 bytes to test the cap, so a small
	// cap makes the suite cheaper.
	MaxRead int64

	// ClockSkew is how far the store's server time may stray from the
	// local clock: List's ServerTime and the Modified time of objects must
	// lie within [start of call - ClockSkew, end of call + ClockSkew].
	// 0 for local stores; about 2s for a server on loopback (HTTP Date has
	// a resolution of one second).
	ClockSkew time.Duration

	// MaxAttempts is the most requests the store may send for one call
	// (an SDK's retries, each of which is counted). 0 or 1 means exactly
	// one request per call: the suite then checks request counts exactly;
	// otherwise it checks calls <= counted <= calls*MaxAttempts.
	MaxAttempts int

	// Skip names rules ("Group/Rule", for example
	// "Linearizability/History") the suite skips, each with its reason.
	// It is for documented server defects only, never for driver bugs;
	// the reason is printed with the skip.
	Skip map[string]string
}

func (o Options) maxRead() int64 {
	if o.MaxRead <= 0 {
		return driver.DefaultMaxRead
	}
	return o.MaxRead
}

// T is what a rule reports to. *testing.T satisfies it: the suite runs
// each rule as a subtest. Probe satisfies it with a recorder, so that a
// rule checked on a live store (coordctl check) is the same code as the
// suite's. Fatalf and Skipf must not return (runtime.Goexit, as in
// package testing); Errorf and Logf must be safe for concurrent use.
type T interface {
	Helper()
	Context() context.Context
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
}

// rules are the rule checks, shared by Run and Probe. Each rule gets a
// fresh store (or a fresh prefix of one) and must leave it empty or
// deletable: whoever runs the rule removes what is left.
type rules struct {
	opts      Options
	raceWidth int
	// raceRounds is how many rounds each race rule runs (at least 1),
	// each on a fresh key.
	raceRounds int
	// onRound, when set, is told the duration of every race round: from
	// the writers' release until the last one has its answer.
	onRound func(time.Duration)
}

// Run runs the whole suite against the stores h makes, one subtest per
// rule.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h, rules: rules{opts: h.Options(), raceWidth: raceWidth}}
	for _, g := range s.groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					if why, ok := s.opts.Skip[g.name+"/"+c.name]; ok {
						t.Skip("known server defect: " + why)
					}
					c.fn(t)
				})
			}
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T)
}

type group struct {
	name  string
	cases []testCase
}

// on runs a rule on a fresh store of the harness.
func (s *suite) on(rule func(T, driver.Store)) func(*testing.T) {
	return func(t *testing.T) { rule(t, s.store(t)) }
}

func (s *suite) groups() []group {
	return []group{
		{"Capabilities", []testCase{
			{"Report", s.on(s.testCapabilities)},
		}},
		{"Get", []testCase{
			{"Missing", s.on(s.testGetMissing)},
		}},
		{"Put", []testCase{
			{"None", s.on(s.testPutNone)},
			{"IfAbsent", s.on(s.testPutIfAbsent)},
			{"IfMatch", s.on(s.testPutIfMatch)},
			{"IfMatchMissing", s.on(s.testPutIfMatchMissing)},
		}},
		{"Delete", []testCase{
			{"None", s.on(s.testDeleteNone)},
			{"IfAbsent", s.on(s.testDeleteIfAbsent)},
			{"IfMatch", s.on(s.testDeleteIfMatch)},
		}},
		{"Race", []testCase{
			{"IfAbsent", s.on(s.testRaceIfAbsent)},
			{"IfMatch", s.on(s.testRaceIfMatch)},
			{"DeleteIfMatch", s.on(s.testRaceDeleteIfMatch)},
		}},
		{"Linearizability", []testCase{
			{"History", s.on(s.testLinearizable)},
		}},
		{"List", []testCase{
			{"Empty", s.on(s.testListEmpty)},
			{"Entries", s.on(s.testListEntries)},
			{"Prefix", s.on(s.testListPrefix)},
			{"ByteOrder", s.on(s.testListByteOrder)},
			{"Pagination", s.on(s.testListPagination)},
			{"ServerTime", s.on(s.testListServerTime)},
		}},
		{"Keys", []testCase{
			{"Invalid", s.on(s.testInvalidKeys)},
			{"Valid", s.on(s.testValidKeys)},
		}},
		{"Read", []testCase{
			{"AtCap", s.on(s.testReadAtCap)},
			{"TooLarge", s.on(s.testReadTooLarge)},
		}},
		{"Context", []testCase{
			{"Canceled", s.on(s.testContextCanceled)},
			{"DeadlineExceeded", s.on(s.testContextDeadline)},
		}},
		{"Close", []testCase{
			{"ErrClosed", s.on(s.testClose)},
		}},
		{"Requests", []testCase{
			{"Counts", s.on(s.testRequestCounts)},
		}},
		{"BadInput", []testCase{
			{"MissingBucket", s.testMissingBucket},
			{"BadCredentials", s.testBadCredentials},
			{"Unreachable", s.testUnreachable},
		}},
	}
}

type suite struct {
	rules
	h Harness
}

// store returns a fresh store from the harness. When t ends the suite
// deletes every object left in it, checks that none remains (the suite
// leaves nothing behind, which the harness's own cleanup may verify at
// the level of its bucket), and closes it.
func (s *suite) store(t *testing.T) driver.Store {
	t.Helper()
	st, err := s.h.MakeStore(t.Context(), t)
	if err != nil {
		t.Fatalf("MakeStore: %v", err)
	}
	if st == nil {
		t.Fatal("MakeStore returned a nil store")
	}
	t.Cleanup(func() { _ = st.Close() })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		left, err := Empty(ctx, st, "")
		switch {
		case errors.Is(err, driver.ErrClosed):
			// The rule closed the store, after deleting what it wrote.
		case err != nil:
			t.Errorf("cleanup: %v", err)
		case left != 0:
			t.Errorf("cleanup: %d objects left in the store after deleting everything listed", left)
		}
	})
	return st
}

// cleanupTimeout bounds the removal of what one rule wrote.
const cleanupTimeout = 2 * time.Minute

// Empty deletes every object under prefix in st (unconditionally, with
// bounded parallelism), then lists prefix again and returns how many
// objects are left: 0 unless someone else writes there, or deletes are
// refused.
func Empty(ctx context.Context, st driver.Store, prefix string) (left int, err error) {
	res, err := st.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, writeParallelism)
	for _, e := range res.Entries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := st.Delete(ctx, e.Key, driver.None); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	res, err = st.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	return len(res.Entries), nil
}

// put writes and fails the test on error.
func put(t T, st driver.Store, key string, data []byte, cond driver.Condition) string {
	t.Helper()
	v, err := st.Put(t.Context(), key, data, cond)
	if err != nil {
		t.Fatalf("Put(%q, %s): %v", key, cond, err)
	}
	if v == "" {
		t.Fatalf("Put(%q, %s) returned an empty version", key, cond)
	}
	return v
}

// get reads and fails the test on error.
func get(t T, st driver.Store, key string) driver.Object {
	t.Helper()
	o, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return o
}

// wantObject checks that key holds data at version.
func wantObject(t T, st driver.Store, key string, data []byte, version string) {
	t.Helper()
	o := get(t, st, key)
	if string(o.Data) != string(data) {
		t.Errorf("Get(%q) data = %q, want %q", key, short(o.Data), short(data))
	}
	if o.Version != version {
		t.Errorf("Get(%q) version = %q, want %q (the version the last successful write returned)", key, o.Version, version)
	}
	if o.Key != key {
		t.Errorf("Get(%q) Object.Key = %q", key, o.Key)
	}
}

// wantMissing checks that key does not exist.
func wantMissing(t T, st driver.Store, key string) {
	t.Helper()
	o, err := st.Get(t.Context(), key)
	if err == nil {
		t.Errorf("Get(%q) = %q (version %q), want ErrNotFound", key, short(o.Data), o.Version)
		return
	}
	if !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Get(%q): %v, want an error for which errors.Is(err, driver.ErrNotFound) holds", key, err)
	}
}

// wantErr checks that err satisfies errors.Is(err, kind) and is wrapped
// exactly once in a *driver.OpError carrying op and key.
func wantErr(t T, err, kind error, op, key string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s %q: nil error, want an error for which errors.Is(err, %v) holds", op, key, kind)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s %q: %v, want an error for which errors.Is(err, %v) holds", op, key, err, kind)
	}
	checkWrapped(t, err, op, key)
}

// checkWrapped checks that err is wrapped exactly once in a
// *driver.OpError carrying op and key.
func checkWrapped(t T, err error, op, key string) {
	t.Helper()
	var oe *driver.OpError
	if !errors.As(err, &oe) {
		t.Errorf("%s %q: error %v (%T) is not wrapped in a *driver.OpError", op, short([]byte(key)), err, err)
		return
	}
	if oe.Op != op || oe.Key != key {
		t.Errorf("%s %q: OpError has Op=%q Key=%q, want Op=%q and the key as given", op, short([]byte(key)), oe.Op, short([]byte(oe.Key)), op)
	}
	var inner *driver.OpError
	if errors.As(oe.Err, &inner) {
		t.Errorf("%s %q: error %v is wrapped in more than one *driver.OpError", op, short([]byte(key)), err)
	}
}

// within checks lo-skew <= got <= hi+skew.
func within(got, lo, hi time.Time, skew time.Duration) bool {
	return !got.Before(lo.Add(-skew)) && !got.After(hi.Add(skew))
}

func short(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
