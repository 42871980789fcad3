// Package coord elects leaders and tracks workers on object storage, for
// many plugins at the cost of one election per namespace.
//
// A Hub is one process's use of one store (driver.Store: S3, MinIO, a bolt
// file, memory). Hub.Use registers a plugin (see package plugin) under a
// name, in one of two modes:
//
//   - Global (default): the plugin joins its namespace's Coordinator, shared
//     by every plugin of the namespace: one loop, one lease, one worker
//     record, so the requests per hour do not grow with the plugin count.
//   - PerPlugin: the plugin gets a Coordinator of its own (N plugins, N
//     times the requests). Use falls back to it when the global coordinator
//     cannot start.
//
// # Cost
//
// Per process and election, each heartbeat (HeartbeatInterval plus jitter,
// 5-6s by default) costs one request: the leader renews with a conditional
// PUT, followers read with a GET. Worker records add one PUT per
// WorkerTimeout/3 (6.7s by default; DisableMembership removes them), and the
// leader lists the workers once per election and every 5 WorkerTimeouts.
// In Global mode plugins add nothing per heartbeat: the namespace leader
// claims each plugin's lease once per election (a GET and a PUT), and
// followers learn which plugins the leader leads from the namespace record
// they read anyway. Around an election only, the leader renews once more
// right after its claims so that the record lists them, and a follower
// whose plugins a new leader does not list yet reads again early (at most
// 4 times, from HeartbeatInterval/20, doubling).
//
// # Safety: never two leaders
//
// The argument follows client-go's leaderelection, with conditional writes
// (IfAbsent, IfMatch) instead of resource versions, and without trusting any
// clock but each process's own monotonic one.
//
// Leases. A lease is one record (<root><ns>/state.json, or
// <root><ns>/plugins/<plugin>/state.json). Every write is conditional on the
// version the writer last saw (IfMatch), or on absence (IfAbsent), and
// carries a new sequence number, so two writes never have the same bytes
// (S3 versions are content hashes). Conditional writes on one key are
// totally ordered by the store: at most one of several writes based on the
// same version succeeds.
//
// Holding. A process leads from the start of its successful acquisition
// until RenewDeadline after the START of its last successful renewal, as
// measured on its own clock; a watchdog cancels the leadership context at
// that moment whatever the loop is doing (a renewal stuck in a slow request
// does not extend it). A renewal that loses its condition
// (driver.ErrPrecondition) ends the leadership at once.
//
// Taking over. A follower may write a takeover of version V only when V has
// stayed unchanged for LeaseTimeout (at least the record's lease) on the
// follower's clock, counted from the END of the read that first returned V.
// V was written after its writer started that write, so the holder's
// renewal started before the follower first saw V: the holder stops at
// most RenewDeadline after that start, the follower writes at least
// LeaseTimeout after it. With RenewDeadline < LeaseTimeout the holder has
// stopped first, as long as the two clocks' rates differ by less than the
// margin (LeaseTimeout-RenewDeadline)/LeaseTimeout (a third, by default).
// The offset between the clocks never enters: no timestamp from one host is
// compared with another host's clock. If the holder renewed in between, V
// changed and the takeover's IfMatch(V) fails.
//
// Releasing. A graceful stop ends the leadership (cancels every plugin
// context) before it writes released=true by IfMatch; a follower that sees
// such a release (released by the holder itself) takes over at its next
// heartbeat. An operator's release (ForceRelease) is written by someone
// other than the holder, who may still be acting until its next renewal
// fails; followers treat it like a renewal and wait a whole lease. Records
// are never deleted: they carry the epoch.
//
// Epochs. Every acquisition writes an epoch above the record's and above
// any this process has seen for the key; the write is conditional on the
// record it replaces, so epochs strictly increase along the record's
// history and each belongs to one leadership. Every record carries a
// CRC-32C checksum of its canonical encoding, so a flipped bit that still
// makes valid JSON (a plugin name, an epoch) is caught. A record that
// cannot be decoded (garbage, wrong types, oversize, another format, a
// checksum that does not match) is treated as
// held until it has stayed unchanged for LeaseTimeout, then taken over by
// IfMatch on its version (read by a LIST when the record is too large to
// read) with an epoch of at least the store's clock in milliseconds (the
// ServerTime of a LIST: one clock for all processes), far above the small
// epochs of normal operation, because the record hid its epoch. This is
// the one place a clock enters, and only the store's: it needs that clock
// to advance, between two takeovers of corrupt records on one key (at
// least a lease apart), by more than the number of epochs written in
// between (at most a few per heartbeat), and never to step back by more
// than that. Epochs taken from the hosts' own clocks (hours apart) broke
// this; a plugin lease also finds its epoch in the namespace record
// (Plugins), whatever the store's clock says.
// The epoch is the fencing token handed to plugins (plugin.Term.Epoch):
// they stamp their writes with it and reject older ones (plugin.CheckEpoch),
// which covers what no lease can: a leader paused between its last check
// and its write.
//
// Ambiguous writes. A write that timed out may have been applied. Its
// outcome is learnt from the record: each lease keeper writes a random
// incarnation into its records, so a record that carries our incarnation
// and a sequence above our last confirmed write is ours. Such a record
// (found when a later IfMatch loses, or by a follower's read) is adopted
// with the leadership starting at the start of the earliest write in doubt,
// which is no later than the start of the one that was applied. A record of
// ours from an earlier leadership is never adopted: it is free to take by
// IfMatch, with a new epoch. A namespace leader's claim of a plugin lease
// in doubt is adopted the same way when a later read shows it (ours, newer
// than our last confirmed write, delegated to the current namespace
// epoch): the namespace term bounds the leadership it gives. Claims end
// by the time the next renewal is due, so a slow store delays plugin
// leadership by a heartbeat instead of making claims repeat forever with
// climbing epochs.
//
// Mixed modes. During a rollout some processes run a plugin in Global mode
// and others in PerPlugin mode. The plugin lease is the single authority
// for a plugin in both modes, and its epoch the plugin's fencing token:
//
//   - A PerPlugin process holds the plugin lease like any lease.
//
//   - A Global namespace leader with namespace epoch E claims each subscribed
//     plugin's lease (once per election, and when a plugin subscribes while
//     it leads) by writing "delegated to the namespace lease, epoch E" with
//     the plugin epoch + 1, and only then leads the plugin, until its
//     namespace leadership ends. It claims at once a lease that is absent,
//     released by its holder, or delegated to a namespace epoch below E
//     (that leadership ended before E was acquired, by the argument above).
//     A lease held by a PerPlugin process, or delegated to an epoch >= E, is
//     waited out like any follower, reading it at each heartbeat.
//
//   - A PerPlugin process that finds a delegated lease (epoch E) treats it as
//     held as long as the namespace leadership E may last: it reads the
//     namespace record as well, and takes the plugin lease by IfMatch only
//     once that record shows an epoch above E (written by a successor, after
//     the E leader stopped), a release by the E leader itself, or has stayed
//     unchanged for a lease (the E leader stopped renewing, so stopped
//     leading). A new namespace leader's claim and a PerPlugin takeover are
//     both IfMatch writes on the plugin lease: one wins, the other waits.
//
//   - The namespace record lists, in Claims, every plugin its leader may
//     lead: the leader writes a plugin into Claims (in its acquisition or a
//     renewal) before it claims the plugin's lease, and keeps it there
//     until it has stopped leading it. So a read of the namespace record
//     that starts after a claim was applied, and returns a record of a
//     leader that does not list the plugin, proves that leader does not
//     lead it.
//
//   - The namespace leader never reads a plugin lease it has claimed, so
//     garbage written over a delegated lease does not end the delegation.
//     A PerPlugin process that finds a plugin lease unreadable therefore
//     takes it only when both allow it: the lease's own rule (unchanged
//     for a lease: it may be a live per-plugin holder's record, read
//     badly) AND a successful read of the namespace record, made after the
//     garbage was first seen, showing the plugin free: missing, not listed,
//     or a listing leadership that is over by the rule above (a later
//     epoch, its holder's release, or the record unchanged for a lease,
//     judged by its version also when the record itself is unreadable).
//     While the namespace record cannot be read, an unreadable plugin lease
//     is held, however long that lasts.
//
//   - A plugin lease that is missing, and that this process never saw,
//     was never claimed (claims are written before a plugin is led, and
//     the engine never deletes a lease), so it is free to take by IfAbsent,
//     which settles a race with a namespace leader's claim. It is still
//     judged by the namespace record when that can be read; when it
//     cannot, it is taken only after every read of the namespace record
//     has failed for a whole lease (a fallback process without permission
//     on it). This is unsafe only if a delegated lease is deleted by hand
//     (the namespace leader would keep leading through it): never delete
//     or overwrite a plugin lease by hand; use ForceRelease, which refuses
//     delegated leases. A lease seen before and missing now (deleted) is
//     treated like an unreadable one.
//
//   - A PerPlugin process that finds a lease delegated to epoch E, and a
//     namespace record at epoch E that no longer lists the plugin (in
//     Plugins or Claims), may take it at once: by the listing rule the E
//     leader stopped leading it before writing that record, and it leads
//     it again only after a new claim, which rewrites the plugin lease, so
//     the taker's IfMatch of the delegated version then fails.
//
// Fleets whose processes subscribe different plugins. In Global mode only
// the namespace leader claims plugins, so a plugin that it does not
// subscribe (or has resigned: see plugin.Leader) would have no leader. A
// follower that subscribes such a plugin, and reads a live namespace
// record of another process whose Claims do not list it, leads it as a
// stand-in: a PerPlugin coordinator over the plugin lease, with every
// rule above (it takes the lease only when the rules for a PerPlugin
// process allow it, so never while a namespace leadership holds it by
// delegation). It stops, releasing the plugin lease, as soon as the
// namespace record lists the plugin or this process wins the namespace;
// the namespace leader's claim waits for that release (or for the lease to
// expire) like any claim of a lease a PerPlugin process holds. The stand-in
// and the claim are IfMatch writes on one plugin lease, so at most one of
// them leads, also inside one process. Its stand-ins read nothing more
// than a PerPlugin process would, and when every process subscribes the
// same plugins there are none.
//
// When every process is Global, nobody reads plugin leases after the
// claims: zero extra requests per heartbeat.
//
// Stores that break the rules. Everything above assumes a store that
// honours conditional writes. A Hub checks that once before it leads
// anything (CheckStore) and refuses a store that lets through a write
// that must fail (ErrUnsafeStore). While running, a lease keeper that
// sees what no honest store can show (two holders at one epoch, an epoch
// going down, a write on a version it saw replaced succeeding) makes every
// leader of the Hub step down until the check passes again.
//
// Requests and shutdown. Every storage request has a deadline
// (internal/deadline), and the engine stops waiting at it even when a
// driver ignores its context: the write is then in doubt, which the rules
// above already cover. Close ends leadership first (the plugins' contexts
// are cancelled and their Lead and Tick waited for), then releases,
// within a bound of its own: a release never precedes the end of the
// plugin work it would hand over, and a plugin still running at the bound
// leaves its lease to expire instead.
//
// Liveness. A cold namespace gets its leader in two round trips (a GET and
// an IfAbsent PUT; the first heartbeat runs at start). After a crash a
// follower takes over within LeaseTimeout + HeartbeatInterval +
// HeartbeatJitter, after a graceful stop within HeartbeatInterval +
// HeartbeatJitter (plus request latency). In Global mode a follower is
// told a plugin's leader a few hundred milliseconds (plus request
// latency) after the leader's claim, so on a cold start well within
// HeartbeatInterval + HeartbeatJitter of the election: the leader renews
// right after its claims, and followers read early while a new leader
// does not list their plugins. Neither touches the argument above: that
// renewal is an ordinary one (IfMatch, seq+1, a new renew start), and an
// early read that returns an unchanged version keeps the time it was
// first seen. Failed renewals are retried with a bounded backoff until the
// renew deadline. A circuit breaker stops requests for a while after
// consecutive storage failures; it only ever withholds requests, so it
// cannot weaken safety.
//
// # Membership
//
// Each coordinator writes <root><ns>/workers/<id>.json (PerPlugin:
// <root><ns>/plugins/<plugin>/workers/<id>.json) every WorkerTimeout/3.
// ActiveWorkers lists them and judges liveness on the server's clock (the
// listing's ServerTime against each record's modification time). The
// leader deletes records older than 3 WorkerTimeouts; a graceful stop
// deletes its own.
package coord
