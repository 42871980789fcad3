package driver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/s3coord/coord/driver"
)

// keyRules restates the rules of ValidateKey independently of key.go.
func keyRules(k string) bool {
	if k == "" || len(k) > driver.MaxKeyLen || !utf8.ValidString(k) {
		return false
	}
	if strings.IndexFunc(k, unicode.IsControl) >= 0 {
		return false
	}
	for _, seg := range strings.Split(k, "/") { // also rejects a leading or trailing "/"
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// prefixRules: a prefix is empty, or a valid key with at most one "/"
// appended, within the length limit.
func prefixRules(p string) bool {
	return p == "" || len(p) <= driver.MaxKeyLen && keyRules(strings.TrimSuffix(p, "/"))
}

// FuzzValidateKey: ValidateKey and ValidatePrefix never panic, accept
// exactly what the rules allow, and reject with a *driver.KeyError (no
// OpError: the driver wraps it once with its operation) satisfying
// ErrInvalidKey; wrapped by CheckCall it is one OpError carrying the key,
// whose message stays short.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{
		"", "a", "a/b", "a/b/", "/a", "a//b", "a/./b", "a/../b", ".", "..", "...", "a/..b",
		"plg_coordinator_global/default/leader", "k\x00", "k\x7f", "k\u0085", "\xff", "é/ü",
		strings.Repeat("x", driver.MaxKeyLen), strings.Repeat("x", driver.MaxKeyLen+1),
		strings.Repeat("x", driver.MaxKeyLen-1) + "/", "a/.", "./a", "a\u2028b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(name string, validate func(string) error, want bool) {
			t.Helper()
			err := validate(s)
			if (err == nil) != want {
				t.Fatalf("%s(%q) = %v; the rules say valid=%v", name, s, err, want)
			}
			if err == nil {
				return
			}
			var ke *driver.KeyError
			if !errors.Is(err, driver.ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != s {
				t.Fatalf("%s(%q) = %v, not a *driver.KeyError for the key satisfying ErrInvalidKey", name, s, err)
			}
			if errors.As(err, new(*driver.OpError)) {
				t.Fatalf("%s(%q) = %v is already an OpError", name, s, err)
			}
			err = driver.CheckCall(context.Background(), "get", s, false, validate)
			var oe *driver.OpError
			if !errors.As(err, &oe) || oe.Op != "get" || oe.Key != s || errors.As(oe.Err, new(*driver.OpError)) || !errors.Is(err, driver.ErrInvalidKey) {
				t.Fatalf("CheckCall with %s(%q) = %v, not one OpError of op get carrying the key", name, s, err)
			}
			if n := len(err.Error()); n > 300 {
				t.Fatalf("%s(%q): message of %d bytes; keys must be shortened", name, s, n)
			}
		}
		keyOK := keyRules(s)
		check("ValidateKey", driver.ValidateKey, keyOK)
		check("ValidatePrefix", driver.ValidatePrefix, prefixRules(s))
		if keyOK && len(s) < driver.MaxKeyLen {
			if err := driver.ValidatePrefix(s + "/"); err != nil {
				t.Fatalf("valid key %q + / is not a valid prefix: %v", s, err)
			}
		}
	})
}
