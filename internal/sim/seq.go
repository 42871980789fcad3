package sim

import (
	"cmp"
	"container/heap"
	"hash/fnv"
	"sync"
	"testing/synctest"
	"time"
)

// sequencer makes a run replay exactly. Inside the synctest bubble, Go
// runs every goroutine that can run, in an order of its own; the
// sequencer takes that choice away. Every wake-up of a simulated goroutine
// is an event of the sequencer: a timer of a process's clock, the end of
// an injected store delay, a store call's turn to reach the store, a step
// of the fault schedule, a sample. The sequencer's own goroutine fires one
// event at a time and then waits (synctest.Wait) until every other
// goroutine of the bubble is blocked again, so that the goroutine it woke
// runs alone until it waits for its next event. Events due at one instant
// fire in an order drawn from the seed and their labels (the process and
// what the event is: different seeds try different orders of one
// instant's events, one seed always the same), then in the order they were
// made; time moves on to the next event only when no event is due.
//
// What the goroutines do between two events therefore depends only on the
// events fired so far, and those are drawn from the seed. The one place
// where Go still chooses is where one event wakes several goroutines at
// once (a context cancelled, a goroutine started); the engine and the
// simulation keep what those goroutines do before their next event free
// of effects on the others (their store calls take turns by label).
type sequencer struct {
	salt   uint64 // from the seed: orders one instant's events
	mu     sync.Mutex
	events eventHeap
	made   uint64 // events created so far: the creation order
	fired  uint64
	signal chan struct{} // an event was added
	stop   chan struct{}
	done   chan struct{}
}

type event struct {
	at    time.Time
	rank  uint64 // hash of the salt and the label
	label string
	n     uint64
	fire  func() // runs on the sequencer's goroutine; must not block
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.label, b.label); c != 0 {
		return c < 0
	}
	return a.n < b.n
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// startSequencer starts the sequencer's goroutine; it must be called
// inside the bubble, and stopped with close. salt orders the events due at
// one instant.
func startSequencer(salt uint64) *sequencer {
	q := &sequencer{salt: salt, signal: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// schedule adds an event at at (the past means now).
func (q *sequencer) schedule(at time.Time, label string, fire func()) {
	q.mu.Lock()
	q.made++
	h := fnv.New64a()
	h.Write([]byte(label))
	heap.Push(&q.events, &event{at: at, rank: mix(q.salt ^ h.Sum64()), label: label, n: q.made, fire: fire})
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// After returns a channel that receives the true time once d has passed.
func (q *sequencer) After(label string, d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	q.schedule(time.Now().Add(max(d, 0)), label, func() { ch <- time.Now() })
	return ch
}

// Sleep waits d of true time.
func (q *sequencer) Sleep(label string, d time.Duration) { <-q.After(label, d) }

// Turn blocks until the sequencer lets the caller go on: at once in true
// time, but after every event due now that sorts before label.
func (q *sequencer) Turn(label string) {
	ch := make(chan struct{})
	q.schedule(time.Now(), label, func() { close(ch) })
	<-ch
}

// labelled is a faultstore.Sequencer and Clock bound to one label prefix.
type labelled struct {
	q      *sequencer
	prefix string
}

func (l labelled) Turn(label string)                      { l.q.Turn(l.prefix + label) }
func (l labelled) After(d time.Duration) <-chan time.Time { return l.q.After(l.prefix+"wait", d) }

func (q *sequencer) run() {
	defer close(q.done)
	for {
		synctest.Wait() // whoever the last event woke is blocked again
		q.mu.Lock()
		now := time.Now()
		var due *event
		var next time.Time
		if len(q.events) > 0 {
			if !q.events[0].at.After(now) {
				due = heap.Pop(&q.events).(*event)
				q.fired++
			} else {
				next = q.events[0].at
			}
		}
		q.mu.Unlock()
		if due != nil {
			due.fire()
			continue
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(next.Sub(now))
			timer = t.C
		}
		select {
		case <-timer:
		case <-q.signal:
		case <-q.stop:
			if t != nil {
				t.Stop()
			}
			return
		}
		if t != nil {
			t.Stop()
		}
	}
}

// close stops the sequencer (events still pending never fire) and waits
// for its goroutine.
func (q *sequencer) close() {
	close(q.stop)
	<-q.done
}
