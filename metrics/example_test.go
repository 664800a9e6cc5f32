package metrics_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
)

func ExampleNew() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "example"})
	m.Track(func() []libcluster.TopologyStatus {
		return []libcluster.TopologyStatus{{Name: "example", Desired: []libcluster.Node{"b@127.0.0.1"}, Connected: []libcluster.Node{"b@127.0.0.1"}, Ready: true}}
	})
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetMetric()[0].GetLabel()[0].GetValue())
	}
	// Output:
	// libcluster_connected_nodes example
	// libcluster_connects_total example
	// libcluster_desired_nodes example
	// libcluster_topology_ready example
}
