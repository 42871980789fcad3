package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord/conformance"
	"github.com/s3coord/coord/internal/testserver"
)

// ctlURL runs coordctl in-process with the real store URL opener.
func ctlURL(ctx context.Context, args ...string) result {
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, open: openURL}
	code := c.run(ctx, args)
	return result{code, out.String(), errOut.String()}
}

// serverEnv points the credential chains of both URL schemes at srv.
func serverEnv(t *testing.T, srv testserver.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("MINIO_ACCESS_KEY", srv.AccessKey)
	t.Setenv("MINIO_SECRET_KEY", srv.SecretKey)
}

// s3URL is an s3:// URL for bucket on endpoint, with extra parameters.
func s3URL(endpoint, bucket, extra string) string {
	return fmt.Sprintf("s3://%s/coord/?endpoint=%s&path_style=true&region=us-east-1%s", bucket, url.QueryEscape(endpoint), extra)
}

func checkJSON(t *testing.T, storeURL string) (conformance.Report, result) {
	t.Helper()
	r := ctlURL(t.Context(), "check", "-json", "-timeout", "10s", "-max-time", "2m", storeURL)
	var rep conformance.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, f := range rep.Findings {
		t.Logf("%-18s %s %s %v", f.Check, f.Status, f.Summary, f.Details)
	}
	t.Logf("latency %+v clock %v ± %v requests %v took %v leftover %d", rep.Latency, rep.ClockOffset, rep.ClockUncertainty, rep.Requests, rep.Took, rep.Leftover)
	return rep, r
}

func findingOf(rep conformance.Report, check string) conformance.Finding {
	for _, f := range rep.Findings {
		if f.Check == check {
			return f
		}
	}
	return conformance.Finding{}
}

// TestCheckServers: MinIO and versitygw pass, with their quirks reported
// as WARN (both measured through the s3 driver, which can send a
// conditional delete; through minio-go it is not measured), and nothing
// is left behind.
func TestCheckServers(t *testing.T) {
	for _, tc := range []struct {
		srv       func(testing.TB) testserver.Server
		scheme    string
		deleteAt  conformance.Status
		verifyTag bool
	}{
		{testserver.MinIO, "s3", conformance.Warn, false},
		{testserver.MinIO, "minio", conformance.Skip, false},
		{testserver.VersityGW, "s3", conformance.Warn, true},
	} {
		srv := tc.srv(t)
		t.Run(srv.Name+"/"+tc.scheme, func(t *testing.T) {
			serverEnv(t, srv)
			bucket := srv.NewBucket(t)
			u := s3URL(srv.Endpoint, bucket, "")
			if tc.verifyTag {
				u += "&verify_etag=true"
			}
			if tc.scheme == "minio" {
				u = fmt.Sprintf("minio://%s/%s/coord/?secure=false", srv.HostPort(), bucket)
			}
			rep, r := checkJSON(t, u)
			if r.code != exitOK || rep.Status == conformance.Fail {
				t.Errorf("exit %d, status %s; failed: %+v", r.code, rep.Status, rep.Failed())
			}
			if f := findingOf(rep, "Delete/AtServer"); f.Status != tc.deleteAt {
				t.Errorf("Delete/AtServer: %s %v, want %s", f.Status, f.Details, tc.deleteAt)
			}
			if f := findingOf(rep, "Version/Form"); f.Status != conformance.Pass {
				t.Errorf("Version/Form: %s", f.Status)
			}
			if rep.Leftover != 0 || rep.ClockUncertainty == 0 || len(rep.Latency) < 5 {
				t.Errorf("leftover %d, clock uncertainty %v, latency %v", rep.Leftover, rep.ClockUncertainty, rep.Latency)
			}
			if keys := bucketKeys(t, srv, bucket); len(keys) != 0 {
				t.Errorf("the bucket holds %d objects after the check: %v", len(keys), keys)
			}
			checkRecommendation(t, rep)
		})
	}
}

// checkRecommendation checks that the recommended HeartbeatInterval (the
// deadline of every request) is at least 10 x every p99 the check
// measured, the race rounds' included.
func checkRecommendation(t *testing.T, rep conformance.Report) {
	t.Helper()
	races := 0
	for _, l := range rep.Latency {
		if strings.HasSuffix(l.Op, " round") {
			races++
		}
		if hb := rep.Recommended.HeartbeatInterval; hb < 10*l.P99 {
			t.Errorf("recommended HeartbeatInterval %v < 10 x the p99 of %s (%v)", hb, l.Op, l.P99)
		}
	}
	if races < 2 {
		t.Errorf("%d race rows in %+v, want at least 2", races, rep.Latency)
	}
}

// TestCheckSeaweedFS: SeaweedFS 4.53 passes the check through the s3
// driver, with one winner in every race; its contended writes are slow
// (rounds of seconds where a sequential PUT takes milliseconds), so the
// check runs with a request deadline of 60 s, and the recommendation
// covers the rounds; nothing is left behind.
func TestCheckSeaweedFS(t *testing.T) {
	srv := testserver.SeaweedFS(t)
	serverEnv(t, srv)
	bucket := srv.NewBucket(t)
	r := ctlURL(t.Context(), "check", "-json", "-timeout", "60s", "-max-time", "5m", s3URL(srv.Endpoint, bucket, ""))
	var rep conformance.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, f := range rep.Findings {
		t.Logf("%-18s %s %v", f.Check, f.Status, f.Details)
	}
	if r.code != exitOK || rep.Status == conformance.Fail {
		t.Errorf("exit %d, status %s; failed: %+v", r.code, rep.Status, rep.Failed())
	}
	if rep.Leftover != 0 {
		t.Errorf("leftover %d", rep.Leftover)
	}
	if keys := bucketKeys(t, srv, bucket); len(keys) != 0 {
		t.Errorf("the bucket holds %d objects after the check: %v", len(keys), keys)
	}
	checkRecommendation(t, rep)
}

// TestCheckIgnoredConditions: MinIO behind a proxy that strips the
// conditional headers is a store that ignores conditions: FAIL naming
// the rules, exit 3, and still nothing left behind.
func TestCheckIgnoredConditions(t *testing.T) {
	srv := testserver.MinIO(t)
	serverEnv(t, srv)
	bucket := srv.NewBucket(t)
	proxy := testserver.NewStrippingProxy(t, srv)
	rep, r := checkJSON(t, s3URL(proxy.URL, bucket, ""))
	if r.code != exitCheckFailed || rep.Status != conformance.Fail {
		t.Errorf("exit %d status %s, want %d FAIL", r.code, rep.Status, exitCheckFailed)
	}
	for _, rule := range []string{"Put/IfAbsent", "Put/IfMatch", "Put/IfMatchMissing", "Race/IfAbsent", "Race/IfMatch"} {
		if f := findingOf(rep, rule); f.Status != conformance.Fail {
			t.Errorf("%s: %s, want FAIL", rule, f.Status)
		}
	}
	if f := findingOf(rep, "Get/Missing"); f.Status != conformance.Pass {
		t.Errorf("Get/Missing: %s, want PASS", f.Status)
	}
	if proxy.Stripped() == 0 {
		t.Error("the proxy stripped nothing")
	}
	if rep.Leftover != 0 || len(bucketKeys(t, srv, bucket)) != 0 {
		t.Errorf("leftover %d", rep.Leftover)
	}
}

func bucketKeys(t *testing.T, srv testserver.Server, bucket string) []string {
	t.Helper()
	out, err := srv.S3Client().ListObjectsV2(t.Context(), &awss3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}
