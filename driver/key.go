package driver

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes, any driver accepts (S3's limit).
const MaxKeyLen = 1024

// ValidateKey returns an error for which errors.Is(err, ErrInvalidKey)
// holds when key is empty, longer than MaxKeyLen bytes, not valid UTF-8,
// contains a control character, starts with "/", or has an empty, "." or
// ".." segment between slashes. Every driver applies it before any I/O so
// that all stores accept exactly the same keys.
func ValidateKey(key string) error {
	if key == "" {
		return invalidKey(key, "empty")
	}
	if strings.HasSuffix(key, "/") {
		return invalidKey(key, "ends with /")
	}
	return ValidatePrefix(key)
}

// ValidatePrefix applies the rules of ValidateKey to a List prefix, except
// that a prefix may be empty and may end with "/".
func ValidatePrefix(prefix string) error {
	if len(prefix) > MaxKeyLen {
		return invalidKey(prefix, fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	}
	if !utf8.ValidString(prefix) {
		return invalidKey(prefix, "not valid UTF-8")
	}
	for _, r := range prefix {
		if unicode.IsControl(r) {
			return invalidKey(prefix, fmt.Sprintf("control character %U", r))
		}
	}
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") {
		return invalidKey(prefix, "starts with /")
	}
	for rest, more := prefix, true; more; {
		var s string
		s, rest, more = strings.Cut(rest, "/")
		switch {
		case s == "" && more: // the last segment may be empty
			return invalidKey(prefix, "empty segment")
		case s == "." || s == "..":
			return invalidKey(prefix, "dot segment")
		}
	}
	return nil
}

func invalidKey(key, why string) error { return &KeyError{Key: key, Reason: why} }

// KeyError is the error of ValidateKey and ValidatePrefix: Key breaks the
// rule Reason. errors.Is(err, ErrInvalidKey) holds. It is not an OpError:
// a driver wraps it once, with its operation, through CheckCall or Wrap.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%v %q: %s", ErrInvalidKey, shortKey(e.Key), e.Reason)
}

// Is makes errors.Is(err, ErrInvalidKey) hold.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// shortKey shortens a key for a message: invalid keys may be long.
func shortKey(key string) string {
	if len(key) > 64 {
		return key[:64] + "…"
	}
	return key
}

// CheckCall is the prologue of every driver call, before any I/O: it
// validates key with validate (ValidateKey, or ValidatePrefix for List),
// then checks that the store is not closed and that ctx is not done. Its
// errors are wrapped once in an OpError with op and key: ErrInvalidKey,
// ErrClosed, or the context's error (context.DeadlineExceeded when that is
// its cause, as for a deadline on a virtual clock).
func CheckCall(ctx context.Context, op, key string, closed bool, validate func(string) error) error {
	if err := validate(key); err != nil {
		return Wrap(op, key, nil, err)
	}
	if closed {
		return Wrap(op, key, ErrClosed, nil)
	}
	if err := ctx.Err(); err != nil {
		if context.Cause(ctx) == context.DeadlineExceeded {
			err = context.DeadlineExceeded
		}
		return Wrap(op, key, nil, err)
	}
	return nil
}

// BeginRequest is the prologue of a call of a driver that sends one
// request per call and counts it itself (mem, bolt): CheckCall, with
// ValidatePrefix for "list" and ValidateKey for "get", "put" and
// "delete", then one request of the call's class counted on k.
func BeginRequest(ctx context.Context, op, key string, closed bool, k *Counter) error {
	validate, class := ValidateKey, ClassGet
	switch op {
	case "put":
		class = ClassPut
	case "delete":
		class = ClassDelete
	case "list":
		validate, class = ValidatePrefix, ClassList
	}
	if err := CheckCall(ctx, op, key, closed, validate); err != nil {
		return err
	}
	k.Inc(class)
	return nil
}

// PrefixedKey is the prologue of a call on a store that keeps its keys
// under prefix (the s3 and minio drivers): it validates key with validate
// (ValidateKey or ValidatePrefix), checks that prefix+key still fits in
// MaxKeyLen, that the store is not closed and that ctx is not done, and
// returns prefix+key. Errors are wrapped in an OpError with op and the
// caller's key.
func PrefixedKey(ctx context.Context, op, prefix, key string, closed bool, validate func(string) error) (string, error) {
	full := prefix + key
	check := func(k string) error {
		if err := validate(k); err != nil {
			return err
		}
		if len(full) > MaxKeyLen {
			return &KeyError{Key: k, Reason: fmt.Sprintf("with the store prefix longer than %d bytes", MaxKeyLen)}
		}
		return nil
	}
	if err := CheckCall(ctx, op, key, closed, check); err != nil {
		return "", err
	}
	return full, nil
}
