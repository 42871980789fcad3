// Package realstore opens real-server stores for the built-in plugins'
// tests: a fresh prefix in a fresh bucket of the MinIO server started by
// internal/testserver/run.sh. Without the server the test is skipped
// (failed in CI). This package is test support; it imports testing.
package realstore

import (
	"testing"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/driver/minio"
	"github.com/s3coord/coord/internal/testserver"
)

// MinIO returns a minio-go store on the test MinIO server, closed when t
// ends.
func MinIO(t testing.TB) driver.Store {
	t.Helper()
	srv := testserver.MinIO(t)
	st, err := minio.New(minio.Config{
		Endpoint:   srv.HostPort(),
		Secure:     srv.Secure(),
		AccessKey:  srv.AccessKey,
		SecretKey:  srv.SecretKey,
		Region:     srv.Region,
		Bucket:     srv.NewBucket(t),
		Prefix:     testserver.UniqueName("plugin") + "/",
		MaxRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
