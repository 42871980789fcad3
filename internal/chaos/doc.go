// Package chaos is the real-server chaos test of coord: several OS
// processes of a small worker program (internal/chaos/worker), each one
// coord.Hub on MinIO, versitygw or SeaweedFS through its own fault proxy,
// while an orchestrator repeatedly finds the current leader and kills it
// (kill -9), freezes it (SIGSTOP for longer than the lease, then
// SIGCONT), partitions it, resets its connections or holds its requests unanswered (a hang:
// while the other workers' LISTs of worker records hang too, and the
// successor must lead on through them), restarts what it killed, and adds mild
// latency, drops and resets to the other workers' traffic. Each worker logs
// the leadership intervals it believes it has; Check asserts that no two
// overlap and that epochs strictly increase with one leader per epoch; Run
// measures each failover.
//
// # Time base
//
// Every process runs on this one machine, so every interval is recorded in
// wall-clock Unix nanoseconds of the same clock (a step of the system clock
// during a run would distort the figures; the engine itself never compares
// wall clocks).
//
// # What "no overlap" means with SIGSTOP
//
// A worker acts as leader every 20ms: it reads the clock, then asks the
// engine (Subscription.Term) whether its leadership still holds, and
// records the reading as its last action only if it does. So each interval
// has a belief part, [start, end], and an acting part, [start, last
// action]. A leader frozen by SIGSTOP keeps believing while frozen, and no
// lease can prevent that; what the engine must guarantee is that the woken
// process stops before acting again, because its renew deadline has
// passed. Check therefore requires, for every two intervals of a plugin,
// that the earlier one's last action comes before the later one's start,
// and that its end does too, unless its worker was frozen at that start,
// in which case it must have ended within a short slack after SIGCONT
// without acting. A killed worker's interval ends when the orchestrator
// reaped the process.
//
// # A store that turns
//
// RunTurn (turn.go) puts a turnproxy.Proxy between the workers' fault
// proxies and the server: honest while the Hubs start and check the
// store, then stripping If-Match and If-None-Match (and signing each
// request again) for a spell during which the leader of a plugin is
// partitioned or closed. Overlaps are then expected; each must begin in a
// spell and last at most 2 × (HeartbeatInterval + HeartbeatJitter) + 1 s,
// measured from the intervals' starts and ends (Overlaps).
//
// `make chaos` runs TestChaos (build tag chaos) under
// internal/testserver/run.sh.
package chaos
