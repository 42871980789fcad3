package s3_test

import (
	"context"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/s3"
)

// The s3 driver on an S3-compatible server (MinIO, versitygw, Ceph…):
// its endpoint, path-style addressing, and credentials from the
// environment (the AWS SDK's default chain) unless given.
func ExampleOpen() {
	ctx := context.Background()
	store, err := s3.Open(ctx, s3.Config{
		Bucket:    "my-bucket",
		Prefix:    "coord/",
		Endpoint:  "http://127.0.0.1:9000", // empty for AWS S3 itself
		PathStyle: true,                    // most S3-compatible servers need it
		Region:    "us-east-1",
	})
	if err != nil {
		panic(err)
	}
	hub, err := coord.NewHub(store, coord.Config{})
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx)
}
