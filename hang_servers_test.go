package coord_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/chaos"
	"github.com/s3coord/coord/internal/testserver"
)

// hangConfig is the engine's timing in the hang tests: short intervals on
// a real server, as in TestMinIOElection.
var hangConfig = coord.Config{
	HeartbeatInterval: 200 * time.Millisecond,
	HeartbeatJitter:   50 * time.Millisecond,
	LeaseTimeout:      1200 * time.Millisecond,
	RenewDeadline:     700 * time.Millisecond,
	WorkerTimeout:     time.Second,
}

// closeBound is how long Hub.Close may take whatever the store does: the
// engine's own bound (HeartbeatInterval) twice, and slack for the race
// detector on a loaded machine.
const closeBound = 2*200*time.Millisecond + 300*time.Millisecond

// hangRig is three Hubs on MinIO in Global mode, each leading or following
// two plugins, behind two fault proxies: one for the LISTs of worker
// records (the leader's membership cleanup), one for everything else.
type hangRig struct {
	t         *testing.T
	proxy     *chaos.FaultProxy // every request but the worker LISTs
	lists     *chaos.FaultProxy // the worker LISTs
	transport *http.Transport
	rec       *recorder
	hubs      []*coord.Hub
	subs      [][]*coord.Subscription // nil once the hub is stopped
	plugins   []string
}

