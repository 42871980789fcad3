package s3

import (
	"context"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storeurl"
)

// Importing the package makes storeurl open s3:// URLs.
func init() { storeurl.Register(storeurl.SchemeS3, openURL) }

func openURL(ctx context.Context, s storeurl.Spec) (driver.Store, error) {
	mode := DeleteAuto
	if s.ConditionalDelete != nil {
		mode = DeleteUnsupported
		if *s.ConditionalDelete {
			mode = DeleteConditional
		}
	}
	return Open(ctx, Config{
		Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
		Endpoint: s.Endpoint, PathStyle: s.PathStyle, DefaultChain: s.DefaultChain,
		Options: Options{ConditionalDelete: mode, VerifyETag: s.VerifyETag},
	})
}
