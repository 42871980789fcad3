package minio

import (
	"context"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/s3coord/coord/driver"
)

var _ driver.BucketCreator = (*Store)(nil)

// CreateBucket implements driver.BucketCreator: BucketExists (a HEAD),
// and when the bucket is missing MakeBucket in the configured region. A
// bucket that exists and answers the HEAD is reported as not created,
// without error.
func (s *Store) CreateBucket(ctx context.Context) (bool, error) {
	const op = "create-bucket"
	if s.closed.Load() {
		return false, driver.Wrap(op, s.bucket, driver.ErrClosed, nil)
	}
	exists, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return false, s.fail(ctx, op, s.bucket, nil, err)
	}
	if exists {
		return false, nil
	}
	err = s.core.MakeBucket(ctx, s.bucket, miniogo.MakeBucketOptions{Region: s.region})
	if err == nil {
		return true, nil
	}
	owned, kind := answerOf(err).CreateBucketKind()
	if owned {
		return false, nil // made with our account meanwhile
	}
	return false, s.fail(ctx, op, s.bucket, kind, err)
}
