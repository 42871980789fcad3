package main

import "context"

// runUsage is the help text of "coordctl run".
const runUsage = ``

// runCmd runs "coordctl run". o holds the flags given before the command.
func (c *cli) runCmd(ctx context.Context, o options, args []string) int {
	return c.usage("run: not available in this build yet")
}
