// Command ready waits until a test server started by run.sh really serves:
// a signed S3 round trip that succeeds (testserver.Ready), or, with -gcs,
// a bucket created through the GCS emulator's JSON API
// (testserver.GCSReady). It exits 0 when the server is ready, 1 when the
// timeout passes or the server's process (-pid) exits first.
//
//	ready -endpoint URL [-access K -secret S -region R | -gcs] [-pid PID] [-timeout 60s]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/s3coord/coord/internal/testserver"
)

func main() {
	var s testserver.Server
	flag.StringVar(&s.Endpoint, "endpoint", "", "server base URL")
	flag.StringVar(&s.AccessKey, "access", "", "S3 access key")
	flag.StringVar(&s.SecretKey, "secret", "", "S3 secret key")
	flag.StringVar(&s.Region, "region", "us-east-1", "S3 region")
	gcs := flag.Bool("gcs", false, "the server is the GCS emulator")
	pid := flag.Int("pid", 0, "give up when this process exits")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if s.Endpoint == "" {
		fmt.Fprintln(os.Stderr, "ready: -endpoint is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *pid > 0 {
		proc, err := os.FindProcess(*pid)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ready: process %d: %v\n", *pid, err)
			os.Exit(1)
		}
		go func() {
			for proc.Signal(syscall.Signal(0)) == nil {
				time.Sleep(100 * time.Millisecond)
			}
			cancel()
		}()
	}
	var err error
	if *gcs {
		err = testserver.GCSReady(ctx, s.Endpoint)
	} else {
		err = testserver.Ready(ctx, s)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ready: %s: %v\n", s.Endpoint, err)
		os.Exit(1)
	}
}
