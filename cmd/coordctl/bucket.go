package main

import "context"

// bucketUsage is the help text of "coordctl bucket".
const bucketUsage = ``

// bucketCmd runs "coordctl bucket". o holds the flags given before the command.
func (c *cli) bucketCmd(ctx context.Context, o options, args []string) int {
	return c.usage("bucket: not available in this build yet")
}
