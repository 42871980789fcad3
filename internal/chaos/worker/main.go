// Command worker is one process of the real-server chaos test: one
// coord.Hub on an S3 store (the s3 driver, pointed at MinIO or versitygw,
// usually through a fault proxy), with a few plugins in global or
// per-plugin mode and short intervals. It logs every leadership interval
// it believes it has as JSON lines (see chaos.Line), fsynced line by line,
// so that a kill -9 loses only the interval still open; the orchestrator
// closes that one at the time it reaped the process.
//
// While it leads a plugin, the worker "acts" every -act interval: it reads
// the wall clock, then checks Subscription.Term; if the leadership is still
// valid it records that reading as its last action, otherwise it ends the
// interval at once. The end line carries the last action, so the checker
// can tell apart "believed it led" from "acted as leader", which matters
// for a process frozen by SIGSTOP (see package chaos).
//
// With -list-endpoint, the worker's LISTs of worker records (the leader's
// membership cleanup) go to that endpoint, the rest to -endpoint: two
// fault proxies in front of one server, so that a fault can hit those
// LISTs alone (chaos.RouteTransport).
//
// -driver minio uses driver/minio (minio-go, whose PUTs over plain HTTP
// are aws-chunked) instead of driver/s3 (the AWS SDK).
//
// Credentials come from the environment (COORD_CHAOS_ACCESS_KEY,
// COORD_CHAOS_SECRET_KEY), never from the command line. SIGTERM or SIGINT
// stops the Hub gracefully (releasing its leases).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/chaos"
	"github.com/s3coord/coord/plugin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

type options struct {
	endpoint, listEndpoint string
	bucket, prefix, region string
	id, mode, logPath      string
	driver                 string
	plugins                []string
	cfg                    coord.Config
	act                    time.Duration
}

