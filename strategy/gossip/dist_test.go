package gossip

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// TestLoopbackDistMesh: three real Erlang-distribution nodes (package erldist)
// find each other through gossip on the host loopback and form a full mesh.
func TestLoopbackDistMesh(t *testing.T) {
	for _, mode := range []string{"multicast", "broadcast"} {
		t.Run(mode, func(t *testing.T) {
			port, epmdPort := clustertest.FreeUDPPort(t), clustertest.FreePort(t)
			var nodes []*erldist.Node
			for i := range 3 {
				n, err := erldist.Start(context.Background(), erldist.Config{
					Name:       libcluster.Node(fmt.Sprintf("gd%d@127.0.0.1", i)),
					Cookie:     "gossip-test",
					ListenAddr: "127.0.0.1:0",
					EPMDPort:   epmdPort,
					Logger:     quietLogger(),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { n.Close() })
				nodes = append(nodes, n)
			}
			for i, n := range nodes {
				s := loopbackMulticast(i, port)
				if mode == "broadcast" {
					s = loopbackBroadcast(i, port)
				}
				s.Self = n.Self()
				topo := &libcluster.Topology{Name: "gossip", Strategy: s.build(t), Connector: n, Logger: quietLogger()}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); _ = topo.Run(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
			}
			clustertest.Eventually(t, "full dist mesh", func() bool {
				for _, n := range nodes {
					got := n.Nodes()
					for _, o := range nodes {
						if o != n && !slices.Contains(got, o.Self()) {
							return false
						}
					}
				}
				return true
			})
		})
	}
}
