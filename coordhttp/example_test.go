package coordhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordhttp"
	"github.com/s3coord/coord/driver/mem"
	"github.com/s3coord/coord/plugin"
)

func Example() {
	hub, err := coord.NewHub(mem.New(mem.Options{}), coord.Config{WorkerID: "worker-1"})
	if err != nil {
		panic(err)
	}
	defer hub.Close(context.Background())
	leading := make(chan struct{}, 1)
	_, err = hub.Use(context.Background(), "queue", &plugin.Func{OnLead: func(ctx context.Context, t plugin.Term) error {
		select {
		case leading <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return nil
	}}, coord.UseOptions{})
	if err != nil {
		panic(err)
	}
	<-leading

	mux := http.NewServeMux()
	mux.Handle("/coord/", http.StripPrefix("/coord", coordhttp.New(hub, coordhttp.Options{})))
	srv := httptest.NewServer(mux) // in production: http.ListenAndServe(addr, mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/coord/status.json")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var page coordhttp.Page
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		panic(err)
	}
	for _, c := range page.Coordinators {
		fmt.Printf("%s %s: leader %s, epoch %d, leading here: %v, plugins: %d\n",
			c.Namespace, c.Mode, c.Leader.ID, c.Leader.Epoch, c.IsLeader, len(c.Plugins))
	}
	// Output:
	// default global: leader worker-1, epoch 1, leading here: true, plugins: 1
}
