package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
)

type result struct {
	code           int
	stdout, stderr string
}

// ctl runs coordctl in-process on store (the -store URL is only shown:
// the open hook returns store), with an empty environment.
func ctl(ctx context.Context, store driver.Store, args ...string) result {
	var out, errOut bytes.Buffer
	c := &cli{
		stdout: &out, stderr: &errOut,
		getenv: func(string) string { return "" },
		open: func(context.Context, string) (driver.Store, func() error, error) {
			return store, func() error { return nil }, nil
		},
	}
	code := c.run(ctx, append([]string{}, args...))
	return result{code, out.String(), errOut.String()}
}

func startHub(t *testing.T, store driver.Store, id string, plugins ...string) *coord.Hub {
	t.Helper()
	h := crashableHub(t, store, coord.Config{WorkerID: id})
	for _, p := range plugins {
		if _, err := h.Use(t.Context(), p, plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// crashViews holds, for each Hub made by crashableHub, the store view
// that crash cuts off.
var crashViews sync.Map // *coord.Hub → *faultstore.Store

// crashableHub is a Hub over a view of store that crash can cut off.
func crashableHub(t *testing.T, store driver.Store, cfg coord.Config) *coord.Hub {
	t.Helper()
	view := faultstore.New(store, 0)
	h, err := coord.NewHub(view, cfg)
	if err != nil {
		t.Fatal(err)
	}
	crashViews.Store(h, view)
	t.Cleanup(func() { crash(h) })
	return h
}

// crash stops a hub as kill -9 would: its store view is cut off first, so
// that nothing it writes on the way out arrives.
func crash(h *coord.Hub) {
	if v, ok := crashViews.Load(h); ok {
		v.(*faultstore.Store).Partition(0)
	}
	_ = h.Close(context.Background())
}

func statusJSON(t *testing.T, r result) coordhttp.Status {
	t.Helper()
	var st coordhttp.Status
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("status -json output does not parse: %v\n%s", err, r.stdout)
	}
	return st
}

func global(t *testing.T, h *coord.Hub) *coord.Coordinator {
	t.Helper()
	c, err := h.GlobalCoordinator(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatusMatchesCoordinator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		a := startHub(t, store, "worker-a", "queue")
		synctest.Wait()
		startHub(t, store, "worker-b", "queue")
		time.Sleep(time.Minute) // a few heartbeats; leadership settled
		synctest.Wait()
		c := global(t, a)
		if !c.Metrics().IsLeader {
			t.Fatal("the first hub does not lead")
		}
		r := ctl(t.Context(), store, "status", "-store", "mem://", "-json")
		if r.code != exitOK {
			t.Fatalf("status -json: exit %d: %s", r.code, r.stderr)
		}
		st := statusJSON(t, r)
		if st.Leader.ID != c.Metrics().WorkerID || st.Leader.Epoch != c.Metrics().Epoch || !st.HasLeader {
			t.Errorf("coordctl shows leader %q epoch %d (has_leader %v); the coordinator reports %q epoch %d",
				st.Leader.ID, st.Leader.Epoch, st.HasLeader, c.Metrics().WorkerID, c.Metrics().Epoch)
		}
		if len(st.Workers) != 2 || len(st.Plugins) != 1 || st.Plugins[0].Name != "queue" || !st.Plugins[0].Lease.Delegated {
			t.Errorf("workers %v, plugins %+v", st.Workers, st.Plugins)
		}
		cst, err := c.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader.Version != cst.Leader.Version {
			t.Errorf("version %q, the coordinator reads %q", st.Leader.Version, cst.Leader.Version)
		}

		r = ctl(t.Context(), store, "status", "-store", "mem://")
		if r.code != exitOK {
			t.Fatalf("status: exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"worker-a (epoch 1)", "held (last written", "2 active", "queue", "delegated to the namespace lease"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("status output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
}

// TestStatusOnBoltFile runs coordctl through its real store opener on a
// bolt file a coordinator process wrote (and then crashed: it released
// nothing, and bolt admits one process at a time).
func TestStatusOnBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coord.db")
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := crashableHub(t, store, coord.Config{WorkerID: "bolt-w1"})
	led := make(chan struct{})
	if _, err := h.Use(t.Context(), "queue", &plugin.Func{OnLead: func(ctx context.Context, _ plugin.Term) error {
		close(led)
		<-ctx.Done()
		return nil
	}}, coord.UseOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-led:
	case <-time.After(10 * time.Second):
		t.Fatal("no leadership within 10s")
	}
	c := global(t, h)
	wantID, wantEpoch := c.Metrics().WorkerID, c.Metrics().Epoch

	// While the process has the file, coordctl cannot open it.
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"status", "-store", "bolt://" + path}, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "one process at a time") {
		t.Errorf("status on a bolt file in use: exit %d, %s", code, errOut.String())
	}

	crash(h)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code = run(t.Context(), []string{"status", "-json", "-store", "bolt://" + path}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	st := statusJSON(t, result{stdout: out.String()})
	if st.Leader.ID != wantID || st.Leader.Epoch != wantEpoch || wantEpoch == 0 {
		t.Errorf("coordctl shows %q epoch %d; the coordinator reported %q epoch %d", st.Leader.ID, st.Leader.Epoch, wantID, wantEpoch)
	}
	if len(st.Workers) != 1 || st.Workers[0].ID != "bolt-w1" {
		t.Errorf("workers %+v", st.Workers)
	}
}

func TestNoLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		if r := ctl(t.Context(), store, "status", "-store", "mem://"); r.code != exitNoLeader || !strings.Contains(r.stdout, "no lease record") {
			t.Errorf("status of an empty store: exit %d\n%s", r.code, r.stdout)
		}
		if r := ctl(t.Context(), store, "release", "-store", "mem://"); r.code != exitNoLeader {
			t.Errorf("release of a missing lease: exit %d", r.code)
		}
		if r := ctl(t.Context(), store, "workers", "-store", "mem://", "-json"); r.code != exitNoLeader || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("workers of an empty store: exit %d %q", r.code, r.stdout)
		}

		// A crashed leader's lease expires on the store's clock.
		a := startHub(t, store, "worker-a")
		global(t, a)
		synctest.Wait()
		crash(a)
		if r := ctl(t.Context(), store, "status", "-store", "mem://"); r.code != exitOK {
			t.Errorf("status right after the crash: exit %d", r.code)
		}
		time.Sleep(coord.DefaultConfig().LeaseTimeout + time.Second)
		r := ctl(t.Context(), store, "status", "-store", "mem://", "-json")
		if st := statusJSON(t, r); r.code != exitNoLeader || st.HasLeader || st.Leader.ID != "worker-a" {
			t.Errorf("status a lease after the crash: exit %d, has_leader %v, leader %q", r.code, st.HasLeader, st.Leader.ID)
		}
	})
}

func TestWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		startHub(t, store, "worker-a", "queue")
		h := startHub(t, store, "worker-b")
		if _, err := h.Use(t.Context(), "mailer", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		r := ctl(t.Context(), store, "workers", "-store", "mem://", "-json")
		if r.code != exitOK {
			t.Fatalf("workers: exit %d %s", r.code, r.stderr)
		}
		var ws []workerJSON
		if err := json.Unmarshal([]byte(r.stdout), &ws); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, w := range ws {
			got[w.ID+"/"+w.Plugin] = true
		}
		if len(ws) != 2 || !got["worker-a/"] || !got["worker-b/mailer"] {
			t.Errorf("workers %+v, want worker-a in the namespace and worker-b for plugin mailer", ws)
		}
		r = ctl(t.Context(), store, "workers", "-store", "mem://")
		if r.code != exitOK || !strings.Contains(r.stdout, "plugin mailer") || !strings.Contains(r.stdout, "namespace default") {
			t.Errorf("workers: exit %d\n%s", r.code, r.stdout)
		}
	})
}

// TestReleaseReelects: an operator release makes the holder step down and
// a follower take over with a higher epoch, within about one lease.
func TestReleaseReelects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		a := startHub(t, store, "worker-a", "queue")
		synctest.Wait()
		b := startHub(t, store, "worker-b", "queue")
		time.Sleep(30 * time.Second)
		ca, cb := global(t, a), global(t, b)
		before := ca.Metrics().Epoch
		if !ca.Metrics().IsLeader || cb.Metrics().IsLeader {
			t.Fatal("worker-a should lead")
		}
		if r := ctl(t.Context(), store, "release", "-store", "mem://", "-dry-run"); r.code != exitOK || !strings.Contains(r.stdout, "dry run") {
			t.Fatalf("dry run: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		if li, _ := ca.Leader(t.Context()); li.Released {
			t.Fatal("a dry run released the lease")
		}
		r := ctl(t.Context(), store, "release", "-store", "mem://", "-json")
		if r.code != exitOK {
			t.Fatalf("release: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		var res releaseResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Result != "released" || res.Lease.ID != "worker-a" {
			t.Fatalf("release -json: %v %+v", err, res)
		}
		// Within a lease plus a heartbeat, a leader at a higher epoch.
		deadline := time.Now().Add(coord.DefaultConfig().LeaseTimeout + 2*coord.DefaultConfig().HeartbeatInterval)
		// Observed before the check: no change is missed.
		changedA, changedB := ca.Observe(t.Context()), cb.Observe(t.Context())
		for {
			if (ca.Metrics().IsLeader || cb.Metrics().IsLeader) && max(ca.Metrics().Epoch, cb.Metrics().Epoch) > before {
				break
			}
			select { // no polling: each change of leader wakes it
			case <-changedA:
			case <-changedB:
			case <-time.After(time.Until(deadline)):
				t.Fatalf("no new leader within %v of the release", coord.DefaultConfig().LeaseTimeout+2*coord.DefaultConfig().HeartbeatInterval)
			}
			if ca.Metrics().IsLeader && cb.Metrics().IsLeader {
				t.Fatal("two leaders")
			}
		}
		st := statusJSON(t, ctl(t.Context(), store, "status", "-store", "mem://", "-json"))
		if !st.HasLeader || st.Leader.Epoch <= before {
			t.Errorf("after the release: %+v", st.Leader)
		}
		// Releasing a released lease writes nothing. (Every goroutine
		// idle first: no renewal of the new leader's can land between
		// coordctl's read and its write, which would rightly refuse.)
		synctest.Wait()
		if r := ctl(t.Context(), store, "release", "-store", "mem://"); r.code != exitOK {
			t.Errorf("second release: exit %d", r.code)
		}
	})
}

