// Command s3only is a service that links the root package and the s3
// driver only (TestS3OnlyProgramLinksNoOtherSDK).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/s3coord/coord"
	_ "github.com/s3coord/coord/driver/s3"
	"github.com/s3coord/coord/storeurl"
)

func main() {
	store, err := storeurl.Open(context.Background(), os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer store.Close()
	_ = coord.DefaultConfig()
}
