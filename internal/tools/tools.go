//go:build tools

// Package tools pins the module's chosen dependencies while the packages
// that use them are being written, so that go.mod stays stable.
package tools

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/hashicorp/go-multierror"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/testcontainers/testcontainers-go"
	_ "go.etcd.io/bbolt"
)
