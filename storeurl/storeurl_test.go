package storeurl

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/s3coord/coord/driver"
)

func ptr(b bool) *bool { return &b }

func TestParseValid(t *testing.T) {
	cases := []struct {
		raw   string
		want  Spec
		canon string
	}{
		{"mem://", Spec{Scheme: SchemeMem}, "mem://"},
		{"mem:", Spec{Scheme: SchemeMem}, "mem://"},
		{"MEM://", Spec{Scheme: SchemeMem}, "mem://"},
		{"bolt:///var/lib/coord.db", Spec{Scheme: SchemeBolt, Path: "/var/lib/coord.db"}, "bolt:///var/lib/coord.db"},
		{"bolt:/tmp/x.db", Spec{Scheme: SchemeBolt, Path: "/tmp/x.db"}, "bolt:///tmp/x.db"},
		{"bolt:data/coord.db", Spec{Scheme: SchemeBolt, Path: "data/coord.db"}, "bolt:data/coord.db"},
		{"bolt:///tmp/with%20space%3F.db", Spec{Scheme: SchemeBolt, Path: "/tmp/with space?.db"}, "bolt:///tmp/with%20space%3F.db"},
		{"s3://my-bucket", Spec{Scheme: SchemeS3, Bucket: "my-bucket"}, "s3://my-bucket"},
		{"s3://my-bucket/", Spec{Scheme: SchemeS3, Bucket: "my-bucket"}, "s3://my-bucket"},
		{"s3://my-bucket/coord/prod", Spec{Scheme: SchemeS3, Bucket: "my-bucket", Prefix: "coord/prod/"}, "s3://my-bucket/coord/prod/"},
		{
			"s3://b.example/p/?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true&conditional_delete=false",
			Spec{Scheme: SchemeS3, Bucket: "b.example", Prefix: "p/", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true, ConditionalDelete: ptr(false)},
			"s3://b.example/p/?conditional_delete=false&endpoint=http%3A%2F%2F127.0.0.1%3A9000&path_style=true&region=eu-west-1",
		},
		{"s3://bkt?conditional_delete=1&path_style=0", Spec{Scheme: SchemeS3, Bucket: "bkt", ConditionalDelete: ptr(true)}, "s3://bkt?conditional_delete=true"},
		{"s3://bkt?verify_etag=true&endpoint=http://127.0.0.1:7070", Spec{Scheme: SchemeS3, Bucket: "bkt", Endpoint: "http://127.0.0.1:7070", VerifyETag: true}, "s3://bkt?endpoint=http%3A%2F%2F127.0.0.1%3A7070&verify_etag=true"},
		{"minio://127.0.0.1:9000/bucket", Spec{Scheme: SchemeMinIO, Host: "127.0.0.1:9000", Bucket: "bucket"}, "minio://127.0.0.1:9000/bucket"},
		{"minio://minio.local/bucket/a/b?secure=false&region=us-west-2", Spec{Scheme: SchemeMinIO, Host: "minio.local", Bucket: "bucket", Prefix: "a/b/", Insecure: true, Region: "us-west-2"}, "minio://minio.local/bucket/a/b/?region=us-west-2&secure=false"},
		{"minio://[::1]:9000/bkt/?secure=true", Spec{Scheme: SchemeMinIO, Host: "[::1]:9000", Bucket: "bkt"}, "minio://[::1]:9000/bkt"},
		{"s3://bkt?endpoint=http://127.0.0.1:7070&default_chain=true", Spec{Scheme: SchemeS3, Bucket: "bkt", Endpoint: "http://127.0.0.1:7070", DefaultChain: true}, "s3://bkt?default_chain=true&endpoint=http%3A%2F%2F127.0.0.1%3A7070"},
		{"gs://my_bucket", Spec{Scheme: SchemeGCS, Bucket: "my_bucket"}, "gs://my_bucket"},
		{"gs://bkt/coord/prod", Spec{Scheme: SchemeGCS, Bucket: "bkt", Prefix: "coord/prod/"}, "gs://bkt/coord/prod/"},
		{
			"gs://bkt/p?endpoint=http://127.0.0.1:4443&conditional_delete=true",
			Spec{Scheme: SchemeGCS, Bucket: "bkt", Prefix: "p/", Endpoint: "http://127.0.0.1:4443", ConditionalDelete: ptr(true)},
			"gs://bkt/p/?conditional_delete=true&endpoint=http%3A%2F%2F127.0.0.1%3A4443",
		},
	}
	for _, c := range cases {
		got, err := Parse(c.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.raw, got, c.want)
		}
		if s := got.String(); s != c.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", c.raw, s, c.canon)
		}
		again, err := Parse(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Parse(String()) of %q = %+v, %v; want %+v", c.raw, again, err, got)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	cases := []struct {
		raw     string
		kind    error
		mention string // the message must name what is wrong
	}{
		{"", ErrUnknownScheme, "no scheme"},
		{"/tmp/x.db", ErrUnknownScheme, "no scheme"},
		{"gcs://bucket", ErrUnknownScheme, `"gcs"`},
		{"file:///tmp/x", ErrUnknownScheme, `"file"`},
		{"mem://x", ErrBadLocation, "mem takes no host"},
		{"mem://?x=1", ErrBadParameter, `"x"`},
		{"bolt://", ErrBadLocation, "missing file path"},
		{"bolt:///", ErrBadLocation, "missing file path"},
		{"bolt://coord.db", ErrBadLocation, `not a host "coord.db"`},
		{"bolt:///tmp/dir/", ErrBadLocation, "ends with /"},
		{"bolt:///tmp/x%00.db", ErrBadLocation, "control character"},
		{"bolt:///tmp/x.db?timeout=1s", ErrBadParameter, `"timeout"`},
		{"bolt:///tmp/x.db#frag", ErrBadLocation, "fragment"},
		{"s3://", ErrMissingBucket, "no bucket"},
		{"s3:///prefix", ErrMissingBucket, "no bucket"},
		{"s3://ab", ErrMissingBucket, "3 to 63"},
		{"s3://My_Bucket", ErrMissingBucket, "lowercase"},
		{"s3://-bucket", ErrMissingBucket, "start and end"},
		{"s3://bucket:9000/x", ErrMissingBucket, "lowercase"},
		{"s3:bucket", ErrBadLocation, "s3://bucket"},
		{"s3://bucket//x", ErrBadLocation, "starts with /"},
		{"s3://bucket/a/../b", ErrBadLocation, "dot segment"},
		{"s3://bucket?path_style=yes", ErrBadParameter, `path_style="yes" is not a bool`},
		{"s3://bucket?conditional_delete=", ErrBadParameter, "not a bool"},
		{"s3://bucket?verify_etag=maybe", ErrBadParameter, "not a bool"},
		{"s3://bucket?region=", ErrBadParameter, "region"},
		{"s3://bucket?region=eu%20west", ErrBadParameter, "region"},
		{"s3://bucket?endpoint=localhost:9000", ErrBadParameter, "endpoint"},
		{"s3://bucket?endpoint=ftp://h", ErrBadParameter, `"ftp"`},
		{"s3://bucket?endpoint=http://h:0", ErrBadParameter, "port"},
		{"s3://bucket?secure=false", ErrBadParameter, `unknown parameter "secure"`},
		{"s3://bucket?region=a&region=b", ErrBadParameter, "2 times"},
		{"s3://bucket?a=%zz", ErrBadParameter, "malformed query"},
		{"minio://", ErrBadLocation, "missing server"},
		{"minio:///bucket", ErrBadLocation, "missing server"},
		{"minio://host:99999/bucket", ErrBadLocation, "port"},
		{"minio://:9000/bucket", ErrBadLocation, "no host"},
		{"minio://host:9000", ErrMissingBucket, "no bucket"},
		{"minio://host:9000/", ErrMissingBucket, "no bucket"},
		{"minio://host/bucket?secure=nope", ErrBadParameter, "not a bool"},
		{"minio://host/bucket?path_style=true", ErrBadParameter, `unknown parameter "path_style"`},
		{"s3://bucket/%zz", ErrBadLocation, "malformed URL"},
		{"gs://", ErrMissingBucket, "no bucket"},
		{"gs://Bucket", ErrMissingBucket, "lowercase"},
		{"gs://bucket?region=us", ErrBadParameter, `unknown parameter "region"`},
		{"gs://bucket?endpoint=localhost:4443", ErrBadParameter, "endpoint"},
		{"gs://bucket?conditional_delete=perhaps", ErrBadParameter, "not a bool"},
		{"gs://bucket/a@b", ErrCredentialsInURL, "'@'"},
		{"s3://bucket?default_chain=sure", ErrBadParameter, "not a bool"},
		{"s3://bucket/pre@fix", ErrCredentialsInURL, "'@'"},
		{"bolt://h/x@y.db", ErrBadLocation, "not a host"},
	}
	for _, c := range cases {
		_, err := Parse(c.raw)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", c.raw)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, c.kind) {
			t.Errorf("Parse(%q) = %v; want ErrInvalid and %v", c.raw, err, c.kind)
		}
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("Parse(%q) = %q; want it to mention %q", c.raw, err, c.mention)
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): %T is not *Error", c.raw, err)
		}
	}
}

