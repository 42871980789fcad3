// Package coord elects leaders and tracks workers on object storage (S3,
// MinIO, a bolt file, memory: any [driver.Store]), for services whose
// plugins each need exactly one leader, at the cost of one election per
// namespace.
//
// Create one [Hub] per process and store with [NewHub], register each
// plugin (package plugin) with [Hub.Use], and call [Hub.Close] on the way
// out. For a single leader-only job, [Run] is the whole API.
// A plugin is coordinated in one of two modes ([UseOptions].Mode):
//
//   - [Global] (the default): the plugins of a namespace share one
//     [Coordinator], one loop and one lease; its leader leads each plugin
//     through the plugin's own lease, so the requests per hour do not grow
//     with the number of plugins.
//   - [PerPlugin]: each plugin has a Coordinator and a lease of its own (N
//     plugins, N times the requests). Both modes may run side by side for
//     the same plugin, as during a rollout.
//
// One way for each question: [Subscription.Term] tells whether this
// process leads a plugin now (and its epoch), [Subscription.WaitLeader]
// waits until it does, and [Coordinator.Observe] delivers every change of
// leader until its ctx ends, always ending with the latest. A
// [Coordinator] ([Hub.GlobalCoordinator], [Hub.Coordinators]) is a
// read-only view of one election: [Coordinator.Leader],
// [Coordinator.ActiveWorkers], [Coordinator.Status] read the store,
// [Coordinator.Metrics] reads memory.
//
// # Guarantee
//
// A plugin never has two leaders at once, and each leadership has its own
// epoch, strictly increasing. This holds when the store's conditional
// writes (IfAbsent, IfMatch) are atomic and linearizable, and when clocks
// run at about the right rate: no process's clock may run more than
// [Config.LeaseTimeout]/[Config.RenewDeadline] times (1.5 by default) as
// fast as another's. Clocks need not be synchronised: no timestamp is ever
// compared across hosts. Before anything leads, a Hub checks the store
// ([CheckStore]) and refuses one that lets through a write that must fail
// ([ErrUnsafeStore]).
//
// A leader must do two things. Stop when its context ends: the ctx of
// [plugin.Leader].Lead, of [plugin.Periodic].Tick or of [Run]'s job is
// cancelled the moment the leadership ends, and [context.Cause] tells why ([ErrLeaseLost],
// [ErrRenewDeadline], [ErrResigned], [ErrOperatorRelease],
// [ErrUnsafeStore]). And use the epoch ([plugin.Term].Epoch) as a fencing
// token for every side effect outside coord: stamp writes with it and
// refuse one older than the last recorded ([plugin.CheckEpoch]), in the
// same conditional write. No lease can stop a process paused between its
// last check and its write; the fence does.
//
// A minimal service (the blank import of [github.com/s3coord/coord/driver/s3]
// links the s3:// scheme; a program links only the drivers it imports):
//
//	store, err := storeurl.Open(ctx, "s3://my-bucket/coord?region=eu-west-1")
//	if err != nil {
//		return err
//	}
//	return coord.Run(ctx, store, coord.Config{}, "nightly-report",
//		func(ctx context.Context, term plugin.Term) error {
//			// Runs while this process leads; returns once ctx is done.
//			return report(ctx, term.Epoch) // fences its writes with the epoch
//		})
//
// Run campaigns, runs the job while this process leads, campaigns again
// after a loss, and returns once ctx is done, after releasing the lease.
// Close and Resign ignore the cancellation of their ctx, not its deadline,
// so a service stopping on a signal still releases what it leads, and a
// successor takes over within a heartbeat instead of a whole lease.
//
// The safety argument in full (the model, the invariants, the proof of
// each step with the functions that enforce it, what is not guaranteed,
// and how it is tested) is docs/safety.md in the repository
// ([Safety argument]). The README covers configuration, the modes and
// mixed-mode rollouts, the cost per hour and what coord needs of a store
// ([README]).
//
// [Safety argument]: https://github.com/s3coord/coord/blob/main/docs/safety.md
// [README]: https://github.com/s3coord/coord/blob/main/README.md
package coord
