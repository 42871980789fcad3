// Package turnproxy is a store that turns, on a real S3 server: an HTTP
// reverse proxy that forwards every request faithfully until Strip(true),
// and from then on removes the conditional headers If-Match and
// If-None-Match from each request and signs it again (SigV4) with the
// server's credentials, so that the server accepts it and applies an
// unconditional write. It understands the requests of both the AWS SDK
// (driver/s3) and minio-go (driver/minio), aws-chunked uploads included:
// a streaming body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, its -TRAILER form,
// STREAMING-UNSIGNED-PAYLOAD-TRAILER) is decoded and forwarded plain, with
// its SHA-256 as the payload hash and its trailing checksum as a header.
//
// It has no dependency on package testing, so the chaos orchestrator (and
// anything else) can run it; internal/testserver builds its stripping
// CountingProxy on Resign.
package turnproxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials are the server's: the proxy signs with them.
type Credentials struct {
	AccessKey, SecretKey, Region string
}

// Proxy is a stripping reverse proxy on loopback in front of one server.
type Proxy struct {
	srv   *http.Server
	ln    net.Listener
	creds Credentials
	strip atomic.Bool
	done  chan struct{}

	// Stripped counts the requests forwarded without their conditions;
	// Decoded those of them whose aws-chunked body was decoded; Failed
	// the requests that could not be re-signed (answered 502).
	Stripped, Decoded, Failed atomic.Int64
}

// New starts a Proxy on 127.0.0.1 (a free port) in front of target (a base
// URL, "http://127.0.0.1:9000"). It forwards faithfully until Strip(true).
// The client's Host header is passed on, so that a signature made for the
// proxy's address (or for a TCP proxy in front of it) holds at the server.
func New(target string, creds Credentials) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("turnproxy: bad target %q", target)
	}
	if creds.Region == "" {
		creds.Region = "us-east-1"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, creds: creds, done: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p.strip.Load() {
				stripped, decoded, err := Resign(r, creds)
				if err != nil {
					p.Failed.Add(1)
					http.Error(w, "turnproxy: "+err.Error(), http.StatusBadGateway)
					return
				}
				if stripped {
					p.Stripped.Add(1)
				}
				if decoded {
					p.Decoded.Add(1)
				}
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// HostPort is the proxy's address, host:port.
func (p *Proxy) HostPort() string { return p.ln.Addr().String() }

// Strip turns the stripping on or off, for the requests that arrive from
// then on.
func (p *Proxy) Strip(on bool) { p.strip.Store(on) }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	<-p.done
	return err
}

// Resign removes If-Match and If-None-Match from r and signs it again
// with creds, in place; a request without either header is left alone
// (stripped false). An aws-chunked body is decoded first (decoded true):
// r then carries the plain body, its length and its SHA-256. The date of
// the client's signature is kept.
func Resign(r *http.Request, creds Credentials) (stripped, decoded bool, err error) {
	if r.Header.Get("If-Match") == "" && r.Header.Get("If-None-Match") == "" {
		return false, false, nil
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if strings.HasPrefix(hash, "STREAMING-") {
		if err := decodeChunked(r); err != nil {
			return false, false, err
		}
		hash, decoded = r.Header.Get("X-Amz-Content-Sha256"), true
	}
	if hash == "" {
		hash = "UNSIGNED-PAYLOAD"
	}
	r.Header.Del("If-Match")
	r.Header.Del("If-None-Match")
	r.Header.Del("Authorization")
	when, perr := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if perr != nil {
		when = time.Now().UTC()
	}
	region := creds.Region
	if region == "" {
		region = "us-east-1"
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	c := aws.Credentials{AccessKeyID: creds.AccessKey, SecretAccessKey: creds.SecretKey}
	if err := signer.SignHTTP(r.Context(), c, r, hash, "s3", region, when); err != nil {
		return false, decoded, fmt.Errorf("signing: %w", err)
	}
	return true, decoded, nil
}

// maxBody bounds the aws-chunked bodies decoded (coord's records are a
// few KiB).
const maxBody = 64 << 20

// decodeChunked replaces r's aws-chunked body with the plain data it
// carries: chunks "HEXSIZE[;chunk-signature=SIG]\r\nDATA\r\n", a last
// chunk of size 0, then trailer lines "name:value" (the trailer
// signature among them) up to the end. The trailing checksums become
// headers, the payload hash the data's SHA-256.
func decodeChunked(r *http.Request) error {
	if r.Body == nil {
		return errors.New("aws-chunked request without a body")
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	_ = r.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the aws-chunked body: %w", err)
	}
	if len(raw) > maxBody {
		return errors.New("aws-chunked body too large")
	}
	data, trailers, err := DecodeChunked(raw)
	if err != nil {
		return err
	}
	if want := r.Header.Get("X-Amz-Decoded-Content-Length"); want != "" && want != strconv.Itoa(len(data)) {
		return fmt.Errorf("aws-chunked body decodes to %d bytes, the request says %s", len(data), want)
	}
	for name, v := range trailers {
		r.Header.Set(name, v)
	}
	var enc []string
	for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
			enc = append(enc, e)
		}
	}
	r.Header.Del("Content-Encoding")
	if len(enc) > 0 {
		r.Header.Set("Content-Encoding", strings.Join(enc, ","))
	}
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("X-Amz-Trailer")
	r.Header.Del("Content-Length")
	r.Trailer = nil
	sum := sha256.Sum256(data)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	r.ContentLength = int64(len(data))
	return nil
}

// DecodeChunked decodes an aws-chunked body: the data, and the trailing
// headers but the trailer signature (canonical names).
func DecodeChunked(raw []byte) (data []byte, trailers map[string]string, err error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, fmt.Errorf("aws-chunked: a chunk header ends early: %q", line)
		}
		line = strings.TrimRight(line, "\r\n")
		sizeHex, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseUint(strings.TrimSpace(sizeHex), 16, 31)
		if err != nil {
			return nil, nil, fmt.Errorf("aws-chunked: bad chunk size in %q", line)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, nil, fmt.Errorf("aws-chunked: a %d-byte chunk ends early", size)
		}
		data = append(data, chunk...)
		if crlf, err := br.ReadString('\n'); err != nil || strings.TrimRight(crlf, "\r\n") != "" {
			return nil, nil, errors.New("aws-chunked: no CRLF after a chunk")
		}
	}
	rest, _ := io.ReadAll(br)
	for _, l := range strings.Split(string(rest), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, nil, fmt.Errorf("aws-chunked: bad trailer line %q", l)
		}
		name = http.CanonicalHeaderKey(strings.TrimSpace(name))
		if name == "X-Amz-Trailer-Signature" {
			continue
		}
		if trailers == nil {
			trailers = make(map[string]string)
		}
		trailers[name] = strings.TrimSpace(v)
	}
	if data == nil {
		data = []byte{}
	}
	return data, trailers, nil
}
