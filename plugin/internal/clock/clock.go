// Package clock gives each built-in plugin the plugin.Clock its options
// ask for, so that the three of them default the same way.
package clock

import (
	"github.com/s3coord/coord/clock"
	"github.com/s3coord/coord/plugin"
)

// Of returns c if it is set, else the time package's clock.
func Of(c plugin.Clock) plugin.Clock {
	if c != nil {
		return c
	}
	return clock.Real
}