// TestReleaseRefusesStaleVersion: the operator looked (status -json),
// the leader renewed since; release -version refuses and writes nothing.
func TestReleaseRefusesStaleVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		a := startHub(t, store, "worker-a")
		c := global(t, a)
		synctest.Wait()
		seen := statusJSON(t, ctl(t.Context(), store, "status", "-store", "mem://", "-json")).Leader.Version
		time.Sleep(2 * coord.DefaultConfig().HeartbeatInterval) // renewed
		synctest.Wait()
		puts := store.Requests().Put
		r := ctl(t.Context(), store, "release", "-store", "mem://", "-version", seen)
		if r.code != exitChanged || !strings.Contains(r.stderr, "changed") {
			t.Fatalf("release -version <stale>: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if store.Requests().Put != puts {
			t.Error("a refused release wrote")
		}
		if li, _ := c.Leader(t.Context()); li.Released || !c.Metrics().IsLeader {
			t.Errorf("after a refused release: released %v, leading %v", li.Released, c.Metrics().IsLeader)
		}
		current := statusJSON(t, ctl(t.Context(), store, "status", "-store", "mem://", "-json")).Leader.Version
		if r := ctl(t.Context(), store, "release", "-store", "mem://", "-version", current); r.code != exitOK {
			t.Errorf("release -version <current>: exit %d %s", r.code, r.stderr)
		}
	})
}

// racing is a view of store that lets the leader renew (virtual time
// passes) just before coordctl's chosen request on key, so the record
// changes underneath it: delay says whether to, before the n-th GET of
// key ("get") or its PUT ("put").
func racing(store driver.Store, key string, delay func(op string, n int) bool) *faultstore.Store {
	var mu sync.Mutex
	gets := 0
	v := faultstore.New(store, 0)
	v.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
		if c.Key != key {
			return nil
		}
		switch c.Op {
		case faultstore.OpGet:
			mu.Lock()
			gets++
			n := gets
			mu.Unlock()
			if delay("get", n) {
				time.Sleep(2 * coord.DefaultConfig().HeartbeatInterval)
			}
		case faultstore.OpPut:
			if delay("put", 1) {
				time.Sleep(2 * coord.DefaultConfig().HeartbeatInterval)
			}
		}
		return nil
	}})
	return v
}

