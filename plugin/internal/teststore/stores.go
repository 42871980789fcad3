package teststore

import (
	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/mem"
)

var factories = []Factory{
	{Name: "mem", New: func(string) (driver.Store, error) { return mem.New(mem.Options{}), nil }},
	{Name: "mem-no-conditional-delete", New: func(string) (driver.Store, error) {
		return NoConditionalDelete{mem.New(mem.Options{})}, nil
	}},
}
