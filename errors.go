package coord

import (
	"errors"
	"fmt"
)

// Sentinel errors of package coord. Test with errors.Is; never compare
// strings. Storage errors keep the driver's sentinels reachable
// (driver.ErrPrecondition, driver.ErrNotFound, …).
var (
	// ErrInvalidConfig: a Config field, a UseOptions field or a proclaimed
	// value breaks a rule; the error names the field and the rule.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrInvalidName: a namespace, plugin name or worker id breaks the
	// naming rules of ValidateName (the error names the kind, the name and
	// the rule). Nothing was written.
	ErrInvalidName = errors.New("invalid name")
	// ErrClosed: the Hub or Subscription was closed.
	ErrClosed = errors.New("coord: closed")
	// ErrNotLeader: the operation needs this process to lead.
	ErrNotLeader = errors.New("coord: not the leader")
	// ErrStoreUnavailable: the store did not answer usefully (the global
	// coordinator could not start, or a request was not sent because the
	// circuit breaker is open after consecutive storage failures).
	ErrStoreUnavailable = errors.New("coord: store unavailable")
	// ErrUnsafeStore: the store does not honour conditional writes (the
	// store check of CheckStore failed, or the store was seen breaking a
	// rule while running). errors.As(err, &rule) finds the Rule it broke.
	// Nothing leads on such a store.
	ErrUnsafeStore = errors.New("coord: unsafe store")
	// ErrAlreadySubscribed: a plugin name is used twice in one namespace
	// of one Hub.
	ErrAlreadySubscribed = errors.New("coord: plugin already subscribed")
	// ErrCorruptRecord: a coordination record could not be decoded or
	// breaks the record rules. The engine never panics on one: it counts
	// it and treats the lease as held until it stays unchanged for a
	// whole lease.
	ErrCorruptRecord = errors.New("coord: corrupt record")
	// ErrChanged: an operator action (ForceRelease) found the record
	// changed since the version the operator saw; nothing was written.
	ErrChanged = errors.New("coord: record changed since it was read")
	// ErrDelegated: ForceRelease of a plugin lease that is delegated to
	// the namespace lease; release the namespace lease instead.
	ErrDelegated = errors.New("coord: plugin lease is delegated to the namespace lease")
)

// Why a leadership ended: context.Cause of the context that Lead and Tick
// receive is one of these (test with errors.Is), or ErrUnsafeStore.
var (
	// ErrLeaseLost: the lease record changed since this process's last
	// confirmed renewal, so its renewal lost its condition. The error
	// wrapping it says what the record shows: "taken over by" another
	// holder (named, with its epoch), or "our own renewal applied late"
	// (a write of ours that we had given up on replaced a later one).
	ErrLeaseLost = errors.New("coord: lease lost")
	// ErrRenewDeadline: no renewal succeeded within RenewDeadline (the
	// store is slow or unreachable, or this process was paused).
	ErrRenewDeadline = errors.New("coord: renew deadline passed")
	// ErrResigned: this process let go: Close, Subscription.Close,
	// Resign, or its Lead returned.
	ErrResigned = errors.New("coord: leadership released by this process")
	// ErrOperatorRelease: an operator released the lease (ForceRelease,
	// coordctl release).
	ErrOperatorRelease = errors.New("coord: lease released by an operator")
)

// errCircuitOpen: a request was not sent because the circuit breaker is
// open after consecutive storage failures (errors.Is(err,
// ErrStoreUnavailable) holds).
var errCircuitOpen = fmt.Errorf("%w: circuit breaker open", ErrStoreUnavailable)

// ConfigError is the error of Config.Validate: which field is wrong and
// which rule it breaks. errors.Is(err, ErrInvalidConfig) holds, and
// errors.Is(err, ErrInvalidName) too for a bad WorkerID or meta key.
type ConfigError struct {
	Field string
	Rule  string
	err   error // the cause, if any (a *nameError)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold, and reaches the
// cause: the name error of a bad WorkerID or meta key.
func (e *ConfigError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrInvalidConfig}
	}
	return []error{ErrInvalidConfig, e.err}
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("coord: invalid config: %s: %s", e.Field, e.Rule)
}

// nameError is the error of ValidateName. errors.Is(err, ErrInvalidName)
// holds.
type nameError struct {
	Kind string // "namespace", "plugin", "worker id"
	Name string
	Rule string
}

func (e *nameError) Error() string {
	shown := e.Name
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	return fmt.Sprintf("coord: invalid %s %q: %s", e.Kind, shown, e.Rule)
}

// Is makes errors.Is(err, ErrInvalidName) hold.
func (e *nameError) Is(target error) bool { return target == ErrInvalidName }
