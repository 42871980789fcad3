package coord

import (
	"slices"
	"sync"
	"time"
)

// historyLen is how many leadership changes a Hub keeps (see History).
const historyLen = 512

// HistoryEntry is one change of a plugin's leader as this process saw it:
// from its own leaderships and from the records it reads anyway (no
// request is made for the history).
type HistoryEntry struct {
	At        time.Time // on the Hub's Clock
	Namespace string
	Plugin    string
	From, To  string // worker ids; "" is no leader
	Epoch     uint64
	Self      bool // To is this process
}

// history is a ring of the last historyLen entries.
type history struct {
	mu   sync.Mutex
	ring []HistoryEntry
	next int
	full bool
}

func (h *history) add(e HistoryEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ring == nil {
		h.ring = make([]HistoryEntry, historyLen)
	}
	h.ring[h.next] = e
	h.next = (h.next + 1) % len(h.ring)
	h.full = h.full || h.next == 0
}

func (h *history) entries() []HistoryEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return slices.Clone(h.ring[:h.next])
	}
	return append(slices.Clone(h.ring[h.next:]), h.ring[:h.next]...)
}

// History returns the last 512 changes of the leader of every
// plugin subscribed in this process (in any mode), oldest first. It is
// kept in memory and makes no storage request, so it answers in an
// outage too.
func (h *Hub) History() []HistoryEntry { return h.history.entries() }