func TestCredentialsAreRejectedAndNeverShown(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzz"
	cases := []struct{ raw, hint string }{
		{"s3://AKIAEXAMPLE:" + secret + "@bucket/p", "AWS_ACCESS_KEY_ID"},
		{"minio://minioadmin:" + secret + "@127.0.0.1:9000/b", "MINIO_ACCESS_KEY"},
		{"minio://" + secret + "@127.0.0.1:9000/b", "MINIO_ACCESS_KEY"},
		{"s3://key:" + escaped(secret) + "@bucket", "AWS_ACCESS_KEY_ID"},
		{"s3://bucket?endpoint=http://key:" + escaped(secret) + "@host:9000", "AWS_ACCESS_KEY_ID"},
		{"s3://bucket?secret_key=" + escaped(secret), `"secret_key"`},
		{"bolt://u:" + escaped(secret) + "@/x.db", "environment"},
		{"s3://key:" + secret + "@@bucket:badport", ""},
	}
	for _, c := range cases {
		_, err := Parse(c.raw)
		if err == nil {
			t.Errorf("Parse(%q) accepted credentials", c.raw)
			continue
		}
		msg := err.Error()
		for _, leak := range []string{secret, escaped(secret), "AKIAEXAMPLE", "minioadmin"} {
			if strings.Contains(msg, leak) {
				t.Errorf("error for %q shows %q: %s", c.raw, leak, msg)
			}
		}
		if !strings.Contains(msg, c.hint) {
			t.Errorf("error for %q = %q; want a hint naming %s", c.raw, msg, c.hint)
		}
	}
	if _, err := Parse("s3://AKIA:" + secret + "@bucket"); !errors.Is(err, ErrCredentialsInURL) {
		t.Errorf("want ErrCredentialsInURL, got %v", err)
	}
}