func newHangRig(t *testing.T, srv testserver.Server, bucket string) *hangRig {
	t.Helper()
	target := srv.HostPort()
	proxy, err := chaos.NewFaultProxy(target, 1)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := chaos.NewFaultProxy(target, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := &hangRig{t: t, proxy: proxy, lists: lists, rec: &recorder{}, plugins: []string{"queue", "ttl"}}
	t.Cleanup(r.closeProxies)
	r.transport = awshttp.NewBuildableClient().GetTransport()
	httpClient := &http.Client{Transport: &chaos.RouteTransport{Base: r.transport, Match: chaos.IsWorkerList, To: lists.Addr()}}
	client := awss3.New(srv.WithEndpoint(proxy.URL()).S3Client().Options(), func(o *awss3.Options) { o.HTTPClient = httpClient })
	store, err := s3.New(client, bucket, "coord/", s3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c := hangConfig
		c.WorkerID, c.RandSeed = fmt.Sprintf("w%d", i), uint64(i+1)
		h := newHub(t, store, c)
		var ss []*coord.Subscription
		for _, name := range r.plugins {
			s, err := h.Use(t.Context(), name, r.rec.plugin(), coord.UseOptions{Mode: coord.Global})
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		r.hubs, r.subs = append(r.hubs, h), append(r.subs, ss)
	}
	return r
}

// hang turns the hang fault on (on the worker LISTs alone, or on every
// request) or off: requests accepted and never answered until then.
func (r *hangRig) hang(on, everything bool) {
	f := chaos.Fault{}
	if on {
		f = chaos.Fault{HangRate: 1, HangForwards: true}
	}
	r.lists.SetFault(f)
	if everything || !on {
		r.proxy.SetFault(f)
	}
}

func (r *hangRig) closeProxies() {
	r.hang(false, true)
	_ = r.proxy.Close()
	_ = r.lists.Close()
	r.transport.CloseIdleConnections()
}

// leaders returns, per plugin, the hubs that lead it.
func (r *hangRig) leaders() [][]int {
	out := make([][]int, len(r.plugins))
	for i, ss := range r.subs {
		for j, s := range ss {
			if isLeading(s) {
				out[j] = append(out[j], i)
			}
		}
	}
	return out
}

// twoLeaders returns a description of a plugin led by two hubs at once, or
// "".
func (r *hangRig) twoLeaders() string {
	for j, l := range r.leaders() {
		if len(l) > 1 {
			return fmt.Sprintf("plugin %s led by hubs %v", r.plugins[j], l)
		}
	}
	return ""
}

// soleLeader returns the hub that leads every plugin, or -1.
func (r *hangRig) soleLeader() int {
	ls := r.leaders()
	for _, l := range ls {
		if len(l) != 1 || l[0] != ls[0][0] {
			return -1
		}
	}
	return ls[0][0]
}

// waitLeader waits until one hub leads every plugin and returns it and
// how long that took, failing after limit; meanwhile no plugin may have
// two leaders.
func (r *hangRig) waitLeader(what string, limit time.Duration) (int, time.Duration) {
	r.t.Helper()
	start := time.Now()
	for {
		if s := r.twoLeaders(); s != "" {
			r.t.Fatalf("%s: %s", what, s)
		}
		if l := r.soleLeader(); l >= 0 {
			return l, time.Since(start)
		}
		if time.Since(start) > limit {
			r.t.Fatalf("%s: no single leader of every plugin within %v (leaders %v)", what, limit, r.leaders())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holds checks that hub l leads every plugin, alone and without a new
// leadership, for d.
func (r *hangRig) holds(what string, l int, d time.Duration) {
	r.t.Helper()
	n := len(r.rec.intervals())
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if got := r.soleLeader(); got != l {
			r.t.Fatalf("%s: hub %d stopped being the only leader (leaders %v)", what, l, r.leaders())
		}
	}
	if m := len(r.rec.intervals()); m != n {
		r.t.Fatalf("%s: %d leaderships ended while hub %d led throughout", what, m-n, l)
	}
}

// close closes hub i with a context that never ends and checks that it
// returns within closeBound; one that has not returned after 5s fails the
// test at once (the cleanup then ends the hang, which lets it return).
func (r *hangRig) close(what string, i int) time.Duration {
	r.t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.hubs[i].Close(context.Background()) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		r.t.Fatalf("%s: Close of hub %d has not returned after 5s", what, i)
	}
	took := time.Since(start)
	r.subs[i] = nil
	if took > closeBound {
		r.t.Errorf("%s: Close of hub %d took %v, want at most %v", what, i, took.Round(time.Millisecond), closeBound)
	}
	r.t.Logf("%s: Close of hub %d: %v (err %v)", what, i, took.Round(time.Millisecond), err)
	return took
}

// closeAll closes the hubs still running, then checks the leaderships.
func (r *hangRig) closeAll(what string) {
	r.t.Helper()
	for i, ss := range r.subs {
		if ss != nil {
			r.close(what, i)
		}
	}
	ls := r.rec.intervals()
	checkNoOverlap(r.t, ls)
	r.t.Logf("%d leaderships; worker LISTs held %d, other requests held %d", len(ls), r.lists.Hung.Load(), r.proxy.Hung.Load())
}

// TestHangWorkerListsMinIO is the case of a LIST that never answers: the
// LISTs of worker records hang (accepted by the proxy, never answered)
// while the leader crashes, so that its successor's cleanup after its
// election hangs. The successor must go on renewing and leading, alone;
// a Close of it while its LIST hangs returns within the engine's bound;
// the third hub takes over, and leads through the end of the hang; no
// goroutine outlives the hubs.
func TestHangWorkerListsMinIO(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	base := runtime.NumGoroutine()
	func() {
		r := newHangRig(t, srv, bucket)
		first, took := r.waitLeader("first election", 15*time.Second)
		t.Logf("first election: hub %d after %v", first, took.Round(time.Millisecond))

		r.hang(true, false)
		hangStart := time.Now()
		crash(r.hubs[first])
		r.subs[first] = nil
		second, took := r.waitLeader("after the crash", 4*hangConfig.LeaseTimeout)
		t.Logf("after the crash, LISTs hanging: hub %d after %v", second, took.Round(time.Millisecond))
		// The successor's cleanup LIST is sent right after its election,
		// and held: a loop waiting for it would miss its renew deadline
		// well within this check.
		r.holds("successor, its LIST held", second, hangConfig.LeaseTimeout*3/2)
		if r.lists.Hung.Load() == 0 {
			t.Fatal("no worker LIST was held: the test did not test a hung LIST")
		}
		held := r.lists.Hung.Load()
		r.close("successor closed while its LIST hangs", second)
		third, took := r.waitLeader("after the successor's Close", 4*hangConfig.LeaseTimeout)
		t.Logf("after the Close, LISTs hanging: hub %d after %v", third, took.Round(time.Millisecond))
		r.holds("third hub, its LIST held", third, hangConfig.LeaseTimeout*3/2)
		if r.lists.Hung.Load() == held {
			t.Errorf("the third hub's cleanup LIST was not held (%d held in all)", held)
		}
		r.hang(false, false)
		t.Logf("hang lasted %v", time.Since(hangStart).Round(time.Millisecond))
		if l, _ := r.waitLeader("after the hang", 4*hangConfig.LeaseTimeout); l != third {
			t.Errorf("after the hang hub %d leads, want hub %d still", l, third)
		}
		r.holds("after the hang", third, hangConfig.LeaseTimeout)
		r.closeAll("after the hang")
		r.closeProxies()
	}()
	checkGoroutines(t, base)
}

// TestHangEverythingMinIO hangs every request of every hub for 4s
// (accepted, forwarded to the server, never answered): the leader must
// step down by its renew deadline and nobody leads during the hang; a
// Close during the hang returns within the engine's bound; within a few
// leases after the hang one hub leads every plugin again; no goroutine
// outlives the hubs.
func TestHangEverythingMinIO(t *testing.T) {
	srv := testserver.MinIO(t)
	bucket := srv.NewBucket(t)
	base := runtime.NumGoroutine()
	func() {
		r := newHangRig(t, srv, bucket)
		first, took := r.waitLeader("first election", 15*time.Second)
		t.Logf("first election: hub %d after %v", first, took.Round(time.Millisecond))

		const hangFor = 4 * time.Second
		r.hang(true, true)
		hangStart := time.Now()
		stepDown := hangConfig.RenewDeadline + hangConfig.HeartbeatInterval + 300*time.Millisecond
		closed := false
		for time.Since(hangStart) < hangFor {
			if s := r.twoLeaders(); s != "" {
				t.Fatalf("during the hang: %s", s)
			}
			if ls := r.leaders(); time.Since(hangStart) > stepDown && slices.ContainsFunc(ls, func(l []int) bool { return len(l) > 0 }) {
				t.Fatalf("%v into the hang, leaders %v: a leader that hears nothing must step down by its renew deadline (%v)",
					time.Since(hangStart).Round(time.Millisecond), ls, hangConfig.RenewDeadline)
			}
			if !closed && time.Since(hangStart) > hangFor/2 {
				closed = true
				r.close("during the hang", first)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r.proxy.Hung.Load() == 0 {
			t.Fatal("no request was held: the test did not test a hang")
		}
		r.hang(false, true)
		l, took := r.waitLeader("after the hang", 5*hangConfig.LeaseTimeout)
		t.Logf("after the hang: hub %d leads every plugin after %v", l, took.Round(time.Millisecond))
		r.holds("after the hang", l, hangConfig.LeaseTimeout)
		r.closeAll("after the hang")
		r.closeProxies()
	}()
	checkGoroutines(t, base)
}

// checkGoroutines waits (up to 10s) until no more goroutines run than
// base, and fails with their stacks otherwise.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines left running, %d before the hubs:\n%s", runtime.NumGoroutine(), base, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
