package gcs

import (
	"context"

	"github.com/s3coord/coord/driver"
	"github.com/s3coord/coord/storeurl"
)

// Importing the package makes storeurl open gs:// URLs.
func init() { storeurl.Register(storeurl.SchemeGCS, openURL) }

func openURL(ctx context.Context, s storeurl.Spec) (driver.Store, error) {
	mode := DeleteAuto
	if s.ConditionalDelete != nil {
		mode = DeleteUnsupported
		if *s.ConditionalDelete {
			mode = DeleteConditional
		}
	}
	return Open(ctx, Config{Bucket: s.Bucket, Prefix: s.Prefix, Endpoint: s.Endpoint, ConditionalDelete: mode})
}
