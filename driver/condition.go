package driver

import "fmt"

type condKind uint8

const (
	condNone condKind = iota
	condIfAbsent
	condIfMatch
)

// Condition guards a write. The zero Condition is None: an unconditional
// write.
type Condition struct {
	kind    condKind
	version string
}

// None is the unconditional condition: the write overwrites whatever is
// there.
var None = Condition{}

// IfAbsent makes a Put succeed only when the key does not exist
// (If-None-Match: *).
func IfAbsent() Condition { return Condition{kind: condIfAbsent} }

// IfMatch makes a write succeed only when the key exists with exactly this
// version (If-Match). An empty version never matches.
func IfMatch(version string) Condition { return Condition{kind: condIfMatch, version: version} }

// IsNone reports whether c is unconditional.
func (c Condition) IsNone() bool { return c.kind == condNone }

// IsIfAbsent reports whether c is IfAbsent.
func (c Condition) IsIfAbsent() bool { return c.kind == condIfAbsent }

// Match returns the version of an IfMatch condition and true, or "" and
// false for any other condition.
func (c Condition) Match() (version string, ok bool) {
	return c.version, c.kind == condIfMatch
}

// Holds reports whether c holds for an object that exists (exists) with
// version current. Drivers that check conditions themselves (mem, bolt)
// use it so that the rule is written once.
func (c Condition) Holds(exists bool, current string) bool {
	switch c.kind {
	case condIfAbsent:
		return !exists
	case condIfMatch:
		return exists && c.version != "" && c.version == current
	default:
		return true
	}
}

func (c Condition) String() string {
	switch c.kind {
	case condIfAbsent:
		return "IfAbsent"
	case condIfMatch:
		return fmt.Sprintf("IfMatch(%q)", c.version)
	default:
		return "None"
	}
}
