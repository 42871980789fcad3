package coord

import (
	"testing"
	"time"
)

// The judgements the safety of a takeover rests on, table-tested: each is
// a pure function of one observation (and the config), see lease.go.

var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease  = 15 * time.Second
	longer = 40 * time.Second
)

func held(epoch uint64, lt time.Duration) *leaseRecord {
	return &leaseRecord{Leader: "a", Epoch: epoch, LeaseMillis: lt.Milliseconds()}
}

func TestJudgeFree(t *testing.T) {
	released := held(3, lease)
	released.Released, released.ReleasedBy = true, "a"
	byOperator := held(3, lease)
	byOperator.Released, byOperator.ReleasedBy = true, "operator"
	for _, tc := range []struct {
		name       string
		o          observation
		ours, seen bool
		at         time.Time
		jitter     bool
	}{
		{"cold start: never seen, missing", observation{known: true, seen: t0}, false, false, time.Time{}, false},
		{"deleted by hand after it was seen: waited out", observation{known: true, seen: t0}, false, true, t0.Add(lease), true},
		{"corrupt: a lease from when this version was first seen", observation{known: true, exists: true, seen: t0}, false, true, t0.Add(lease), true},
		{"ours, not leading: free by IfMatch", observation{known: true, exists: true, seen: t0, rec: held(3, lease)}, true, true, time.Time{}, false},
		{"released by its holder: free now, jittered", observation{known: true, exists: true, seen: t0, rec: released}, false, true, time.Time{}, true},
		{"released by an operator: the holder may act until its renewal fails", observation{known: true, exists: true, seen: t0, rec: byOperator}, false, true, t0.Add(lease), true},
		{"held: a lease from first sight", observation{known: true, exists: true, seen: t0, rec: held(3, lease)}, false, true, t0.Add(lease), true},
		{"held with a longer lease than ours: the holder's", observation{known: true, exists: true, seen: t0, rec: held(3, longer)}, false, true, t0.Add(longer), true},
		{"held with a shorter lease than ours: ours", observation{known: true, exists: true, seen: t0, rec: held(3, time.Second)}, false, true, t0.Add(lease), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, jitter := judgeFree(tc.o, tc.ours, tc.seen, lease)
			if !at.Equal(tc.at) || jitter != tc.jitter {
				t.Errorf("judgeFree = %v, %v; want %v, %v", at, jitter, tc.at, tc.jitter)
			}
		})
	}
}

func TestJudgeNamespaceFree(t *testing.T) {
	releasedE := held(5, lease)
	releasedE.Released, releasedE.ReleasedBy = true, "a"
	releasedByOp := held(5, lease)
	releasedByOp.Released, releasedByOp.ReleasedBy = true, "operator"
	for _, tc := range []struct {
		name string
		o    observation
		e    uint64
		at   time.Time
	}{
		{"missing: waited out", observation{known: true, seen: t0}, 5, t0.Add(lease)},
		{"a later epoch: over", observation{known: true, exists: true, seen: t0, rec: held(6, lease)}, 5, time.Time{}},
		{"epoch e released by its holder: over", observation{known: true, exists: true, seen: t0, rec: releasedE}, 5, time.Time{}},
		{"epoch e released by an operator: a lease", observation{known: true, exists: true, seen: t0, rec: releasedByOp}, 5, t0.Add(lease)},
		{"epoch e held: a lease from first sight", observation{known: true, exists: true, seen: t0, rec: held(5, lease)}, 5, t0.Add(lease)},
		{"an earlier epoch (a stale read): a lease", observation{known: true, exists: true, seen: t0, rec: held(4, lease)}, 5, t0.Add(lease)},
		{"unreadable: unchanged for a lease", observation{known: true, exists: true, seen: t0}, 5, t0.Add(lease)},
		{"held with a longer lease: the holder's", observation{known: true, exists: true, seen: t0, rec: held(5, longer)}, 5, t0.Add(longer)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, jitter := judgeNamespaceFree(tc.o, tc.e, lease)
			if !at.Equal(tc.at) || !jitter {
				t.Errorf("judgeNamespaceFree = %v, %v; want %v, true", at, jitter, tc.at)
			}
		})
	}
}

func TestJudgeDelegatedFree(t *testing.T) {
	listing := func(epoch uint64, claims []string, plugins map[string]uint64) *leaseRecord {
		r := held(epoch, lease)
		r.Claims, r.Plugins = claims, plugins
		return r
	}
	for _, tc := range []struct {
		name string
		ns   observation
		at   time.Time
	}{
		{"the delegating term still lists it in Claims: held while it lasts", observation{known: true, exists: true, seen: t0, rec: listing(5, []string{"job"}, nil)}, t0.Add(lease)},
		{"the delegating term leads it (Plugins): held", observation{known: true, exists: true, seen: t0, rec: listing(5, nil, map[string]uint64{"job": 2})}, t0.Add(lease)},
		{"the delegating term no longer lists it: free now", observation{known: true, exists: true, seen: t0, rec: listing(5, []string{"other"}, nil)}, time.Time{}},
		{"a later namespace term, whatever it lists: free now", observation{known: true, exists: true, seen: t0, rec: listing(6, []string{"job"}, nil)}, time.Time{}},
		{"an earlier term not listing it (a stale read): held", observation{known: true, exists: true, seen: t0, rec: listing(4, nil, nil)}, t0.Add(lease)},
		{"namespace record unreadable: held for a lease", observation{known: true, exists: true, seen: t0}, t0.Add(lease)},
		{"namespace record missing: held for a lease", observation{known: true, seen: t0}, t0.Add(lease)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, _ := judgeDelegatedFree(tc.ns, 5, "job", lease)
			if !at.Equal(tc.at) {
				t.Errorf("judgeDelegatedFree = %v; want %v", at, tc.at)
			}
		})
	}
}
