package metrics_test

import (
	"fmt"
	"os"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
)

func ExampleNew() {
	m := metrics.New()
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "example"})
	m.Track(func() []libcluster.TopologyStatus {
		return []libcluster.TopologyStatus{{Name: "example", Desired: []libcluster.Node{"b@127.0.0.1"}, Connected: []libcluster.Node{"b@127.0.0.1"}, Ready: true}}
	})
	// m is also an http.Handler: http.Handle("GET /metrics", m).
	if err := m.WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// # HELP libcluster_connected_nodes Desired nodes connected now (current members).
	// # TYPE libcluster_connected_nodes gauge
	// libcluster_connected_nodes{topology="example"} 1
	// # HELP libcluster_connects_total Successful connects to a node.
	// # TYPE libcluster_connects_total counter
	// libcluster_connects_total{topology="example"} 1
	// # HELP libcluster_desired_nodes Nodes the topology's strategy discovered and wants connected.
	// # TYPE libcluster_desired_nodes gauge
	// libcluster_desired_nodes{topology="example"} 1
	// # HELP libcluster_topology_ready 1 when the topology has met its min_nodes, else 0.
	// # TYPE libcluster_topology_ready gauge
	// libcluster_topology_ready{topology="example"} 1
}

func ExampleMetrics_Snapshot() {
	m := metrics.New()
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "example"})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "example"})
	for _, s := range m.Snapshot() {
		fmt.Println(s.Name, s.Labels[0].Name, s.Labels[0].Value, s.Value)
	}
	// Output:
	// libcluster_connect_failures_total topology example 2
}
