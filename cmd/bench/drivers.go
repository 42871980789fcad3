package main

// The benchmark runs against any store URL (-store): it links every driver.
import (
	_ "github.com/s3coord/coord/driver/gcs"
	_ "github.com/s3coord/coord/driver/minio"
	_ "github.com/s3coord/coord/driver/s3"
)
