package main

// coordctl opens every store URL: it links every driver.
import (
	_ "github.com/s3coord/coord/driver/gcs"
	_ "github.com/s3coord/coord/driver/minio"
	_ "github.com/s3coord/coord/driver/s3"
)
