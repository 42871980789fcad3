package turnproxy_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/internal/chaos/turnproxy"
	"github.com/s3coord/coord/internal/testserver"
)

func TestDecodeChunked(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		data      string
		trailers  map[string]string
	}{
		{"signed", "5;chunk-signature=aa\r\nhello\r\n6;chunk-signature=bb\r\n world\r\n0;chunk-signature=cc\r\n\r\n", "hello world", nil},
		// minio-go's signed trailer: "name:value\n", then CRLF and the
		// trailer signature.
		{"signed trailer", "3;chunk-signature=aa\r\nabc\r\n0;chunk-signature=bb\r\nx-amz-checksum-crc32c:sOO8/Q==\n\r\nx-amz-trailer-signature:dd\r\n\r\n", "abc",
			map[string]string{"X-Amz-Checksum-Crc32c": "sOO8/Q=="}},
		// The AWS SDK's unsigned trailer.
		{"unsigned trailer", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n", "abc",
			map[string]string{"X-Amz-Checksum-Crc32": "NSRBwg=="}},
		{"empty", "0;chunk-signature=aa\r\n\r\n", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, tr, err := turnproxy.DecodeChunked([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != c.data {
				t.Errorf("data %q, want %q", data, c.data)
			}
			if len(tr) != len(c.trailers) {
				t.Errorf("trailers %v, want %v", tr, c.trailers)
			}
			for k, v := range c.trailers {
				if tr[k] != v {
					t.Errorf("trailer %s = %q, want %q", k, tr[k], v)
				}
			}
		})
	}
	for _, bad := range []string{"", "zz\r\nabc\r\n0\r\n\r\n", "5\r\nabc", "3\r\nabcXY0\r\n\r\n", "3\r\nabc\r\n0\r\nnocolon\r\n"} {
		if _, _, err := turnproxy.DecodeChunked([]byte(bad)); err == nil {
			t.Errorf("DecodeChunked(%q): no error", bad)
		}
	}
}

// TestProxyStripsConditions: on MinIO, a conditional PUT that the server
// refuses (412) through the proxy while it forwards faithfully succeeds
// once it strips, for the AWS SDK driver, minio-go's driver (whose PUTs
// over plain HTTP are aws-chunked, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with
// a signed trailer) and the AWS SDK with its default checksums; with small
// bodies and bodies of several chunks; the object read back directly from
// the server is the one written, byte for byte.
func TestProxyStripsConditions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MinIO")
	}
	srv := testserver.MinIO(t)
	p, err := turnproxy.New(srv.Endpoint, turnproxy.Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bucket := srv.NewBucket(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	direct := openS3(t, ctx, srv.Endpoint, srv, bucket)
	stores := map[string]driver.Store{
		"s3":    openS3(t, ctx, p.URL(), srv, bucket),
		"minio": openMinIO(t, p.HostPort(), srv, bucket),
		"sdk":   sdkDefaults{client: sdkClient(p.URL(), srv), bucket: bucket},
	}
	for _, name := range []string{"s3", "minio", "sdk"} {
		st := stores[name]
		for _, size := range []int{100, 200 << 10} {
			key := name + "/" + strings.Repeat("k", size%7+1)
			body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, size) }
			p.Strip(false)
			v1, err := st.Put(ctx, key, body(0), driver.IfAbsent())
			if err != nil {
				t.Fatalf("%s, %d bytes: first IfAbsent PUT: %v", name, size, err)
			}
			if _, err := st.Put(ctx, key, body(1), driver.IfAbsent()); !errors.Is(err, driver.ErrPrecondition) {
				t.Fatalf("%s, %d bytes: second IfAbsent PUT, not stripping: %v, want ErrPrecondition", name, size, err)
			}
			v2, err := st.Put(ctx, key, body(2), driver.IfMatch(v1))
			if err != nil {
				t.Fatalf("%s, %d bytes: IfMatch PUT of the current version: %v", name, size, err)
			}
			if _, err := st.Put(ctx, key, body(3), driver.IfMatch(v1)); !errors.Is(err, driver.ErrPrecondition) {
				t.Fatalf("%s, %d bytes: stale IfMatch PUT, not stripping: %v, want ErrPrecondition", name, size, err)
			}
			stripped, decoded := p.Stripped.Load(), p.Decoded.Load()
			p.Strip(true)
			if _, err := st.Put(ctx, key, body(4), driver.IfAbsent()); err != nil {
				t.Fatalf("%s, %d bytes: IfAbsent PUT of an existing key, stripping: %v", name, size, err)
			}
			checkObject(t, ctx, direct, key, body(4))
			if _, err := st.Put(ctx, key, body(5), driver.IfMatch(v2)); err != nil {
				t.Fatalf("%s, %d bytes: stale IfMatch PUT, stripping: %v", name, size, err)
			}
			checkObject(t, ctx, direct, key, body(5))
			if n := p.Stripped.Load() - stripped; n < 2 {
				t.Errorf("%s, %d bytes: %d requests stripped, want at least 2", name, size, n)
			}
			if n := p.Decoded.Load() - decoded; name == "minio" && n < 2 {
				t.Errorf("%s, %d bytes: %d aws-chunked bodies decoded, want at least 2 (minio-go streams its PUTs over HTTP)", name, size, n)
			}
			t.Logf("%s, %d bytes: stripped %d, aws-chunked decoded %d", name, size, p.Stripped.Load()-stripped, p.Decoded.Load()-decoded)
		}
	}
	if n := p.Failed.Load(); n != 0 {
		t.Errorf("%d requests could not be re-signed", n)
	}
}

func checkObject(t *testing.T, ctx context.Context, st driver.Store, key string, want []byte) {
	t.Helper()
	o, err := st.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if !bytes.Equal(o.Data, want) {
		t.Fatalf("get %s: %d bytes %.10q, want %d bytes %.10q", key, len(o.Data), o.Data, len(want), want)
	}
}

func openS3(t *testing.T, ctx context.Context, endpoint string, srv testserver.Server, bucket string) driver.Store {
	t.Helper()
	st, err := s3.Open(ctx, s3.Config{Bucket: bucket, Region: srv.Region, Endpoint: endpoint, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openMinIO(t *testing.T, hostPort string, srv testserver.Server, bucket string) driver.Store {
	t.Helper()
	st, err := minio.New(minio.Config{Endpoint: hostPort, Region: srv.Region, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sdkClient is an AWS SDK client with the SDK's default checksum
// settings (driver/s3 asks for checksums only when required).
func sdkClient(endpoint string, srv testserver.Server) *awss3.Client {
	return awss3.New(awss3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
}

// sdkDefaults is the part of driver.Store this test uses, on a bare AWS
// SDK client with default checksums: over plain HTTP the SDK sends the
// CRC32 as a header (it streams aws-chunked bodies with trailers only over
// TLS, and refuses a body it cannot seek without; TestDecodeChunked
// covers that form).
type sdkDefaults struct {
	driver.Store
	client *awss3.Client
	bucket string
}

func (s sdkDefaults) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	in := &awss3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	if v, ok := cond.Match(); ok {
		in.IfMatch = aws.String(`"` + v + `"`)
	} else if cond.IsIfAbsent() {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		if strings.Contains(err.Error(), "PreconditionFailed") || strings.Contains(err.Error(), "412") {
			return "", errors.Join(driver.ErrPrecondition, err)
		}
		return "", err
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}
