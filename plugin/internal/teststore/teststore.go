// Package teststore holds store wrappers and store lists shared by the
// tests of the built-in plugins: a store without conditional delete (like
// MinIO), and a store that calls a hook around each request so that a
// test can pause a "leader" at an exact point.
package teststore

import (
	"context"
	"sync"

	"github.com/s3coord/coord/driver"
)

// NoConditionalDelete wraps a store so that it behaves like one without
// atomic conditional delete (MinIO): Capabilities().ConditionalDelete is
// false and a conditional Delete returns ErrUnsupported, deleting nothing.
type NoConditionalDelete struct{ driver.Store }

// Capabilities implements driver.Store.
func (s NoConditionalDelete) Capabilities() driver.Capabilities {
	c := s.Store.Capabilities()
	c.ConditionalDelete = false
	return c
}

// Delete implements driver.Store.
func (s NoConditionalDelete) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if !cond.IsNone() {
		return driver.Wrap("delete", key, driver.ErrUnsupported, nil)
	}
	return s.Store.Delete(ctx, key, cond)
}

// Requests forwards request counts of the wrapped store.
func (s NoConditionalDelete) Requests() driver.Counts {
	c, _ := driver.RequestsOf(s.Store)
	return c
}

// Op names a request for a Hook.
type Op string

// Ops seen by hooks.
const (
	OpGet    Op = "get"
	OpPut    Op = "put"
	OpDelete Op = "delete"
	OpList   Op = "list"
)

// Hooked calls Before (if set) before each request reaches the wrapped
// store, with the request's context; a non-nil error fails the request
// without sending it.
type Hooked struct {
	driver.Store
	mu     sync.Mutex
	before func(ctx context.Context, op Op, key string) error
}

// NewHooked wraps s.
func NewHooked(s driver.Store) *Hooked { return &Hooked{Store: s} }

// SetBefore replaces the hook (nil removes it).
func (h *Hooked) SetBefore(f func(ctx context.Context, op Op, key string) error) {
	h.mu.Lock()
	h.before = f
	h.mu.Unlock()
}

func (h *Hooked) call(ctx context.Context, op Op, key string) error {
	h.mu.Lock()
	f := h.before
	h.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(ctx, op, key)
}

// Get implements driver.Store.
func (h *Hooked) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := h.call(ctx, OpGet, key); err != nil {
		return driver.Object{}, err
	}
	return h.Store.Get(ctx, key)
}

// Put implements driver.Store.
func (h *Hooked) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	if err := h.call(ctx, OpPut, key); err != nil {
		return "", err
	}
	return h.Store.Put(ctx, key, data, cond)
}

// Delete implements driver.Store.
func (h *Hooked) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := h.call(ctx, OpDelete, key); err != nil {
		return err
	}
	return h.Store.Delete(ctx, key, cond)
}

// List implements driver.Store.
func (h *Hooked) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	if err := h.call(ctx, OpList, prefix); err != nil {
		return driver.ListResult{}, err
	}
	return h.Store.List(ctx, prefix)
}

// Requests forwards request counts of the wrapped store.
func (h *Hooked) Requests() driver.Counts {
	c, _ := driver.RequestsOf(h.Store)
	return c
}

// Factory makes a fresh, empty store in dir (which the caller owns).
type Factory struct {
	Name string
	New  func(dir string) (driver.Store, error)
}

// Factories lists the stores every plugin test runs on. Each store's
// clock is time.Now, so inside a testing/synctest bubble it is virtual.
func Factories() []Factory {
	return factories
}
