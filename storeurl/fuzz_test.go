package storeurl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; every error is an *Error satisfying
// ErrInvalid; every accepted URL prints canonically (Parse∘String is the
// identity on Specs, String is idempotent) and the printed URL carries no
// userinfo.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"mem://", "mem:", "bolt:///var/lib/coord.db", "bolt:rel/x.db", "bolt:///a%20b%3F.db",
		"s3://bucket", "s3://bucket/p/q?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true&conditional_delete=false",
		"minio://127.0.0.1:9000/bucket/prefix?secure=false", "minio://[::1]:9000/b-b/x/?region=us-east-1",
		"s3://key:secret@bucket", "s3://bucket/%zz", "s3://bucket?region=a&region=b", "bolt://h/x@y.db",
		"S3://Bucket", "minio://h:0/b", "s3://b.b.b/..", "bolt:%2F%2Fx", "bolt:a:b", "mem://#", "s3://bkt?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		spec, err := Parse(raw)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) || pe.Kind == nil || !errors.Is(err, pe.Kind) {
				t.Fatalf("Parse(%q) error %v (%T) is not an *Error with ErrInvalid and a kind", raw, err, err)
			}
			return
		}
		s := spec.String()
		again, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, whose String %q does not parse: %v", raw, spec, s, err)
		}
		if !reflect.DeepEqual(again, spec) {
			t.Fatalf("Parse(%q) = %+v; Parse(String() = %q) = %+v", raw, spec, s, again)
		}
		if s2 := again.String(); s2 != s {
			t.Fatalf("String not idempotent: %q then %q", s, s2)
		}
		if spec.Scheme != SchemeBolt && strings.Contains(s, "@") {
			t.Fatalf("accepted %q prints %q, which carries an '@'", raw, s)
		}
		if spec.Prefix != "" && !strings.HasSuffix(spec.Prefix, "/") {
			t.Fatalf("prefix %q does not end with /", spec.Prefix)
		}
	})
}

// FuzzCredentialsNeverShown: a URL carrying user:secret@ is rejected, and
// neither the error nor anything printed contains the secret.
func FuzzCredentialsNeverShown(f *testing.F) {
	f.Add(uint8(0), "AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzz", "bucket/prefix")
	f.Add(uint8(1), "minioadmin", "minio-secret-123", "127.0.0.1:9000/b")
	f.Add(uint8(2), "", "123456/abcdef", "/tmp/x.db")
	f.Add(uint8(3), "u", "p?q#r", "b")
	f.Add(uint8(4), "user", "s3cr3t%2F", "host")
	f.Fuzz(func(t *testing.T, scheme uint8, user, secret, rest string) {
		if len(secret) < 6 {
			return // short strings occur in any message by chance
		}
		schemes := []string{"s3", "minio", "bolt", "mem", "gcs"}
		raw := schemes[int(scheme)%len(schemes)] + "://" + user + ":" + secret + "@" + rest
		// The secret may legitimately be shown if it is part of what is
		// not a secret, or of the fixed texts.
		if strings.Contains(rest, secret) || strings.Contains(user, secret) || strings.Contains(schemes[int(scheme)%len(schemes)], secret) {
			return
		}
		for _, s := range schemes {
			if strings.Contains(credentialsHint(s), secret) {
				return
			}
		}
		spec, err := Parse(raw)
		if err == nil {
			// Only possible when the '@' is not a userinfo delimiter
			// (for bolt, a path); the printed form must still not show
			// the secret outside the file path.
			if spec.Scheme != SchemeBolt {
				t.Fatalf("Parse(%q) accepted credentials: %+v", raw, spec)
			}
			if strings.Contains(spec.String(), secret) && !strings.Contains(spec.Path, secret) {
				t.Fatalf("Parse(%q).String() = %q shows the secret", raw, spec.String())
			}
			return
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("Parse(%q) error shows the secret: %v", raw, err)
		}
	})
}