func TestReleaseRefusesRecordChangedUnderneath(t *testing.T) {
	for _, at := range []string{"get", "put"} {
		t.Run("before "+at, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				a := startHub(t, store, "worker-a")
				c := global(t, a)
				synctest.Wait()
				// coordctl reads the lease (GET 1), ForceRelease reads
				// it again (GET 2) and writes it (PUT): the leader renews
				// before GET 2 or before the PUT.
				view := racing(store, coord.DefaultConfig().Root+"default/state.json", func(op string, n int) bool {
					return op == at && (op == "put" || n == 2)
				})
				r := ctl(t.Context(), view, "release", "-store", "mem://")
				if r.code != exitChanged {
					t.Fatalf("exit %d, want %d\n%s%s", r.code, exitChanged, r.stdout, r.stderr)
				}
				if li, _ := c.Leader(t.Context()); li.Released || !c.Metrics().IsLeader {
					t.Errorf("after a refused release: released %v, leading %v", li.Released, c.Metrics().IsLeader)
				}
			})
		})
	}
}

func TestReleasePlugin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := mem.New(mem.Options{})
		a := startHub(t, store, "worker-a", "queue")
		if _, err := a.Use(t.Context(), "mailer", plugin.Func{OnLead: plugin.Idle}, coord.UseOptions{Mode: coord.PerPlugin}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		r := ctl(t.Context(), store, "release", "-store", "mem://", "-plugin", "queue", "-json")
		var res releaseResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		if r.code != exitDelegated || res.Result != "refused-delegated" {
			t.Errorf("release of a delegated plugin lease: exit %d, %+v", r.code, res)
		}
		if r := ctl(t.Context(), store, "release", "-store", "mem://", "-plugin", "mailer"); r.code != exitOK {
			t.Errorf("release of a per-plugin lease: exit %d %s", r.code, r.stderr)
		}
		if r := ctl(t.Context(), store, "release", "-store", "mem://", "-plugin", "nosuch"); r.code != exitNoLeader {
			t.Errorf("release of an unknown plugin: exit %d", r.code)
		}
	})
}

func TestWatch(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "json"}[asJSON], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := mem.New(mem.Options{})
				a := startHub(t, store, "worker-a")
				global(t, a)
				synctest.Wait()
				ctx, cancel := context.WithCancel(t.Context())
				args := []string{"watch", "-store", "mem://", "-interval", "1s"}
				if asJSON {
					args = append(args, "-json")
				}
				done := make(chan result)
				go func() { done <- ctl(ctx, store, args...) }()
				time.Sleep(5 * time.Second)
				crash(a) // its lease expires on the store's clock a lease later
				time.Sleep(coord.DefaultConfig().LeaseTimeout + 5*time.Second)
				b := startHub(t, store, "worker-b")
				cb := global(t, b)
				// It takes over a lease after it first saw the record.
				for changes := cb.Observe(t.Context()); !cb.Metrics().IsLeader; {
					if _, ok := <-changes; !ok {
						t.Fatal("b never led")
					}
				}
				time.Sleep(2 * time.Second)
				cancel()
				r := <-done
				if r.code != exitOK {
					t.Fatalf("watch: exit %d %s", r.code, r.stderr)
				}
				if !asJSON {
					for _, want := range []string{"leader worker-a (epoch 1, held)", "leader worker-a → worker-a (epoch 1, expired)", "leader worker-a → worker-b (epoch 2, held)"} {
						if !strings.Contains(r.stdout, want) {
							t.Errorf("watch output lacks %q:\n%s", want, r.stdout)
						}
					}
					return
				}
				var events []watchEvent
				sc := bufio.NewScanner(strings.NewReader(r.stdout))
				for sc.Scan() {
					var e watchEvent
					if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
						t.Fatalf("line %q: %v", sc.Text(), err)
					}
					events = append(events, e)
				}
				if len(events) != 3 || !events[0].Initial || events[0].To != "worker-a" ||
					events[1].State != "expired" || events[2].From != "worker-a" || events[2].To != "worker-b" || events[2].Epoch != 2 {
					t.Errorf("events %+v", events)
				}
			})
		})
	}
}

