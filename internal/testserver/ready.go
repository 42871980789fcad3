package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Ready returns nil once s answers signed requests that succeed: it
// creates a bucket with a fresh name, writes, reads and deletes one object
// in it and removes the bucket. A port that accepts connections, or a
// health endpoint that answers, is not enough: MinIO answers
// XMinioServerNotInitialized for a while after /minio/health/ready is 200,
// and SeaweedFS's S3 gateway listens before its filer has a volume to
// write to. Ready retries every 200 ms until ctx ends, and then returns
// the last error.
func Ready(ctx context.Context, s Server) error {
	return retry(ctx, func(ctx context.Context) error { return s3RoundTrip(ctx, s) })
}

func s3RoundTrip(ctx context.Context, s Server) error {
	c := s.S3Client()
	// One attempt per call: retry paces the attempts and keeps the
	// server's last answer (the SDK's own back-off would let a deadline
	// cut an attempt off with no answer at all).
	once := func(o *awss3.Options) { o.RetryMaxAttempts = 1 }
	bucket := UniqueName("coord-ready")
	key := "ready"
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}, once); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("ready"))}, once); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key}, once)
	if err != nil {
		return fmt.Errorf("get object: %w", err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(body) != "ready" {
		return fmt.Errorf("get object: %q, %v", body, err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: &key}, once); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}, once); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	return nil
}

// GCSReady returns nil once the GCS emulator at endpoint creates a bucket
// through its JSON API and lists it back; it retries like Ready.
func GCSReady(ctx context.Context, endpoint string) error {
	return retry(ctx, func(ctx context.Context) error {
		_, err := CreateGCSBucket(ctx, endpoint, UniqueName("coord-ready"))
		return err
	})
}

// CreateGCSBucket creates bucket on the GCS emulator at endpoint through
// its JSON API (POST /storage/v1/b), reads it back (GET
// /storage/v1/b/BUCKET) and returns the body of that answer.
func CreateGCSBucket(ctx context.Context, endpoint, bucket string) ([]byte, error) {
	body := fmt.Sprintf(`{"name":%q}`, bucket)
	if _, err := gcsDo(ctx, http.MethodPost, endpoint+"/storage/v1/b?project=coord-test", body, http.StatusOK); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	got, err := gcsDo(ctx, http.MethodGet, endpoint+"/storage/v1/b/"+url.PathEscape(bucket), "", http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("get bucket: %w", err)
	}
	return got, nil
}

func gcsDo(ctx context.Context, method, u, body string, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d: %.200s", method, u, resp.StatusCode, b)
	}
	return b, nil
}

// retry calls try, each attempt bounded by 10 s, every 200 ms until it
// succeeds or ctx ends.
func retry(ctx context.Context, try func(context.Context) error) error {
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // not an attempt the caller's deadline cut off
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("not ready: %w", ctx.Err()), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
