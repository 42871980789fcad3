package s3

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3coord/coord/driver"
)

var (
	_ driver.BucketCreator           = (*Store)(nil)
	_ driver.ConditionalDeleteForcer = (*Store)(nil)
)

// CreateBucket implements driver.BucketCreator: a HEAD of the bucket, and
// when it is missing a CreateBucket (with the client's region as location
// constraint outside us-east-1). A bucket that exists and answers the HEAD
// is reported as not created, without error.
func (s *Store) CreateBucket(ctx context.Context) (bool, error) {
	const op = "create-bucket"
	if s.closed.Load() {
		return false, driver.Wrap(op, s.bucket, driver.ErrClosed, nil)
	}
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}, s.callOptions)
	if err == nil {
		return false, nil
	}
	// A HEAD has no body, so a missing bucket is a bare 404.
	if answerOf(err).Status != http.StatusNotFound {
		return false, s.fail(ctx, op, s.bucket, nil, err)
	}
	in := &awss3.CreateBucketInput{Bucket: &s.bucket}
	if r := s.client.Options().Region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err = s.client.CreateBucket(ctx, in, s.callOptions)
	if err == nil {
		return true, nil
	}
	owned, kind := answerOf(err).CreateBucketKind()
	if owned {
		return false, nil // made by someone else with our account meanwhile
	}
	return false, s.fail(ctx, op, s.bucket, kind, err)
}

// ForceConditionalDelete implements driver.ConditionalDeleteForcer: a
// Store on the same client, bucket and prefix that sends If-Match on
// DELETE whatever Options.ConditionalDelete says. It counts its requests
// on its own. For measuring a server (coordctl check) only: on a server
// that ignores the header, its conditional deletes are unconditional.
func (s *Store) ForceConditionalDelete() driver.Store {
	return &Store{
		client:     s.client,
		bucket:     s.bucket,
		prefix:     s.prefix,
		maxRead:    s.maxRead,
		verifyETag: s.verifyETag,
		condDelete: true,
	}
}
