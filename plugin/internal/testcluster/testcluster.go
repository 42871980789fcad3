// Package testcluster runs several coord processes (one Hub each) over
// one shared store, each behind its own switch that can cut it off from
// storage, for the built-in plugins' failover tests.
package testcluster

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/plugin/internal/teststore"
)

// ErrPartitioned is the error a partitioned process's requests fail with.
var ErrPartitioned = errors.New("testcluster: process cut off from storage")

// Process is one simulated process: a Hub over its own view of the store.
type Process struct {
	Hub   *coord.Hub
	Store driver.Store // the process's view: fails while partitioned
	down  atomic.Bool
}

// Partition cuts the process off from storage (true) or heals it (false).
// Its requests fail with ErrPartitioned meanwhile, so it loses leadership
// like a process behind a broken network.
func (p *Process) Partition(down bool) { p.down.Store(down) }

// New starts n processes on base with cfg.
func New(base driver.Store, n int, cfg coord.Config) ([]*Process, error) {
	var out []*Process
	for range n {
		p := &Process{}
		h := teststore.NewHooked(base)
		h.SetBefore(func(_ context.Context, op teststore.Op, key string) error {
			if p.down.Load() {
				return driver.Wrap(string(op), key, nil, ErrPartitioned)
			}
			return nil
		})
		p.Store = h
		hub, err := coord.NewHub(h, cfg)
		if err != nil {
			return nil, err
		}
		p.Hub = hub
		out = append(out, p)
	}
	return out, nil
}

// Close closes every hub.
func Close(ps []*Process) error {
	var errs []error
	for _, p := range ps {
		p.Partition(false)
		errs = append(errs, p.Hub.Close(context.Background()))
	}
	return errors.Join(errs...)
}
