// Package sim is coord's deterministic simulation: several processes
// (each a coord.Hub with plugins, in global, per-plugin or mixed mode) on
// one virtual clock over internal/faultstore, driven by one seed, with a
// checker of safety and liveness.
//
// # The world
//
// Run must be called inside a testing/synctest bubble: time is the
// bubble's virtual time (the "true" time the checker judges on), so a run
// of several simulated minutes takes a fraction of a second. A seed fixes:
// the number of processes (3 to 5); each process's clock (an offset of up
// to ±3h and a rate error of up to ±15%, so two processes' rates differ by
// at most 1.15/0.85 ≈ 1.35, inside the engine's documented tolerance
// LeaseTimeout/RenewDeadline = 1.5), its worker id, its jitter seed
// (coord.Config.RandSeed), its fault dice (faultstore seed), its modes
// (all global, all per-plugin, or mixed), the plugins it subscribes, and
// the fault schedule: latency spells (up to 1.3 leases), error spells and
// bursts, 409 conflicts, ambiguous writes, corrupt and oversize reads,
// partitions, hangs (calls accepted and never answered: spells of hangs
// that end with the call's context, spells of hangs that ignore it, as a
// badly written driver would, released at the end of the spell or at the
// healing, either bounded by a transport timeout or not, and bursts of
// the next few calls hanging), pauses (half a lease to 3.5 leases: the
// process's clock fires no timer and its requests are held, then its
// clock has jumped), crashes (the view is closed first, so nothing is
// written or released; the cut-off Hub is closed at the end of the run)
// and graceful stops (Hub.Close, half the time with the process's
// already-cancelled context as after signal.NotifyContext), each followed
// by a restart (same or new worker id, new clock), subscriptions closed
// (one the process leads, if any) and opened again later, and garbage
// written over lease records. After the fault phase every fault heals,
// every slot runs a process that subscribes its plugins again, and the
// run goes on for a tail.
//
// The plugins are alpha and beta (leadership only), gamma (leadership
// only, and its Lead returns after 2-30s, with an error or without, which
// resigns it: the engine releases it and backs off for up to 4 leases; it
// returns only when that back-off ends before the healing, so the bound
// below holds as it is), and plugin/queue, plugin/scheduler and
// plugin/ttl with workloads on every process: producers and consumers of
// messages, a job every 4s, entries with ttls of 1-20s. In a third of the
// seeds every process subscribes every plugin; otherwise each slot
// subscribes each plugin with odds of 2 in 3, at least one, and each
// plugin is subscribed by a slot at least (heterogeneous fleets: in global
// mode a follower stands in for a namespace leader that does not
// subscribe a plugin).
//
// With Options.UnsafeStore every view ignores failing conditions (IfAbsent
// and IfMatch, only IfMatch or only IfAbsent, by seed), there is no other
// store fault, no pause (a store check held past its deadline would be
// inconclusive) and no workload; processes retry their refused Uses every
// 10-30s. TestSimUnsafeStore runs a slice of seeds so.
//
// # The checker
//
// A process believes it leads a plugin from the call of Lead to the
// cancellation of Lead's context; beliefs are clipped to the times the
// process runs (not paused, not crashed, not stopped). On true time, the
// checker asserts for each plugin: no two processes' beliefs overlap;
// epochs strictly increase from one leader to the next; one process per
// epoch (also across the Subscription.Term readings sampled every 500ms,
// which must never show two leaders at one instant); for every plugin
// that a live process subscribes after the healing, a leader within
// LeaseTimeout + 2 heartbeats (interval + jitter) of the healing, on the
// slowest clock, and still one at the end (a failure names the plugin's
// subscribers and the namespace's leader, and says when only a global
// follower standing in could have led it). A graceful stop must return
// within a HeartbeatInterval of the process's clock plus a second, with
// nothing led any more and, if its view had no fault for 30s, with every
// lease it led released or taken over; once a Subscription.Close with a
// live context returned, the plugin is no longer led by that process. On
// a store that ignores conditions nothing may ever lead (nor report
// leading in Subscription.Term), and every Use must fail with
// coord.ErrUnsafeStore. On an honest store any other failed Use is a
// violation (but for ErrUnsafeStore from a store check that caught a
// condition the fault schedule made the view ignore), and the engine's reports that the store broke a rule while
// running are counted (Result.UnsafeAlarms: false alarms).
//
// Garbage written into a lease record is the one fault that outlives the
// healing (nothing but a takeover replaces it), and it is waited out for
// a lease from when the taker first reads it, which for a plugin lease in
// global mode is only once the taker has won the namespace: a plugin
// whose lease record, or namespace record, still holds garbage at the
// healing has twice the bound (Result.GarbageAtHeal). So has a plugin
// subscribed only in global mode whose own lease (held by a stand-in or a
// per-plugin holder, not delegated) and the namespace's were both left
// unreleased by processes gone (crashed, or stopped while their store
// failed): the new namespace leader waits out the one, then reads and
// waits out the other (Result.StaleAtHeal). For the plugins: every message
// enqueued is handled, no message is held by two consumers at once (a
// consumer holds a message until its claim's deadline on its own clock),
// no scheduler slot runs twice, and no ttl entry is removed before it
// expired by the server's clock.
//
// # Replay
//
// A run replays exactly: the same seed makes the same store requests in
// the same order, gets the same answers and leaves the same timeline,
// whatever the Go scheduler does and with or without the race detector
// (Result.StoreDigest, Result.Digest; TestSimReplaysExactly checks it in
// every go test, and TestSimRepeat over any range of seeds). Everything
// random is drawn from the seed: the schedule, the clocks, the engine's
// jitter and random tokens (coord.Config.RandSeed), the fault dice (per
// view, per operation and key), the plugins' ids and nonces
// (Options.Rand). Everything that wakes a goroutine goes through the
// sequencer (seq.go): process timers, injected delays, each store call's
// turn to reach the store (and a hung call's turn to return when it is
// released), the steps of the schedule, the Uses and Closes they start,
// and the sampler. It
// fires one event at a time and waits (synctest.Wait) until the woken
// goroutine is blocked again; events due at one instant fire in the order
// of their labels. The engine keeps its side of the bargain: it iterates
// its plugins in name order, subscribes a plugin before starting the loop
// that leads it, and makes its timers in program order. The simulation
// keeps its own: a process's Uses run one after the other, never several
// at once (Uses started together all wait for one store check and then
// run at once, in the scheduler's order), and a label names the plugin
// its event is for.
//
// A failing seed is therefore replayed with its whole timeline by
// COORD_SIM_SEED=<seed> go test -run '^TestSimReplay$' ./internal/sim -v
// (TestSimUnsafeReplay for Options.UnsafeStore), and
// COORD_SIM_DIFF=<seed> go test -run TestSimDiff ./internal/sim -v shows
// where two runs of a seed part (the first timeline line and the first
// store request that differ), should a change break exact replay.
package sim