func escaped(s string) string { return strings.NewReplacer("/", "%2F", "+", "%2B").Replace(s) }

func TestOpenMem(t *testing.T) {
	ctx := t.Context()
	st, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Capabilities().Name != "mem" {
		t.Fatalf("Name = %q", st.Capabilities().Name)
	}
	if _, err := st.Put(ctx, "k", []byte("v"), driver.IfAbsent()); err != nil {
		t.Fatal(err)
	}
	other, _ := Open(ctx, "mem://")
	if _, err := other.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("a second mem:// store shares data: %v", err)
	}
}

func TestOpenBolt(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "missing", "coord.db")
	if _, err := Open(ctx, Spec{Scheme: SchemeBolt, Path: path}.String()); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
	path = filepath.Join(t.TempDir(), "coord?.db")
	raw := Spec{Scheme: SchemeBolt, Path: path}.String()
	st, err := Open(ctx, raw)
	if err != nil {
		t.Fatalf("Open(%q): %v", raw, err)
	}
	if _, err := st.Put(ctx, "k", []byte("v"), driver.None); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if o, err := st.Get(ctx, "k"); err != nil || string(o.Data) != "v" || st.Capabilities().Name != "bolt" {
		t.Fatalf("reopened %s: %q, %v", raw, o.Data, err)
	}
}
