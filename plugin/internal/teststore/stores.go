package teststore

import (
	"path/filepath"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/bolt"
	"github.com/s3coord/coord/driver/mem"
)

var factories = []Factory{
	{Name: "mem", New: func(string) (driver.Store, error) { return mem.New(mem.Options{}), nil }},
	{Name: "mem-no-conditional-delete", New: func(string) (driver.Store, error) {
		return NoConditionalDelete{mem.New(mem.Options{})}, nil
	}},
	{Name: "bolt", New: func(dir string) (driver.Store, error) {
		return bolt.Open(filepath.Join(dir, "coord.db"), bolt.Options{})
	}},
}
