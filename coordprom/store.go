package coordprom

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3coord/coord/driver"
)

// Store is a driver.Store that observes the latency of every request in
// the histogram coord_request_duration_seconds{class, outcome}. It is
// also a prometheus.Collector: register it beside the Hub's Collector.
//
//	measured := coordprom.InstrumentStore(store)
//	hub, err := coord.NewHub(measured, cfg)
//	reg.MustRegister(coordprom.New(hub), measured)
//
// Each attempt is one observation, from the call to its return, as the
// engine sees it (the engine's request timeout included). outcome is ok,
// precondition (a conditional write that lost: an answer, not a
// failure), not_found, or error (timeouts and every other failure).
type Store struct {
	driver.Store
	latency *prometheus.HistogramVec
}

// InstrumentStore wraps s. Requests of every coordinator of a Hub on the
// returned store are observed together (the store does not know which
// election sent them); the per-coordinator counts are in
// coord_requests_total.
func InstrumentStore(s driver.Store) *Store {
	return &Store{Store: s, latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_duration_seconds",
		Help:    "Duration of storage requests by billing class and outcome (ok, precondition, not_found, error).",
		Buckets: LatencyBuckets,
	}, []string{"class", "outcome"})}
}

func (s *Store) observe(class driver.Class, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, driver.ErrPrecondition):
		outcome = "precondition"
	case errors.Is(err, driver.ErrNotFound):
		outcome = "not_found"
	default:
		outcome = "error"
	}
	s.latency.WithLabelValues(class.String(), outcome).Observe(time.Since(start).Seconds())
}

// Get implements driver.Store.
func (s *Store) Get(ctx context.Context, key string) (driver.Object, error) {
	start := time.Now()
	o, err := s.Store.Get(ctx, key)
	s.observe(driver.ClassGet, start, err)
	return o, err
}

// Put implements driver.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte, cond driver.Condition) (string, error) {
	start := time.Now()
	v, err := s.Store.Put(ctx, key, data, cond)
	s.observe(driver.ClassPut, start, err)
	return v, err
}

// Delete implements driver.Store.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	start := time.Now()
	err := s.Store.Delete(ctx, key, cond)
	s.observe(driver.ClassDelete, start, err)
	return err
}

// List implements driver.Store.
func (s *Store) List(ctx context.Context, prefix string) (driver.ListResult, error) {
	start := time.Now()
	r, err := s.Store.List(ctx, prefix)
	s.observe(driver.ClassList, start, err)
	return r, err
}

// Requests forwards the wrapped store's request counts (zero when it
// does not count).
func (s *Store) Requests() driver.Counts {
	c, _ := driver.RequestsOf(s.Store)
	return c
}

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { s.latency.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) { s.latency.Collect(ch) }

var (
	_ driver.Store         = (*Store)(nil)
	_ prometheus.Collector = (*Store)(nil)
)
