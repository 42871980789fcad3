package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/s3coord/coord/driver"
)

// HoursPerMonth is the month S3 bills by: 730 hours (365 × 24 / 12).
const HoursPerMonth = 730

// PriceModel is a request price list in dollars per 1,000 requests. Every
// provider below bills requests in two classes (and DELETE free): one for
// writes and listings, one for reads. coord's requests fall into them as
// PUT and LIST (write class) and GET and HEAD (read class); each model
// says what its provider calls the classes.
type PriceModel struct {
	Name string `json:"name"`
	// Key is the -prices name ("custom" for put=…,get=…).
	Key string `json:"key"`
	// WritePer1000 prices PUT and LIST requests.
	WritePer1000 float64 `json:"write_per_1000_usd"`
	// ReadPer1000 prices GET and HEAD requests.
	ReadPer1000 float64 `json:"read_per_1000_usd"`
	// DeletePer1000 prices DELETE requests.
	DeletePer1000 float64 `json:"delete_per_1000_usd"`
	// WriteClass and ReadClass are the provider's names for the classes
	// PUT/LIST and GET/HEAD are billed in.
	WriteClass string `json:"write_class,omitempty"`
	ReadClass  string `json:"read_class,omitempty"`
	// Source says where the prices come from and when they were read.
	Source string `json:"source,omitempty"`
}

// pricesRead is when the built-in price lists were read. Providers change
// their prices: check the pages named in each Source before relying on a
// figure, or pass -prices put=…,get=….
const pricesRead = "list prices as published in 2025"

// S3Standard is the S3 Standard request price list (us-east-1).
var S3Standard = PriceModel{
	Name: "S3 Standard", Key: "s3-standard",
	WritePer1000: 0.005, ReadPer1000: 0.0004, DeletePer1000: 0,
	WriteClass: "PUT, COPY, POST, LIST requests", ReadClass: "GET, SELECT and all other requests (HEAD)",
	Source: "aws.amazon.com/s3/pricing, us-east-1; " + pricesRead,
}

// PriceModels are the built-in price lists, by -prices name.
var PriceModels = []PriceModel{
	S3Standard,
	{
		Name: "S3 Express One Zone", Key: "s3-express",
		WritePer1000: 0.00113, ReadPer1000: 0.00003,
		WriteClass: "PUT, COPY, POST, LIST requests", ReadClass: "GET and all other requests (HEAD)",
		Source: "aws.amazon.com/s3/pricing, us-east-1, after the April 2025 reduction; " + pricesRead +
			"; its per-GB upload and retrieval charges are left out (coord's records are under 1 KiB)",
	},
	{
		Name: "GCS Standard", Key: "gcs-standard",
		WritePer1000: 0.005, ReadPer1000: 0.0004,
		WriteClass: "Class A operations (insert, list)", ReadClass: "Class B operations (get, metadata get)",
		Source: "cloud.google.com/storage/pricing, regional bucket (us-central1); " + pricesRead +
			"; multi-region buckets bill Class A higher",
	},
	{
		Name: "Azure Blob hot", Key: "azure-hot",
		WritePer1000: 0.005, ReadPer1000: 0.0004,
		WriteClass: "write operations and list operations ($0.05 per 10,000)",
		ReadClass:  "read operations and all other operations (Get Blob Properties; $0.004 per 10,000)",
		Source: "azure.microsoft.com/pricing/details/storage/blobs, block blob, GPv2, flat namespace, LRS, East US; " +
			pricesRead,
	},
	{
		Name: "Cloudflare R2", Key: "r2",
		WritePer1000: 0.0045, ReadPer1000: 0.00036,
		WriteClass: "Class A operations (PutObject, ListObjects; $4.50 per million)",
		ReadClass:  "Class B operations (GetObject, HeadObject; $0.36 per million)",
		Source: "developers.cloudflare.com/r2/pricing, Standard storage; " + pricesRead +
			"; the free tier (1 million Class A, 10 million Class B a month) is not deducted",
	},
}

// priceAliases are other accepted -prices names.
var priceAliases = map[string]string{"s3": "s3-standard", "gcs": "gcs-standard", "azure": "azure-hot", "cloudflare-r2": "r2"}

// errUnknownPrices is returned by parsePrices for a name it does not know.
var errUnknownPrices = errors.New("unknown price list")

// priceKeys lists the built-in -prices names.
func priceKeys() []string {
	keys := make([]string, len(PriceModels))
	for i, p := range PriceModels {
		keys[i] = p.Key
	}
	return keys
}

// parsePrices parses a -prices value: a built-in name (s3-standard,
// s3-express, gcs-standard, azure-hot, r2) or custom prices per 1,000
// requests, "put=0.005,get=0.0004" (put prices PUT and LIST, get prices GET
// and HEAD; optional delete=…, and name=… for the tables).
func parsePrices(s string) (PriceModel, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "=") {
		key := strings.ToLower(s)
		if k, ok := priceAliases[key]; ok {
			key = k
		}
		for _, p := range PriceModels {
			if p.Key == key {
				return p, nil
			}
		}
		return PriceModel{}, fmt.Errorf("%w %q (one of %s, or put=…,get=… in dollars per 1,000 requests)",
			errUnknownPrices, s, strings.Join(priceKeys(), ", "))
	}
	p := PriceModel{Name: "custom", Key: "custom", WriteClass: "put= (PUT and LIST)", ReadClass: "get= (GET and HEAD)",
		Source: "given on the command line"}
	seen := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if !ok || k == "" {
			return PriceModel{}, fmt.Errorf("%q: want key=value", f)
		}
		if seen[k] {
			return PriceModel{}, fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		if k == "name" {
			if v == "" {
				return PriceModel{}, errors.New("name: empty")
			}
			p.Name = v
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
		if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
			return PriceModel{}, fmt.Errorf("%s=%s: want a price in dollars per 1,000 requests, 0 or more", k, v)
		}
		switch k {
		case "put":
			p.WritePer1000 = x
		case "get":
			p.ReadPer1000 = x
		case "delete":
			p.DeletePer1000 = x
		default:
			return PriceModel{}, fmt.Errorf("%q: unknown key (put, get, delete, name)", k)
		}
	}
	if !seen["put"] || !seen["get"] {
		return PriceModel{}, errors.New("custom prices need both put= and get= (dollars per 1,000 requests)")
	}
	return p, nil
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

// Add is the sum of two rates, class by class.
func (r Rates) Add(o Rates) Rates {
	return Rates{Get: r.Get + o.Get, Head: r.Head + o.Head, Put: r.Put + o.Put, List: r.List + o.List, Delete: r.Delete + o.Delete}
}

// PerHour is the cost of one hour at rates r, in dollars.
func (p PriceModel) PerHour(r Rates) float64 {
	return ((r.Put+r.List)*p.WritePer1000 + (r.Get+r.Head)*p.ReadPer1000 + r.Delete*p.DeletePer1000) / 1000
}

// PerMonth is the cost of a 730-hour month at rates r, in dollars.
func (p PriceModel) PerMonth(r Rates) float64 { return p.PerHour(r) * HoursPerMonth }