func TestUsage(t *testing.T) {
	store := mem.New(mem.Options{})
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout (help) or stderr
	}{
		{nil, exitUsage, "no command"},
		{[]string{"help"}, exitOK, "Exit codes:"},
		{[]string{"-h"}, exitOK, "Commands:"},
		{[]string{"status", "-h"}, exitOK, "Usage:"},
		{[]string{"frobnicate", "-store", "mem://"}, exitUsage, "unknown command"},
		{[]string{"status"}, exitUsage, "COORD_STORE"},
		{[]string{"status", "-store", "mem://", "-bogus"}, exitUsage, "bogus"},
		{[]string{"status", "-store", "mem://", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"status", "-store", "mem://", "-namespace", "../x"}, exitUsage, "invalid namespace"},
		{[]string{"status", "-store", "mem://", "-root", "noslash"}, exitUsage, "must end with /"},
		{[]string{"release", "-store", "mem://", "-plugin", "a/b"}, exitUsage, "invalid plugin"},
		{[]string{"watch", "-store", "mem://", "-interval", "0s"}, exitUsage, "positive"},
		{[]string{"-store", "mem://", "-json", "status"}, exitNoLeader, `"has_leader": false`},
	} {
		r := ctl(t.Context(), store, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.out) {
			t.Errorf("coordctl %v: exit %d (want %d)\n%s%s", tc.args, r.code, tc.code, r.stdout, r.stderr)
		}
	}
}

// TestStoreURLErrors go through the real opener: an invalid URL is a
// usage error (2), an unreachable store an operational one (1).
func TestStoreURLErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"status", "-store", "ftp://x"}, &out, &errOut); code != exitUsage {
		t.Errorf("ftp:// URL: exit %d %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"status", "-store", "s3://user:secret@bucket"}, &out, &errOut); code != exitUsage || strings.Contains(errOut.String(), "secret") {
		t.Errorf("URL with credentials: exit %d %s", code, errOut.String())
	}
	errOut.Reset()
	t.Setenv("MINIO_ACCESS_KEY", "test")
	t.Setenv("MINIO_SECRET_KEY", "testtesttest")
	code := run(t.Context(), []string{"status", "-timeout", "500ms", "-store", "minio://127.0.0.1:1/bucket?secure=false"}, &out, &errOut)
	if code != exitError {
		t.Errorf("unreachable store: exit %d %s", code, errOut.String())
	}
}

