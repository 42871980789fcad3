package driver

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
)

// WithPrefix returns a view of inner that keeps every key under prefix
// (which must satisfy ValidatePrefix and should end with "/"): keys are
// prefixed on the way in and stripped from listed keys, so the view's
// callers only see their own keys, and errors carry the caller's key.
// Closing the view does not close inner. It is how a tool works in a
// scratch folder of a store it was given (coordctl check, and the
// conformance suite's own tests); capabilities, request counts and
// ConditionalDeleteForcer are those of inner.
func WithPrefix(inner Store, prefix string) Store {
	return &prefixed{inner: inner, prefix: prefix}
}

type prefixed struct {
	inner  Store
	prefix string
	closed atomic.Bool
}

func (p *prefixed) begin(ctx context.Context, op, key string, validate func(string) error) (string, error) {
	return PrefixedKey(ctx, op, p.prefix, key, p.closed.Load(), validate)
}

// rekey gives an inner error the caller's key, keeping it wrapped once.
func rekey(err error, key string) error {
	var oe *OpError
	if err == nil || !errors.As(err, &oe) || oe != err {
		return err
	}
	return &OpError{Op: oe.Op, Key: key, Err: oe.Err}
}

func (p *prefixed) Get(ctx context.Context, key string) (Object, error) {
	full, err := p.begin(ctx, "get", key, ValidateKey)
	if err != nil {
		return Object{}, err
	}
	o, err := p.inner.Get(ctx, full)
	o.Key = key
	return o, rekey(err, key)
}

func (p *prefixed) Put(ctx context.Context, key string, data []byte, cond Condition) (string, error) {
	full, err := p.begin(ctx, "put", key, ValidateKey)
	if err != nil {
		return "", err
	}
	v, err := p.inner.Put(ctx, full, data, cond)
	return v, rekey(err, key)
}

func (p *prefixed) Delete(ctx context.Context, key string, cond Condition) error {
	full, err := p.begin(ctx, "delete", key, ValidateKey)
	if err != nil {
		return err
	}
	return rekey(p.inner.Delete(ctx, full, cond), key)
}

func (p *prefixed) List(ctx context.Context, prefix string) (ListResult, error) {
	full, err := p.begin(ctx, "list", prefix, ValidatePrefix)
	if err != nil {
		return ListResult{}, err
	}
	res, err := p.inner.List(ctx, full)
	if err != nil {
		return ListResult{}, rekey(err, prefix)
	}
	out := res.Entries[:0]
	for _, e := range res.Entries {
		if strings.HasPrefix(e.Key, p.prefix) {
			e.Key = e.Key[len(p.prefix):]
			out = append(out, e)
		}
	}
	res.Entries = out
	return res, nil
}

func (p *prefixed) Capabilities() Capabilities { return p.inner.Capabilities() }

// Close closes the view only.
func (p *prefixed) Close() error {
	p.closed.Store(true)
	return nil
}

// Requests reports inner's counts (zero when inner does not count).
func (p *prefixed) Requests() Counts {
	c, _ := RequestsOf(p.inner)
	return c
}

// ForceConditionalDelete is inner's, under the same prefix; nil when
// inner cannot.
func (p *prefixed) ForceConditionalDelete() Store {
	f, ok := p.inner.(ConditionalDeleteForcer)
	if !ok {
		return nil
	}
	forced := f.ForceConditionalDelete()
	if forced == nil {
		return nil
	}
	return WithPrefix(forced, p.prefix)
}
