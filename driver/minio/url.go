package minio

import (
	"context"
	"fmt"
	"os"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storeurl"
)

// Importing the package makes storeurl open minio:// URLs.
func init() { storeurl.Register(storeurl.SchemeMinIO, openURL) }

func openURL(_ context.Context, s storeurl.Spec) (driver.Store, error) {
	access, secret, err := envCredentials(os.Getenv)
	if err != nil {
		return nil, err
	}
	return New(Config{
		Endpoint: s.Host, Secure: !s.Insecure, Region: s.Region,
		Bucket: s.Bucket, Prefix: s.Prefix,
		AccessKey: access, SecretKey: secret,
	})
}

// envCredentials reads MINIO_ACCESS_KEY/MINIO_SECRET_KEY, else
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD. Both empty leaves the choice to New
// (the AWS variables). Half a pair is an error naming the missing
// variable.
func envCredentials(getenv func(string) string) (access, secret string, err error) {
	for _, pair := range [][2]string{{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"}, {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}} {
		a, s := getenv(pair[0]), getenv(pair[1])
		switch {
		case a != "" && s != "":
			return a, s, nil
		case a != "":
			return "", "", fmt.Errorf("%w: %s is set but %s is not", storeurl.ErrCredentials, pair[0], pair[1])
		case s != "":
			return "", "", fmt.Errorf("%w: %s is set but %s is not", storeurl.ErrCredentials, pair[1], pair[0])
		}
	}
	return "", "", nil
}
