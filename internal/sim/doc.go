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
// (coord.Config.RandSeed), its fault dice (faultstore seed), its modes, and
// the fault schedule: latency spells (up to 1.3 leases), error spells and
// bursts, 409 conflicts, ambiguous writes, corrupt and oversize reads,
// partitions, pauses (half a lease to 3.5 leases: the process's clock
// fires no timer and its requests are held, then its clock has jumped),
// crashes (abandoned: nothing released) and restarts (same or new worker
// id, new clock), and garbage written over lease records. After the fault
// phase every fault heals and the run goes on for a tail.
//
// Every process runs the plugins alpha and beta (leadership only), and
// plugin/queue, plugin/scheduler and plugin/ttl with workloads: producers
// and consumers of messages, a job every 4s, entries with ttls of 1-20s.
//
// # The checker
//
// A process believes it leads a plugin from the call of Lead to the
// cancellation of Lead's context; beliefs are clipped to the times the
// process runs (not paused, not crashed). On true time, the checker
// asserts for each plugin: no two processes' beliefs overlap; epochs
// strictly increase from one leader to the next; one process per epoch
// (also across the Subscription.Term readings sampled every 500ms, which
// must never show two leaders at one instant); a leader within
// LeaseTimeout + 2 heartbeats (interval + jitter) of the healing, on the
// slowest clock, and still one at the end. Garbage written into a lease
// record is the one fault that outlives the healing (nothing but a
// takeover replaces it), and it is waited out for a lease from when the
// taker first reads it, which for a plugin lease in global mode is only
// once the taker has won the namespace: a plugin whose lease record, or
// namespace record, still holds garbage at the healing has twice the
// bound (Result.GarbageAtHeal). For the plugins: every message
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
// turn to reach the store, the steps of the schedule and the sampler. It
// fires one event at a time and waits (synctest.Wait) until the woken
// goroutine is blocked again; events due at one instant fire in the order
// of their labels. The engine keeps its side of the bargain: it iterates
// its plugins in name order, subscribes a plugin before starting the loop
// that leads it, and makes its timers in program order.
//
// A failing seed is therefore replayed with its whole timeline by
// COORD_SIM_SEED=<seed> go test -run TestSimReplay ./internal/sim -v, and
// COORD_SIM_DIFF=<seed> go test -run TestSimDiff ./internal/sim -v shows
// where two runs of a seed part, should a change break exact replay.
package sim
