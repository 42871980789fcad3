// Package driver defines the small storage contract that coord's election
// engine is built on: conditional writes on keys of an object store.
//
// A Store is deliberately tiny (Get, Put, Delete, List, Capabilities,
// Close). All coordination policy (leases, epochs, membership) lives in the
// root package coord; a driver only talks to storage and normalises what
// the storage says into the sentinels of this package. Every driver must
// pass the shared suite in package conformance, which pins this contract.
//
// Every driver must count the requests it sends (RequestCounter): the
// suite requires it, because coord's cost model is measured with it.
// Other abilities are optional interfaces found by type assertion, in the
// style of database/sql/driver, each with a documented fallback when
// absent: BucketCreator makes the bucket (coordctl bucket create; absent:
// make it with the store's own tools), ConditionalDeleteForcer sends a
// conditional delete the driver would refuse, so that a tool can measure
// whether the server honours it (coordctl check; absent: not measured).
// "Writing a driver" (docs/driver.md) walks through a small one.
package driver

import (
	"context"
	"time"
)

// DefaultMaxRead is the default cap on the size of an object a driver will
// read. Coordination records are a few hundred bytes; a hostile or corrupt
// object must not exhaust memory.
const DefaultMaxRead = 1 << 20

// Object is the result of a successful Get.
type Object struct {
	Key  string
	Data []byte
	// Version is opaque: an S3 ETag, a bolt sequence. Equal versions mean
	// equal content; for drivers whose versions are content hashes (S3),
	// writing the same bytes twice yields the same version.
	Version string
	// Modified is the server's modification time of the object, when the
	// driver knows it; the zero time otherwise. Informational only.
	Modified time.Time
}

// Entry describes one object in a List result.
type Entry struct {
	Key      string
	Version  string
	Size     int64
	Modified time.Time // server modification time
}

// ListResult is the result of a List call.
type ListResult struct {
	// Entries holds every object whose key starts with the prefix, in
	// ascending byte order of key, across all pages.
	Entries []Entry
	// ServerTime is the server's clock as reported with the response (the
	// HTTP Date header for S3). Liveness judged against Entry.Modified must
	// use this clock, never the local one. Drivers must return a non-zero
	// time taken during the call.
	ServerTime time.Time
}

// Capabilities tells the engine what a Store can guarantee.
type Capabilities struct {
	// Name is a short name for logs and metrics ("mem", "bolt", "s3").
	Name string
	// ConditionalDelete is true when Delete with IfMatch is atomic: a stale
	// version makes the delete fail with ErrPrecondition and delete nothing.
	// When false, a conditional Delete must return ErrUnsupported and delete
	// nothing.
	ConditionalDelete bool
	// MaxRead is the largest object Get will return; larger objects fail
	// with ErrTooLarge.
	MaxRead int64
}

// Store is the storage contract. Implementations must be safe for
// concurrent use by multiple goroutines.
//
// Keys must satisfy ValidateKey; a method given an invalid key must return
// an error for which errors.Is(err, ErrInvalidKey) holds and must not touch
// storage. Errors must be wrapped once (see OpError) with the operation and
// key, keeping the native error reachable with errors.As. A driver must
// also implement RequestCounter.
type Store interface {
	// Get returns the object at key. It must return an error for which
	// errors.Is(err, ErrNotFound) holds when the key does not exist, and
	// one for which errors.Is(err, ErrTooLarge) holds when the object is
	// larger than Capabilities().MaxRead. Reads must be strongly
	// consistent: a Get that starts after a Put returned sees that Put or
	// a later write.
	Get(ctx context.Context, key string) (Object, error)

	// Put writes data at key under cond and returns the new version.
	// When the condition does not hold, Put must return an error for which
	// errors.Is(err, ErrPrecondition) holds, and the write must not have
	// happened. IfMatch on a missing key is ErrPrecondition too. A lost
	// race reported by the server as a conflict (S3's 409
	// ConditionalRequestConflict) is also ErrPrecondition.
	Put(ctx context.Context, key string, data []byte, cond Condition) (version string, err error)

	// Delete removes key under cond. An unconditional Delete of a missing
	// key succeeds. A conditional Delete must either be atomic (stale
	// version or missing key: ErrPrecondition, nothing deleted) or, when
	// Capabilities().ConditionalDelete is false, return an error for which
	// errors.Is(err, ErrUnsupported) holds and delete nothing. A
	// conditional delete must never silently become unconditional.
	// IfAbsent is not a valid condition for Delete (ErrUnsupported).
	Delete(ctx context.Context, key string, cond Condition) error

	// List returns every object whose key starts with prefix, in key
	// order, across pages, with the server's current time. An empty prefix
	// lists everything the store holds. A non-empty prefix must satisfy
	// ValidatePrefix.
	List(ctx context.Context, prefix string) (ListResult, error)

	// Capabilities reports what the store guarantees. It must not do I/O.
	Capabilities() Capabilities

	// Close releases the store's resources. Calls after Close must return
	// an error for which errors.Is(err, ErrClosed) holds.
	Close() error
}

// ConditionalDeleteForcer is implemented by drivers that keep conditional
// delete off for servers they do not trust with it (the s3 driver on a
// custom endpoint) but can send one anyway. The engine never uses it.
type ConditionalDeleteForcer interface {
	// ForceConditionalDelete returns a store on the same bucket, prefix
	// and client whose Delete sends IfMatch to the server whatever the
	// server does with it, or nil when the driver cannot send one.
	ForceConditionalDelete() Store
}

// BucketCreator is implemented by drivers whose store lives in a bucket
// that can be made through the driver's own client (s3, minio).
type BucketCreator interface {
	// CreateBucket makes the store's bucket. It returns created=false and
	// no error when the bucket already exists and is the caller's. It
	// must return an error for which errors.Is(err, ErrBucketExists)
	// holds when the name is taken by someone else, ErrInvalidBucketName
	// when the server refuses the name, and ErrAccessDenied or
	// ErrUnreachable as any call would. Errors are wrapped once in an
	// OpError with Op "create-bucket" and the bucket name as Key.
	CreateBucket(ctx context.Context) (created bool, err error)
}
