//go:build !linux

package main

import (
	"context"
	"fmt"

	"github.com/s3coord/coord/driver"
)

// supervise needs Linux: a child subreaper, /proc and CLOCK_MONOTONIC
// shared by every process keep CMD from outliving its leadership.
func (c *cli) supervise(ctx context.Context, store driver.Store, o options, ro runOptions) int {
	fmt.Fprintln(c.stderr, "coordctl run: needs Linux (process groups, a child subreaper and /proc)")
	return exitRunFailed
}

func guard(c *cli, args []string) int { return exitRunFailed }
