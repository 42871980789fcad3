package main

import "context"

// checkUsage is the help text of "coordctl check".
const checkUsage = ``

// checkCmd runs "coordctl check". o holds the flags given before the command.
func (c *cli) checkCmd(ctx context.Context, o options, args []string) int {
	return c.usage("check: not available in this build yet")
}
