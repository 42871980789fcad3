// Package plugin defines the contract between coord and the code that
// needs exactly one leader: a plugin.
//
// A plugin is registered under a name (coord.Hub.Use(ctx, "queue", p, …))
// and has any of these abilities, found by type assertion (as
// database/sql/driver does):
//
//   - Leader: Lead runs while this process leads the plugin. Its context is
//     cancelled the moment leadership is lost (or could be lost: the engine
//     steps down before any other process can take over).
//   - Observer: LeaderChanged hears every change of leader.
//   - Periodic: Tick runs every Interval while this process leads.
//
// Every leadership comes with a Term carrying the plugin's epoch: a fencing
// token that strictly increases across leaders. A plugin that writes
// shared state stamps its writes with the epoch and rejects writes from a
// smaller one (see CheckEpoch), so that a leader paused past its lease
// cannot overwrite the work of its successor.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/s3coord/coord/clock"
)

// Plugin is any value coord can elect a leader for. Its abilities are the
// optional interfaces below; a plugin with none of them still gets a
// leader, which the application can query.
type Plugin any

// Leader is a plugin with work to run while it leads.
type Leader interface {
	// Lead runs in its own goroutine when this process becomes leader of
	// the plugin, and must return promptly once ctx is cancelled. A return
	// while ctx is still live (nil or an error) resigns: this process stops
	// leading the plugin (any Tick is cancelled too), releases the
	// plugin's lease at once so that another process can take it, and is
	// a candidate again after a back-off (a HeartbeatInterval, doubling
	// with each early return in a row up to four LeaseTimeouts). An error
	// is logged and counted (Metrics.LeadErrors).
	Lead(ctx context.Context, term Term) error
}

// Observer is a plugin that wants to hear about leader changes.
type Observer interface {
	// LeaderChanged is called for every observed change of leader, in
	// order, from a goroutine of its own: it may block without blocking
	// the election loop. When events pile up beyond a buffer the oldest
	// are dropped (and counted), so the last change heard is the latest.
	LeaderChanged(change Change)
}

// Periodic is a plugin with leader-only work at its own interval.
type Periodic interface {
	// Interval is how often Tick runs while leading; <= 0 disables Tick.
	Interval() time.Duration
	// Tick runs while leading; ctx is cancelled when leadership is lost.
	Tick(ctx context.Context, term Term) error
}

// Term is one leadership of one plugin.
type Term struct {
	Namespace string
	Plugin    string
	// Leader is the worker id of the leading process.
	Leader string
	// Epoch is the plugin's fencing token: strictly increasing, one leader
	// per epoch, in both global and per-plugin mode.
	Epoch uint64
	// Mode is "global" or "per-plugin": how this term was won.
	Mode string
	// Started is when this process became leader (its own clock).
	Started time.Time
}

func (t Term) String() string {
	return fmt.Sprintf("%s/%s leader=%s epoch=%d mode=%s", t.Namespace, t.Plugin, t.Leader, t.Epoch, t.Mode)
}

// Change describes a change of leader as observed by this process. From or
// To is empty when there was or is no leader.
type Change struct {
	Namespace string
	Plugin    string
	From, To  string
	Epoch     uint64
	// Value is what the leader To proclaims with its lease (coord's
	// Hub.Proclaim): its address, say. A change of it alone is a Change
	// too (From == To).
	Value string
	// Self is true when To is this process.
	Self bool
}

// Clock is where the built-in plugins (plugin/queue, plugin/ttl,
// plugin/scheduler) take their time from: their Options.Clock. It is
// coord's one clock interface (package clock), so a Hub's Config.Clock,
// clock.Real or a virtual clock (internal/vclock) is
// passed as is; nil means the time package, which runs on virtual time
// inside a testing/synctest bubble.
type Clock = clock.Clock

// ErrStaleEpoch is returned by CheckEpoch when a write comes from an older
// leadership than one already recorded.
var ErrStaleEpoch = errors.New("stale epoch: a newer leader has written")

// CheckEpoch is the fencing rule: a write stamped with epoch mine may
// proceed over state last written at epoch recorded only if mine is not
// smaller. It returns an error for which errors.Is(err, ErrStaleEpoch)
// holds otherwise.
func CheckEpoch(recorded, mine uint64) error {
	if mine < recorded {
		return fmt.Errorf("%w (mine %d < recorded %d)", ErrStaleEpoch, mine, recorded)
	}
	return nil
}

// Func adapts functions to a plugin with the optional abilities: a Func
// (a value or a pointer) has exactly the abilities whose fields are set
// (OnLead: Leader; OnChange: Observer; Every > 0 and OnTick: Periodic), as
// Abilities reports. It is handy in tests and small programs.
type Func struct {
	// OnLead, if set, is Lead.
	OnLead func(ctx context.Context, term Term) error
	// OnChange, if set, is LeaderChanged.
	OnChange func(Change)
	// Every and OnTick are Interval and Tick; Every <= 0 means no
	// periodic work.
	Every  time.Duration
	OnTick func(ctx context.Context, term Term) error
}

