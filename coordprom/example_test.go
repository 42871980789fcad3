package coordprom_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3coord/coord"
	"github.com/s3coord/coord/coordprom"
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(coordprom.New(hub))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		if f.GetName() == "coord_is_leader" || f.GetName() == "coord_epoch" {
			m := f.GetMetric()[0]
			fmt.Println(f.GetName(), m.GetLabel()[0].GetValue(), m.GetLabel()[1].GetValue(), m.GetGauge().GetValue())
		}
	}
	// Output:
	// coord_epoch global default 1
	// coord_is_leader global default 1
}
