package memberlist_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/memberlist"
)

// startSeeded starts size nodes on 127.0.0.1: the seed on a free port (the
// fleet's PeerPort), the others on any free port. Each node's name is
// s<i>@127.0.0.1; only the seed can be reached by name alone, the others
// are learned by gossip.
func startSeeded(t testing.TB, size int, profile memberlist.Profile, tune func(*ml.Config), log *slog.Logger) []*memberlist.Node {
	t.Helper()
	port := clustertest.FreeSharedPort(t, "127.0.0.1")
	nodes := make([]*memberlist.Node, size)
	for i := range size {
		cfg := memberlist.DefaultConfig(libcluster.MustParseNode(fmt.Sprintf("s%d@127.0.0.1", i)))
		cfg.BindAddr = "127.0.0.1"
		cfg.BindPort = 0
		if i == 0 {
			cfg.BindPort = port
		}
		cfg.PeerPort = port
		cfg.Profile = profile
		cfg.Logger = log.With("self", string(cfg.Name))
		cfg.Tune = tune
		n, err := memberlist.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.Name, err)
		}
		t.Cleanup(n.Kill)
		nodes[i] = n
	}
	return nodes
}

// scaleTimings gives the failure detector room. Fifty race-instrumented
// nodes in one process on a loaded 2-core machine get about half a core:
// with 1 s probes a quarter of the UDP probes were acked late, live members
// were declared dead over a thousand times a run, and the membership
// flapped at 38 to 49 of 49 peers for the whole test. Fewer, more patient
// probes, a longer refutation window and no compression (a tenth of the
// CPU, of no use on loopback) keep live members alive; joins and gossip
// still carry the membership within seconds.
func scaleTimings(c *ml.Config) {
	fastTimings(c)
	c.ProbeInterval = 2 * time.Second
	c.ProbeTimeout = 1500 * time.Millisecond
	c.SuspicionMult = 6
	c.GossipInterval = 200 * time.Millisecond
	c.EnableCompression = false
}

func counts(nodes []*memberlist.Node) []int {
	var out []int
	for _, n := range nodes {
		out = append(out, len(n.Nodes()))
	}
	return out
}

func converged(nodes []*memberlist.Node) bool {
	for _, n := range nodes {
		if len(n.Nodes()) != len(nodes)-1 {
			return false
		}
	}
	return true
}

// Many nodes that know only a seed converge to full membership through
// their topologies and gossip.
func TestScaleConverges(t *testing.T) {
	size := 50
	if testing.Short() {
		size = 20
	}
	nodes := startSeeded(t, size, memberlist.ProfileLAN, scaleTimings, testLogger(t))
	seed := nodes[0].Self()
	for _, n := range nodes[1:] {
		runTopology(t, n, []libcluster.Node{seed})
	}
	start := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for !converged(nodes) {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s not all %d nodes list the other %d; counts: %v", size, size-1, counts(nodes))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d nodes converged %v after their topologies started", size, time.Since(start).Round(time.Millisecond))
	for _, n := range nodes[1:] {
		if n.Addr().Port() == nodes[0].Addr().Port() {
			t.Fatalf("%s shares the seed's port %d; the test needs distinct ports", n.Self(), n.Addr().Port())
		}
	}
}
