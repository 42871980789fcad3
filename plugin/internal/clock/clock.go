// Package clock gives each built-in plugin the plugin.Clock its options
// ask for, so that the three of them default the same way.
package clock

import (
	"time"

	"github.com/s3coord/coord/plugin"
)

// Of returns c if it is set; else, if now is set (the older
// Options.Now of queue and ttl), a clock that reads now and waits on the
// time package; else the time package.
func Of(c plugin.Clock, now func() time.Time) plugin.Clock {
	switch {
	case c != nil:
		return c
	case now != nil:
		return nowClock(now)
	default:
		return system{}
	}
}

type system struct{}

func (system) Now() time.Time                         { return time.Now() }
func (system) After(d time.Duration) <-chan time.Time { return time.After(d) }

type nowClock func() time.Time

func (f nowClock) Now() time.Time                       { return f() }
func (nowClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
