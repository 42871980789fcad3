package minio_test

import (
	"context"
	"os"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/driver/minio"
)

// The minio driver (minio-go) on a MinIO server.
func ExampleNew() {
	store, err := minio.New(minio.Config{
		Endpoint:  "127.0.0.1:9000", // host:port, no scheme
		Secure:    false,            // true for HTTPS
		AccessKey: os.Getenv("MINIO_ACCESS_KEY"),
		SecretKey: os.Getenv("MINIO_SECRET_KEY"),
		Bucket:    "my-bucket",
		Prefix:    "coord/",
	})
	if err != nil {
		panic(err)
	}
	hub, err := coord.NewHub(store, coord.Config{})
	if err != nil {
		panic(err)
	}
	defer hub.Close(context.Background())
}
