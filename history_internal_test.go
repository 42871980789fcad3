package coord

import "testing"

// TestHistoryRingKeepsTheLatest: past historyLen entries the oldest go,
// and the order stays oldest first.
func TestHistoryRingKeepsTheLatest(t *testing.T) {
	var h history
	if got := h.entries(); len(got) != 0 {
		t.Fatalf("empty history has %d entries", len(got))
	}
	for i := range historyLen + 10 {
		h.add(HistoryEntry{Epoch: uint64(i)})
	}
	got := h.entries()
	if len(got) != historyLen {
		t.Fatalf("%d entries, want %d", len(got), historyLen)
	}
	for i, e := range got {
		if want := uint64(i + 10); e.Epoch != want {
			t.Fatalf("entry %d has epoch %d, want %d", i, e.Epoch, want)
		}
	}
}