func TestEnvironment(t *testing.T) {
	store := mem.New(mem.Options{})
	var out, errOut bytes.Buffer
	env := map[string]string{"COORD_STORE": "mem://", "COORD_NAMESPACE": "tenant-a", "COORD_ROOT": "custom/"}
	c := &cli{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] },
		open: func(_ context.Context, raw string) (driver.Store, func() error, error) {
			if raw != "mem://" {
				t.Errorf("opened %q", raw)
			}
			return store, func() error { return nil }, nil
		}}
	if _, err := store.Put(t.Context(), "custom/tenant-a/state.json", []byte(`{"format":2,"namespace":"tenant-a","leader":"w9","mode":"global","epoch":4,"seq":1,"incarnation":"x","lease_ms":15000,"renewed":"2026-01-01T00:00:00Z","sum":"b1a65da8"}`), driver.IfAbsent()); err != nil {
		t.Fatal(err)
	}
	if code := c.run(t.Context(), []string{"status"}); code != exitOK || !strings.Contains(out.String(), "w9 (epoch 4)") {
		t.Errorf("status from the environment: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// TestHelpListsEveryCommandFirst: "coordctl help" names every command
// under "Commands:" before any flag.
func TestHelpListsEveryCommandFirst(t *testing.T) {
	r := ctl(t.Context(), mem.New(mem.Options{}), "help")
	commands, _, ok := strings.Cut(r.stdout, "\nFlags")
	if r.code != exitOK || !ok {
		t.Fatalf("help: exit %d\n%s", r.code, r.stdout)
	}
	_, list, _ := strings.Cut(commands, "Commands:\n")
	for _, cmd := range []string{"status", "workers", "watch", "release", "run", "check", "bucket", "version", "help"} {
		if !strings.Contains(list, "\n  "+cmd+" ") && !strings.HasPrefix(list, "  "+cmd+" ") {
			t.Errorf("help lists no %q under Commands:\n%s", cmd, commands)
		}
	}
}

// TestCommandHelpOnly: "coordctl CMD -h" prints that command's flags and
// no other command's.
func TestCommandHelpOnly(t *testing.T) {
	store := mem.New(mem.Options{})
	for _, tc := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"status", "-h"}, []string{"coordctl status", "-store URL", "-worker-timeout"}, []string{"-interval", "-dry-run", "-job", "-race-width", "bucket create"}},
		{[]string{"workers", "-h"}, []string{"coordctl workers", "-store URL"}, []string{"-interval", "-dry-run", "-job"}},
		{[]string{"watch", "-h"}, []string{"coordctl watch", "-interval"}, []string{"-dry-run", "-job", "-race-width"}},
		{[]string{"release", "-h"}, []string{"coordctl release", "-dry-run", "-version V"}, []string{"-interval", "-job", "-race-width"}},
		{[]string{"check", "-h"}, []string{"coordctl check", "-race-width"}, []string{"-dry-run", "-job", "bucket create", "Commands:"}},
		{[]string{"bucket", "-h"}, []string{"coordctl bucket create"}, []string{"-dry-run", "-job", "-race-width", "Commands:"}},
	} {
		r := ctl(t.Context(), store, tc.args...)
		if r.code != exitOK {
			t.Errorf("coordctl %v: exit %d %s", tc.args, r.code, r.stderr)
		}
		for _, s := range tc.has {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("coordctl %v does not print %q:\n%s", tc.args, s, r.stdout)
			}
		}
		for _, s := range tc.lacks {
			if strings.Contains(r.stdout, s) {
				t.Errorf("coordctl %v prints %q, another command's:\n%s", tc.args, s, r.stdout)
			}
		}
	}
}

// TestVersion: "coordctl version" prints the module version and the Go
// version.
func TestVersion(t *testing.T) {
	r := ctl(t.Context(), mem.New(mem.Options{}), "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "coordctl ") || !strings.Contains(r.stdout, runtime.Version()) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("version: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl(t.Context(), mem.New(mem.Options{}), "version", "extra"); r.code != exitUsage {
		t.Errorf("version extra: exit %d", r.code)
	}
}

// TestConfigErrorsNameFlags: a timing coordctl run refuses is named by its
// flags, with the values set and rounded, and a bad -worker-id is said
// once.
func TestConfigErrorsNameFlags(t *testing.T) {
	store := mem.New(mem.Options{})
	for _, tc := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"run", "-store", "mem://", "-job", "j", "-heartbeat", "10s", "-lease", "5s", "--", "true"},
			[]string{"-heartbeat 10s", "-lease 5s", "3.333s", "coordctl run -h"}, []string{"LeaseTimeout", "HeartbeatInterval", "3.333333333s"}},
		{[]string{"run", "-store", "mem://", "-job", "j", "-heartbeat", "20s", "-lease", "1m", "--", "true"},
			[]string{"-worker-timeout 20s <", "-heartbeat 20s"}, []string{"WorkerTimeout"}},
		{[]string{"run", "-store", "mem://", "-job", "j", "-worker-id", "a b", "--", "true"},
			[]string{"-worker-id", `"a b"`}, []string{"WorkerID", "coord: invalid config: -worker-id: coord:"}},
	} {
		r := ctl(t.Context(), store, tc.args...)
		if r.code != exitUsage {
			t.Errorf("coordctl %v: exit %d, want %d", tc.args, r.code, exitUsage)
		}
		for _, s := range tc.has {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("coordctl %v: %q does not say %q", tc.args, r.stderr, s)
			}
		}
		for _, s := range tc.lacks {
			if strings.Contains(r.stderr, s) {
				t.Errorf("coordctl %v: %q says %q", tc.args, r.stderr, s)
			}
		}
	}
}
