package prom_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
	"github.com/libcluster-go/libcluster/metrics/prom"
)

func ExampleNewCollector() {
	m := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(m))
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "example"})
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetMetric()[0].GetLabel()[0].GetValue(), f.GetMetric()[0].GetCounter().GetValue())
	}
	// Output:
	// libcluster_connects_total example 1
}
