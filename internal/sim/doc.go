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
// slowest clock, and still one at the end. For the plugins: every message
// enqueued is handled, no message is held by two consumers at once (a
// consumer holds a message until its claim's deadline on its own clock),
// no scheduler slot runs twice, and no ttl entry is removed before it
// expired by the server's clock.
//
// # Replay
//
// Everything random is drawn from the seed, and the trace is sorted, so
// runs of one seed mostly give the same Result.Digest; but goroutines that
// wake at the same virtual instant still interleave freely (the engine runs
// a loop goroutine per coordinator, claim goroutines and plugin
// goroutines, and Go's select picks at random among ready cases), so a
// seed's run is not always exactly the same. A failing seed is therefore
// replayed up to 20 times (TestSimReplay) and usually fails again within a
// few attempts. Exact replay needs the engine's stepping mode (one
// synchronous step per heartbeat driven by a single-threaded scheduler).
package sim