// Lead implements Leader; without OnLead it returns at once (coord does
// not call it then: see Abilities).
func (f *Func) Lead(ctx context.Context, term Term) error {
	if f.OnLead == nil {
		return nil
	}
	return f.OnLead(ctx, term)
}

// LeaderChanged implements Observer.
func (f *Func) LeaderChanged(c Change) {
	if f.OnChange != nil {
		f.OnChange(c)
	}
}

// Interval implements Periodic.
func (f *Func) Interval() time.Duration { return f.Every }

// Tick implements Periodic.
func (f *Func) Tick(ctx context.Context, term Term) error {
	if f.OnTick == nil {
		return nil
	}
	return f.OnTick(ctx, term)
}

// Abilities returns the abilities of p that coord uses: nil for each one
// p lacks. A Func, by value or by pointer, has exactly the abilities whose
// fields are set; any other value has those of its method set.
func Abilities(p Plugin) (lead Leader, observe Observer, tick Periodic) {
	switch f := p.(type) {
	case Func:
		return Abilities(&f)
	case *Func:
		if f == nil {
			return nil, nil, nil
		}
		if f.OnLead != nil && !isIdle(f.OnLead) { // Idle needs no goroutine: it only waits
			lead = f
		}
		if f.OnChange != nil {
			observe = f
		}
		if f.Every > 0 && f.OnTick != nil {
			tick = f
		}
		return lead, observe, tick
	}
	lead, _ = p.(Leader)
	observe, _ = p.(Observer)
	if t, ok := p.(Periodic); ok && t.Interval() > 0 {
		tick = t
	}
	return lead, observe, tick
}

// Idle is a Lead that does nothing but hold the leadership until it ends:
// for a plugin whose work the application starts itself when
// Subscription.Term or WaitLeader says it leads.
func Idle(ctx context.Context, _ Term) error {
	<-ctx.Done()
	return nil
}

// isIdle reports whether f is Idle.
func isIdle(f func(context.Context, Term) error) bool {
	return reflect.ValueOf(f).Pointer() == reflect.ValueOf(Idle).Pointer()
}

// ErrNoAbilities is reachable from Check's error for a value coord could
// do nothing with.
var ErrNoAbilities = errors.New("plugin has none of the abilities Leader, Observer, Periodic")

// abilityMethods are the methods of the abilities, with the signatures
// they must have.
var abilityMethods = map[string]reflect.Type{
	"Lead":          reflect.TypeFor[func(context.Context, Term) error](),
	"LeaderChanged": reflect.TypeFor[func(Change)](),
	"Interval":      reflect.TypeFor[func() time.Duration](),
	"Tick":          reflect.TypeFor[func(context.Context, Term) error](),
}

// Check reports why p cannot be a plugin: nil; a method named like an
// ability's (Lead, LeaderChanged, Interval, Tick) with another signature;
// abilities that are methods of *T given a T; or no ability at all (a
// Func with no field set, say). Its errors satisfy errors.Is(err,
// ErrNoAbilities).
func Check(p Plugin) error {
	if p == nil {
		return fmt.Errorf("%w: nil", ErrNoAbilities)
	}
	v := reflect.ValueOf(p)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("%w: a nil %T", ErrNoAbilities, p)
	}
	t := v.Type()
	for name, want := range abilityMethods {
		m, ok := t.MethodByName(name)
		if !ok {
			continue
		}
		if got := m.Type; got.NumIn() < 1 || funcWithoutReceiver(got) != want.String() {
			return fmt.Errorf("%w: %T has a method %s of type %s, want %s", ErrNoAbilities, p, name, funcWithoutReceiver(got), want)
		}
	}
	switch f := p.(type) {
	case Func:
		return Check(&f)
	case *Func:
		if f.OnLead == nil && f.OnChange == nil && (f.Every <= 0 || f.OnTick == nil) {
			return fmt.Errorf("%w: a plugin.Func with no field set (OnLead: plugin.Idle leads doing nothing)", ErrNoAbilities)
		}
		return nil
	}
	lead, observe, tick := Abilities(p)
	if lead != nil || observe != nil || tick != nil {
		return nil
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		for name := range abilityMethods {
			if _, ok := pt.MethodByName(name); ok {
				return fmt.Errorf("%w: %T's %s is a method of *%s: pass a pointer", ErrNoAbilities, p, name, t)
			}
		}
	}
	if _, ok := p.(Periodic); ok {
		return fmt.Errorf("%w: %T's Interval is not positive, and it has no Lead or LeaderChanged", ErrNoAbilities, p)
	}
	return fmt.Errorf("%w: %T; want Lead(context.Context, plugin.Term) error, LeaderChanged(plugin.Change), or Interval() time.Duration and Tick(context.Context, plugin.Term) error", ErrNoAbilities, p)
}

// funcWithoutReceiver prints a method type without its receiver.
func funcWithoutReceiver(m reflect.Type) string {
	in := make([]reflect.Type, 0, m.NumIn())
	for i := 1; i < m.NumIn(); i++ {
		in = append(in, m.In(i))
	}
	out := make([]reflect.Type, 0, m.NumOut())
	for i := 0; i < m.NumOut(); i++ {
		out = append(out, m.Out(i))
	}
	return reflect.FuncOf(in, out, m.IsVariadic()).String()
}
