package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storeurl"
)

// bucketUsage is the help text of "coordctl bucket".
const bucketUsage = `
coordctl bucket create [flags] STORE_URL
  Makes the bucket of an s3:// or minio:// store URL, with the credentials of the
  environment, so that no other client is needed. Idempotent: a bucket that exists
  and is yours is fine ("exists"). For s3:// outside us-east-1, region= sets the
  bucket's location. The URL's prefix is not written to.
  -timeout D           bound on each request (default 30s)
  -json                {"bucket": …, "created": true|false}
  Exit codes: 0 created, or exists already and is yours; 1 refused (access denied,
  the name is taken by another owner, unreachable); 2 usage error (also a bucket name
  the server refuses, or a store without buckets: mem://, bolt://).
`

// bucketCmd runs "coordctl bucket". o holds the flags given before the command.
func (c *cli) bucketCmd(ctx context.Context, o options, args []string) int {
	if len(args) == 0 {
		return c.usage("bucket: missing subcommand: coordctl bucket create STORE_URL")
	}
	if sub := args[0]; sub != "create" {
		if sub == "-h" || sub == "--help" || sub == "help" {
			c.printUsage()
			return exitOK
		}
		return c.usage(fmt.Sprintf("bucket: unknown subcommand %q (want create)", sub))
	}
	saved := o
	fs := c.flags("bucket create", &o)
	o = saved
	if code, ok := c.parseCommand(fs, args[1:]); !ok {
		return code
	}
	if code, ok := c.storeArg("bucket create", fs, &o); !ok {
		return code
	}
	if o.store == "" {
		return c.usage("bucket create: no store: give STORE_URL (or -store, or COORD_STORE)")
	}
	if o.timeout <= 0 {
		return c.usage("bucket create: durations must be positive")
	}
	store, closeStore, err := c.openStore(ctx, o)
	if err != nil {
		return c.openFailed(err)
	}
	defer closeStore()
	bc, ok := store.(driver.BucketCreator)
	if !ok {
		return c.usage(fmt.Sprintf("bucket create: a %s store has no bucket to create", store.Capabilities().Name))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout) // a HEAD, then a create
	defer cancel()
	created, err := bc.CreateBucket(ctx)
	var oe *driver.OpError
	bucket := ""
	if errors.As(err, &oe) {
		bucket = oe.Key
	}
	switch {
	case errors.Is(err, driver.ErrInvalidBucketName):
		return c.usage(fmt.Sprintf("bucket create: the server refuses the bucket name: %v", err))
	case errors.Is(err, driver.ErrBucketExists):
		fmt.Fprintf(c.stderr, "coordctl: bucket %q belongs to another owner: choose another name\n", bucket)
		return c.fail(err)
	case errors.Is(err, driver.ErrAccessDenied) && !strings.Contains(err.Error(), "no credentials found"):
		// (With no credentials nothing was sent: the error says what to set.)
		fmt.Fprintln(c.stderr, "coordctl: these credentials may not create buckets (s3:CreateBucket), or the bucket exists and is not yours")
		return c.fail(err)
	case err != nil:
		return c.fail(err)
	}
	spec, _ := storeurl.Parse(o.store)
	if o.json {
		c.printJSON(struct {
			Bucket  string `json:"bucket"`
			Created bool   `json:"created"`
		}{spec.Bucket, created})
		return exitOK
	}
	if created {
		fmt.Fprintf(c.stdout, "created bucket %s\n", spec.Bucket)
	} else {
		fmt.Fprintf(c.stdout, "bucket %s exists\n", spec.Bucket)
	}
	return exitOK
}
