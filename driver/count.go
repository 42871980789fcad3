package driver

import (
	"fmt"
	"sync/atomic"
)

// Class is a request billing class. S3 bills PUT/COPY/POST/LIST at one
// price, GET/HEAD at another, DELETE free.
type Class int

// Request classes.
const (
	ClassGet Class = iota
	ClassHead
	ClassPut
	ClassList
	ClassDelete
	numClasses
)

var classNames = [numClasses]string{"GET", "HEAD", "PUT", "LIST", "DELETE"}

func (c Class) String() string {
	if c < 0 || c >= numClasses {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// Classes lists every request class in display order.
func Classes() []Class { return []Class{ClassGet, ClassHead, ClassPut, ClassList, ClassDelete} }

// Counts is a snapshot of requests sent, by class. Every attempt counts,
// retries and failures included, because S3 bills them.
type Counts struct {
	Get, Head, Put, List, Delete uint64
	// Conflicts counts lost races the server reported as a conflict (S3's
	// 409 ConditionalRequestConflict). They are also counted in their
	// request class.
	Conflicts uint64
}

// Of returns the count for one class.
func (c Counts) Of(class Class) uint64 {
	switch class {
	case ClassGet:
		return c.Get
	case ClassHead:
		return c.Head
	case ClassPut:
		return c.Put
	case ClassList:
		return c.List
	case ClassDelete:
		return c.Delete
	}
	return 0
}

// Total is the number of requests of every class.
func (c Counts) Total() uint64 { return c.Get + c.Head + c.Put + c.List + c.Delete }

// Sub returns c minus o, class by class (for measuring an interval).
func (c Counts) Sub(o Counts) Counts {
	return Counts{
		Get: c.Get - o.Get, Head: c.Head - o.Head, Put: c.Put - o.Put,
		List: c.List - o.List, Delete: c.Delete - o.Delete, Conflicts: c.Conflicts - o.Conflicts,
	}
}

// Add returns c plus o, class by class.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Get: c.Get + o.Get, Head: c.Head + o.Head, Put: c.Put + o.Put,
		List: c.List + o.List, Delete: c.Delete + o.Delete, Conflicts: c.Conflicts + o.Conflicts,
	}
}

func (c Counts) String() string {
	return fmt.Sprintf("GET=%d HEAD=%d PUT=%d LIST=%d DELETE=%d", c.Get, c.Head, c.Put, c.List, c.Delete)
}

// RequestCounter is implemented by stores that count the requests they
// send. Every driver in this module implements it.
type RequestCounter interface {
	Requests() Counts
}

// RequestsOf returns s's request counts, and false when s does not count.
func RequestsOf(s Store) (Counts, bool) {
	if rc, ok := s.(RequestCounter); ok {
		return rc.Requests(), true
	}
	return Counts{}, false
}

// Counter is a concurrency-safe request counter for drivers to embed.
// The zero value is ready to use.
type Counter struct {
	n         [numClasses]atomic.Uint64
	conflicts atomic.Uint64
}

// Inc counts one request of class c.
func (k *Counter) Inc(c Class) {
	if c >= 0 && c < numClasses {
		k.n[c].Add(1)
	}
}

// Conflict counts one server-reported conflict.
func (k *Counter) Conflict() { k.conflicts.Add(1) }

// Requests returns a snapshot; it makes Counter a RequestCounter.
func (k *Counter) Requests() Counts {
	return Counts{
		Get: k.n[ClassGet].Load(), Head: k.n[ClassHead].Load(), Put: k.n[ClassPut].Load(),
		List: k.n[ClassList].Load(), Delete: k.n[ClassDelete].Load(), Conflicts: k.conflicts.Load(),
	}
}
