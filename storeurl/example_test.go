package storeurl_test

import (
	"context"
	"fmt"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/storeurl"
)

// A store from a URL, as the commands take it: mem://, bolt:///path.db,
// s3://bucket/prefix?region=…, minio://host:port/bucket/prefix.
func ExampleOpen() {
	ctx := context.Background()
	store, err := storeurl.Open(ctx, "mem://") // e.g. os.Getenv("COORD_STORE")
	if err != nil {
		panic(err) // storeurl.ErrInvalid and a kind for a bad URL
	}
	defer store.Close()
	hub, err := coord.NewHub(store, coord.Config{})
	if err != nil {
		panic(err)
	}
	defer hub.Close(ctx)
	spec, _ := storeurl.Parse("s3://my-bucket/coord?region=eu-west-1")
	fmt.Println(spec) // never shows a credential
	// Output:
	// s3://my-bucket/coord/?region=eu-west-1
}
