package queue_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/internal/faultstore"
	"github.com/s3coord/coord/plugin"
	"github.com/s3coord/coord/plugin/internal/plugintest"
	"github.com/s3coord/coord/plugin/queue"
)

const prefix = "app/queue/"

func term(epoch uint64) plugin.Term { return plugintest.Term("queue", epoch) }

func newQueue(t *testing.T, st driver.Store, opts queue.Options) *queue.Queue {
	t.Helper()
	q, err := queue.New(st, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func enqueue(t *testing.T, q *queue.Queue, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := q.Enqueue(context.Background(), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func claim(t *testing.T, q *queue.Queue, consumer string) *queue.Message {
	t.Helper()
	m, err := q.Claim(context.Background(), consumer)
	if err != nil {
		t.Fatalf("Claim by %s: %v", consumer, err)
	}
	return m
}

func expectEmpty(t *testing.T, q *queue.Queue) {
	t.Helper()
	if m, err := q.Claim(context.Background(), "probe"); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("Claim = %v, %v; want ErrEmpty", m, err)
	}
}

func TestFIFOClaimAck(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		q := newQueue(t, st, queue.Options{})
		expectEmpty(t, q)
		enqueue(t, q, "a", "b", "c")
		var got []string
		var held []*queue.Message
		for range 3 {
			m := claim(t, q, "c1")
			if m.Attempt != 1 || time.Until(m.Deadline) != queue.DefaultVisibility {
				t.Fatalf("message %+v", m)
			}
			got = append(got, string(m.Body))
			held = append(held, m)
		}
		if strings.Join(got, "") != "abc" {
			t.Fatalf("order %v, want a b c", got)
		}
		expectEmpty(t, q) // all claimed
		for _, m := range held {
			if err := q.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Ack(ctx, held[0]); !errors.Is(err, queue.ErrClaimLost) {
			t.Fatalf("second Ack: %v, want ErrClaimLost", err)
		}
		if n, _ := q.Len(ctx); n != 0 {
			t.Fatalf("Len = %d after acking all", n)
		}
		res, _ := st.List(ctx, prefix+"claims/")
		if len(res.Entries) != 0 {
			t.Fatalf("claim keys left: %v", res.Entries)
		}
		if s := q.Stats(); s.Enqueued != 3 || s.Claimed != 3 || s.Acked != 3 || s.ClaimsLost != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestExpiredClaimIsRedeliveredByLeader(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		q := newQueue(t, st, queue.Options{})
		enqueue(t, q, "job")
		first := claim(t, q, "crashy") // and then it crashes: no Ack
		time.Sleep(queue.DefaultVisibility)
		if err := q.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		expectEmpty(t, q) // within Grace: still held
		time.Sleep(queue.DefaultGrace)
		if err := q.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		second := claim(t, q, "healthy")
		if second.Attempt != 2 || string(second.Body) != "job" {
			t.Fatalf("redelivered %+v", second)
		}
		if err := q.Ack(ctx, first); !errors.Is(err, queue.ErrClaimLost) {
			t.Fatalf("Ack by expired holder: %v, want ErrClaimLost", err)
		}
		if err := q.Nack(ctx, first); !errors.Is(err, queue.ErrClaimLost) {
			t.Fatalf("Nack by expired holder: %v, want ErrClaimLost", err)
		}
		if err := q.Ack(ctx, second); err != nil {
			t.Fatal(err)
		}
		expectEmpty(t, q)
		if s := q.Stats(); s.Redelivered != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestNackAndDeadLetter(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		q := newQueue(t, st, queue.Options{MaxAttempts: 3})
		enqueue(t, q, "poison", "fine")
		// Attempt 1: nacked; attempt 2: holder crashes; attempt 3: nacked
		// again, which is the last: dead letter.
		m := claim(t, q, "c")
		if string(m.Body) != "poison" {
			t.Fatalf("got %q first", m.Body)
		}
		if err := q.Nack(ctx, m); err != nil {
			t.Fatal(err)
		}
		m = claim(t, q, "c")
		if string(m.Body) != "poison" || m.Attempt != 2 {
			t.Fatalf("after Nack got %+v, want poison attempt 2", m)
		}
		time.Sleep(queue.DefaultVisibility + queue.DefaultGrace)
		if err := q.Tick(ctx, term(1)); err != nil {
			t.Fatal(err)
		}
		m = claim(t, q, "c")
		if string(m.Body) != "poison" || m.Attempt != 3 {
			t.Fatalf("after expiry got %+v, want poison attempt 3", m)
		}
		if err := q.Nack(ctx, m); err != nil {
			t.Fatal(err)
		}
		dead, err := q.DeadLetters(ctx)
		if err != nil || len(dead) != 1 || string(dead[0].Body) != "poison" || dead[0].Attempts != 3 {
			t.Fatalf("dead letters %+v, %v", dead, err)
		}
		m = claim(t, q, "c")
		if string(m.Body) != "fine" {
			t.Fatalf("got %q, want fine", m.Body)
		}
		if err := q.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
		expectEmpty(t, q)

		// Dead-lettering by the leader when the last attempt expires.
		enqueue(t, q, "slow")
		for range 3 {
			claim(t, q, "crashy")
			time.Sleep(queue.DefaultVisibility + queue.DefaultGrace)
			if err := q.Tick(ctx, term(1)); err != nil {
				t.Fatal(err)
			}
		}
		expectEmpty(t, q)
		dead, _ = q.DeadLetters(ctx)
		if len(dead) != 2 || string(dead[1].Body) != "slow" || dead[1].Reason != "visibility expired" {
			t.Fatalf("dead letters %+v", dead)
		}
	})
}

// Claim deadlines are read on Options.Clock, not on the time package.
func TestClaimDeadlineOnTheGivenClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mem.New(mem.Options{})
		ahead := time.Hour
		for name, opts := range map[string]queue.Options{
			"Clock": {Clock: plugintest.Skewed(ahead)},
		} {
			q := newQueue(t, st, opts)
			enqueue(t, q, name)
			m := claim(t, q, "c")
			if got := time.Until(m.Deadline); got != ahead+queue.DefaultVisibility {
				t.Errorf("%s: deadline in %v, want %v (on a clock %v ahead)", name, got, ahead+queue.DefaultVisibility, ahead)
			}
			if err := q.Ack(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// An epoch-1 leader paused just before redelivering, woken after epoch 2
// redelivered and a consumer claimed attempt 2, must neither bump the
// attempt again nor free attempt 2's claim.
func TestStaleLeaderCannotRedeliverTwice(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, base driver.Store) {
		ctx := context.Background()
		st := faultstore.New(base, 0)
		old := newQueue(t, st, queue.Options{})
		q := newQueue(t, base, queue.Options{})
		enqueue(t, q, "m")
		claim(t, q, "c1")
		time.Sleep(queue.DefaultVisibility + queue.DefaultGrace)

		paused, resume := make(chan struct{}), make(chan struct{})
		var once atomic.Bool
		st.SetHooks(faultstore.Hooks{Before: func(_ context.Context, c faultstore.Call) error {
			if c.Op == faultstore.OpPut && strings.Contains(c.Key, "/messages/") && once.CompareAndSwap(false, true) {
				close(paused)
				<-resume
			}
			return nil
		}})
		done := make(chan error, 1)
		go func() { done <- old.Tick(ctx, term(1)) }()
		<-paused

		if err := q.Tick(ctx, term(2)); err != nil {
			t.Fatal(err)
		}
		c2 := claim(t, q, "c2")
		if c2.Attempt != 2 {
			t.Fatalf("attempt %d, want 2", c2.Attempt)
		}
		close(resume)
		if err := <-done; err != nil {
			t.Fatalf("stale tick: %v", err)
		}
		expectEmpty(t, q) // c2 still holds it: nobody else may claim
		if err := q.Ack(ctx, c2); err != nil {
			t.Fatalf("Ack by c2 after stale leader woke: %v", err)
		}
		if old.Stats().Redelivered != 0 {
			t.Fatalf("stale leader redelivered: %+v", old.Stats())
		}
		// Now the fence refuses epoch 1 outright.
		enqueue(t, q, "n")
		claim(t, q, "c3")
		time.Sleep(queue.DefaultVisibility + queue.DefaultGrace)
		st.SetHooks(faultstore.Hooks{})
		if err := old.Tick(ctx, term(1)); !errors.Is(err, plugin.ErrStaleEpoch) {
			t.Fatalf("stale tick: %v, want ErrStaleEpoch", err)
		}
		expectEmpty(t, q)
	})
}

// TestNoLossNoOverlap runs consumers that crash at random and leaders that
// fail over, on a virtual clock, and checks that every message is acked,
// none is lost, and no two consumers ever hold one message at once.
func TestNoLossNoOverlap(t *testing.T) {
	plugintest.EachStore(t, func(t *testing.T, st driver.Store) {
		ctx := context.Background()
		opts := queue.Options{Visibility: 10 * time.Second, Interval: 2 * time.Second, MaxAttempts: 100}
		producer := newQueue(t, st, opts)
		const messages = 60
		for i := range messages {
			enqueue(t, producer, fmt.Sprintf("m%02d", i))
		}

		var mu sync.Mutex
		type hold struct {
			consumer   string
			start, end time.Time
		}
		holds := map[string][]hold{}
		acked := map[string]int{}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 4 {
			name := fmt.Sprintf("c%d", c)
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := newQueue(t, st, opts)
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					m, err := q.Claim(ctx, name)
					if errors.Is(err, queue.ErrEmpty) {
						time.Sleep(time.Second)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					work := time.Duration(rng.IntN(4000)) * time.Millisecond
					crash := rng.IntN(4) == 0
					end := m.Deadline
					if !crash {
						end = start.Add(work)
					}
					mu.Lock()
					holds[string(m.Body)] = append(holds[string(m.Body)], hold{name, start, end})
					mu.Unlock()
					time.Sleep(work)
					if crash {
						continue // drop it: the claim must expire
					}
					if err := q.Ack(ctx, m); err == nil {
						mu.Lock()
						acked[string(m.Body)]++
						mu.Unlock()
					} else if !errors.Is(err, queue.ErrClaimLost) {
						t.Error(err)
					}
				}
			}()
		}
		// Leaders: epochs 1..5, each leading for 20s, ticking every
		// Interval; each old leader keeps ticking (stale) for a while.
		for epoch := uint64(1); epoch <= 5; epoch++ {
			leader := newQueue(t, st, opts)
			stale := newQueue(t, st, opts)
			for range 10 {
				if err := leader.Tick(ctx, term(epoch)); err != nil {
					t.Fatal(err)
				}
				if epoch > 1 {
					if err := stale.Tick(ctx, term(epoch-1)); err != nil && !errors.Is(err, plugin.ErrStaleEpoch) {
						t.Fatal(err)
					}
				}
				time.Sleep(opts.Interval)
			}
		}
		final := newQueue(t, st, opts)
		for n := 0; ; n++ {
			if l, _ := final.Len(ctx); l == 0 {
				break
			}
			if n > 200 {
				t.Fatal("queue did not drain")
			}
			if err := final.Tick(ctx, term(6)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(opts.Interval)
		}
		close(stop)
		wg.Wait()

		for i := range messages {
			body := fmt.Sprintf("m%02d", i)
			if acked[body] != 1 {
				t.Errorf("%s acked %d times", body, acked[body])
			}
			hs := holds[body]
			for a := range hs {
				for b := a + 1; b < len(hs); b++ {
					if hs[a].start.Before(hs[b].end) && hs[b].start.Before(hs[a].end) {
						t.Errorf("%s held by %s [%v, %v) and %s [%v, %v) at once", body,
							hs[a].consumer, hs[a].start, hs[a].end, hs[b].consumer, hs[b].start, hs[b].end)
					}
				}
			}
		}
		deliveries := 0
		for _, hs := range holds {
			deliveries += len(hs)
		}
		t.Logf("%d messages, %d deliveries", messages, deliveries)
		if deliveries <= messages {
			t.Errorf("no redelivery happened (%d deliveries): the test exercised nothing", deliveries)
		}
		if dead, _ := final.DeadLetters(ctx); len(dead) != 0 {
			t.Errorf("dead letters: %v", dead)
		}
	})
}

// TestRequestsPerHour measures an idle leader's storage requests over one
// simulated hour at default settings, and the cost of one message.
func TestRequestsPerHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := mem.New(mem.Options{})
		q := newQueue(t, st, queue.Options{})
		before, _ := driver.RequestsOf(st)
		for elapsed := time.Duration(0); elapsed < time.Hour; elapsed += q.Interval() {
			if err := q.Tick(ctx, term(1)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(q.Interval())
		}
		after, _ := driver.RequestsOf(st)
		idle := after.Sub(before)
		t.Logf("queue leader, idle, default settings: %v per hour", idle)
		if idle.List != 360 || idle.Total() != 360 {
			t.Fatalf("idle requests per hour = %v", idle)
		}
		before = after
		enqueue(t, q, "x")
		m := claim(t, q, "c")
		if err := q.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
		after, _ = driver.RequestsOf(st)
		one := after.Sub(before)
		t.Logf("queue, one message enqueued, claimed, acked: %v", one)
		if one.Put != 2 || one.List != 2 || one.Get != 2 || one.Delete != 2 {
			t.Fatalf("one message = %v", one)
		}
	})
}

// manualClock reads the time package but fires After only when told.
type manualClock struct{ fire chan time.Time }

func (c manualClock) Now() time.Time                       { return time.Now() }
func (c manualClock) After(time.Duration) <-chan time.Time { return c.fire }

// Request deadlines run on Options.Clock, like the rest of the plugin: a
// request that is accepted and never answered fails when that clock says
// RequestTimeout has passed, not when the time package does.
func TestRequestDeadlineOnTheGivenClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := faultstore.New(mem.New(mem.Options{}), 0)
		release := make(chan struct{})
		defer close(release)
		st.SetHooks(faultstore.Hooks{Before: func(context.Context, faultstore.Call) error {
			<-release // never answered, whatever its context says
			return nil
		}})
		clk := manualClock{fire: make(chan time.Time, 1)}
		q := newQueue(t, st, queue.Options{Clock: clk, RequestTimeout: time.Second})
		done := make(chan error, 1)
		go func() { _, err := q.Enqueue(context.Background(), []byte("m")); done <- err }()
		time.Sleep(time.Minute) // the time package's minute: not the queue's clock
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Enqueue ended on the time package's clock: %v", err)
		default:
		}
		clk.fire <- time.Now() // the queue's clock says the deadline passed
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Enqueue succeeded on a store that never answered")
			}
		case <-time.After(time.Minute):
			t.Fatal("Enqueue did not end when its clock's deadline passed")
		}
	})
}
