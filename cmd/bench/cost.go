package main

import (
	"time"

	"github.com/s3coord/coord/driver"
)

// HoursPerMonth is the month S3 bills by: 730 hours (365 × 24 / 12).
const HoursPerMonth = 730

// PriceModel is a request price list in dollars per 1,000 requests. S3
// bills by request class: PUT, COPY, POST and LIST at one price; GET, HEAD
// and the other reads at another; DELETE is free.
type PriceModel struct {
	Name string `json:"name"`
	// WritePer1000 prices PUT and LIST requests (S3's PUT/COPY/POST/LIST tier).
	WritePer1000 float64 `json:"write_per_1000_usd"`
	// ReadPer1000 prices GET and HEAD requests.
	ReadPer1000 float64 `json:"read_per_1000_usd"`
	// DeletePer1000 prices DELETE requests.
	DeletePer1000 float64 `json:"delete_per_1000_usd"`
}

// S3Standard is the S3 Standard request price list (us-east-1).
var S3Standard = PriceModel{
	Name:          "S3 Standard",
	WritePer1000:  0.005,
	ReadPer1000:   0.0004,
	DeletePer1000: 0,
}

// Rates is a request rate by class, in requests per hour.
type Rates struct {
	Get    float64 `json:"get"`
	Head   float64 `json:"head"`
	Put    float64 `json:"put"`
	List   float64 `json:"list"`
	Delete float64 `json:"delete"`
}

// PerHour converts counts measured over window into hourly rates. A window
// of zero or less gives zero rates.
func PerHour(c driver.Counts, window time.Duration) Rates {
	if window <= 0 {
		return Rates{}
	}
	k := float64(time.Hour) / float64(window)
	return Rates{
		Get:    float64(c.Get) * k,
		Head:   float64(c.Head) * k,
		Put:    float64(c.Put) * k,
		List:   float64(c.List) * k,
		Delete: float64(c.Delete) * k,
	}
}

// Total is the rate of requests of every class.
func (r Rates) Total() float64 { return r.Get + r.Head + r.Put + r.List + r.Delete }

// Of returns the rate of one class.
func (r Rates) Of(c driver.Class) float64 {
	switch c {
	case driver.ClassGet:
		return r.Get
	case driver.ClassHead:
		return r.Head
	case driver.ClassPut:
		return r.Put
	case driver.ClassList:
		return r.List
	case driver.ClassDelete:
		return r.Delete
	}
	return 0
}

// Scale multiplies every class by k.
func (r Rates) Scale(k float64) Rates {
	return Rates{Get: r.Get * k, Head: r.Head * k, Put: r.Put * k, List: r.List * k, Delete: r.Delete * k}
}

// PerHour is the cost of one hour at rates r, in dollars.
func (p PriceModel) PerHour(r Rates) float64 {
	return ((r.Put+r.List)*p.WritePer1000 + (r.Get+r.Head)*p.ReadPer1000 + r.Delete*p.DeletePer1000) / 1000
}

// PerMonth is the cost of a 730-hour month at rates r, in dollars.
func (p PriceModel) PerMonth(r Rates) float64 { return p.PerHour(r) * HoursPerMonth }