func parseFlags() (options, error) {
	var o options
	var plugins string
	flag.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint URL (http://127.0.0.1:port)")
	flag.StringVar(&o.listEndpoint, "list-endpoint", "", "endpoint URL for the LISTs of worker records (default -endpoint)")
	flag.StringVar(&o.bucket, "bucket", "", "bucket")
	flag.StringVar(&o.prefix, "prefix", "", "key prefix inside the bucket")
	flag.StringVar(&o.region, "region", "us-east-1", "region")
	flag.StringVar(&o.id, "id", "", "worker id (unique per process)")
	flag.StringVar(&o.driver, "driver", "s3", "s3 (AWS SDK) or minio (minio-go)")
	flag.StringVar(&o.mode, "mode", string(coord.Global), "global or per-plugin")
	flag.StringVar(&o.logPath, "log", "", "interval log file (JSON lines)")
	flag.StringVar(&plugins, "plugins", "alpha,beta", "comma-separated plugin names")
	flag.DurationVar(&o.cfg.HeartbeatInterval, "heartbeat", 200*time.Millisecond, "coord.Config.HeartbeatInterval")
	flag.DurationVar(&o.cfg.HeartbeatJitter, "jitter", 50*time.Millisecond, "coord.Config.HeartbeatJitter")
	flag.DurationVar(&o.cfg.LeaseTimeout, "lease", 900*time.Millisecond, "coord.Config.LeaseTimeout")
	flag.DurationVar(&o.cfg.RenewDeadline, "renew-deadline", 600*time.Millisecond, "coord.Config.RenewDeadline")
	flag.DurationVar(&o.cfg.WorkerTimeout, "worker-timeout", 3*time.Second, "coord.Config.WorkerTimeout")
	flag.DurationVar(&o.act, "act", 20*time.Millisecond, "interval between two leader actions")
	flag.Parse()
	o.plugins = strings.Split(plugins, ",")
	switch {
	case o.endpoint == "" || o.bucket == "" || o.id == "" || o.logPath == "":
		return o, errors.New("-endpoint, -bucket, -id and -log are required")
	case o.mode != string(coord.Global) && o.mode != string(coord.PerPlugin):
		return o, fmt.Errorf("-mode must be %q or %q", coord.Global, coord.PerPlugin)
	case o.driver != "s3" && o.driver != "minio":
		return o, fmt.Errorf("-driver must be s3 or minio, not %q", o.driver)
	case o.act <= 0:
		return o, errors.New("-act must be positive")
	}
	if o.listEndpoint != "" {
		if u, err := url.Parse(o.listEndpoint); err != nil || u.Host == "" {
			return o, fmt.Errorf("-list-endpoint %q: not a URL with a host", o.listEndpoint)
		}
	}
	o.cfg.WorkerID = o.id
	if err := o.cfg.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	logw, err := chaos.CreateLog(o.logPath)
	if err != nil {
		return err
	}
	defer logw.Close()
	o.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	store, err := o.open(ctx)
	if err != nil {
		return err
	}
	hub, err := coord.NewHub(store, o.cfg)
	if err != nil {
		return err
	}
	base := chaos.Line{Worker: o.id, PID: os.Getpid(), Mode: o.mode}
	for _, name := range o.plugins {
		p := &leaderLog{name: name, log: logw, base: base, act: o.act}
		// Use retries: a fault proxy may be failing this worker's
		// connections right now.
		for {
			sub, err := hub.Use(ctx, name, p, coord.UseOptions{Mode: coord.Mode(o.mode)})
			if err == nil {
				p.sub.Store(sub)
				break
			}
			if ctx.Err() != nil {
				return hub.Close(context.Background())
			}
			fmt.Fprintln(os.Stderr, "worker: use", name, ":", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	ready := base
	ready.Kind, ready.At = chaos.KindReady, time.Now().UnixNano()
	if err := logw.Write(ready); err != nil {
		return err
	}
	<-ctx.Done()
	shuttingDown.Store(true)
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hub.Close(closeCtx)
}

// open returns the worker's store. With -driver s3 and without
// -list-endpoint it is s3.Open's; with -list-endpoint, the client is built
// here on the SDK's default transport with the LISTs of worker records
// routed there (s3.Open's config loader refuses a plain *http.Client when
// AWS_CA_BUNDLE is set), and, like the SDK's own client, it follows no
// redirect. With -driver minio it is minio.New's, on the same routing.
func (o options) open(ctx context.Context) (driver.Store, error) {
	access, secret := os.Getenv("COORD_CHAOS_ACCESS_KEY"), os.Getenv("COORD_CHAOS_SECRET_KEY")
	if o.driver == "minio" {
		u, err := url.Parse(o.endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("-endpoint %q: not a URL with a host", o.endpoint)
		}
		var tr http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
		if o.listEndpoint != "" {
			lu, _ := url.Parse(o.listEndpoint) // checked by parseFlags
			tr = &chaos.RouteTransport{Base: tr, Match: chaos.IsWorkerList, To: lu.Host}
		}
		return minio.New(minio.Config{
			Endpoint: u.Host, Secure: u.Scheme == "https", Region: o.region, Bucket: o.bucket, Prefix: o.prefix,
			AccessKey: access, SecretKey: secret, Transport: tr,
		})
	}
	if o.listEndpoint == "" {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return s3.Open(ctx, s3.Config{
			Bucket: o.bucket, Prefix: o.prefix, Region: o.region, Endpoint: o.endpoint, PathStyle: true,
			AccessKey: access, SecretKey: secret,
		})
	}
	u, _ := url.Parse(o.listEndpoint) // checked by parseFlags
	client := awss3.New(awss3.Options{
		Region:                     o.region,
		BaseEndpoint:               aws.String(o.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient: &http.Client{
			Transport:     &chaos.RouteTransport{Base: awshttp.NewBuildableClient().GetTransport(), Match: chaos.IsWorkerList, To: u.Host},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	})
	return s3.New(client, o.bucket, o.prefix, s3.Options{})
}

// leaderLog is the chaos plugin: it logs each leadership and acts while it
// leads.
type leaderLog struct {
	name string
	log  *chaos.LogWriter
	base chaos.Line
	act  time.Duration
	sub  atomic.Pointer[coord.Subscription]
}

// Lead logs the start, acts every l.act while the leadership holds, and
// logs the end with the time it noticed the end and the last action.
func (l *leaderLog) Lead(ctx context.Context, term plugin.Term) error {
	start := l.base
	start.Kind, start.Plugin, start.Epoch = chaos.KindStart, l.name, term.Epoch
	start.At, start.Acquired = time.Now().UnixNano(), term.Started.UnixNano()
	if err := l.log.Write(start); err != nil {
		return err
	}
	end := l.base
	end.Kind, end.Plugin, end.Epoch = chaos.KindEnd, l.name, term.Epoch
	tick := time.NewTicker(l.act)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			end.At, end.Reason = time.Now().UnixNano(), chaos.EndCancelled
			if shuttingDown.Load() {
				end.Reason = chaos.EndShutdown
			}
			return l.log.Write(end)
		case <-tick.C:
		}
		// Read the clock first: the engine's check below happens at or
		// after this reading, so a valid answer proves the leadership
		// held at this reading.
		now := time.Now().UnixNano()
		if ctx.Err() != nil {
			continue // the select above logs the end
		}
		sub := l.sub.Load()
		if sub == nil {
			continue // Use has not returned yet: rely on ctx alone
		}
		cur, ok := sub.Term()
		if !ok || cur.Epoch != term.Epoch {
			end.At, end.Reason = time.Now().UnixNano(), chaos.EndTermInvalid
			if err := l.log.Write(end); err != nil {
				return err
			}
			<-ctx.Done() // the engine ends it too; do nothing meanwhile
			return nil
		}
		end.LastAct = now
	}
}

// shuttingDown is set once the worker was asked to stop: leaderships
// that end after it ended because Hub.Close cancelled them.
var shuttingDown atomic.Bool
