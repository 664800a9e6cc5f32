package dnspoll_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// member is one real distribution node with its own topology, as one pod
// or host of a deployment would run it.
type member struct {
	node *erldist.Node
	topo *libcluster.Topology
	stop func() // stops the topology (the node keeps running)
}

// distPort finds a port free on 127.0.0.1 for the nodes to share: with no
// EPMD every node listens on the same port of its own address and dials
// peers there, so three nodes named app@127.0.0.x need no EPMD at all.
func distPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startMember(t *testing.T, name, listen string, srv *dnstest.Server, family string) *member {
	t.Helper()
	ctx := context.Background()
	n, err := erldist.Start(ctx, erldist.Config{
		Name: libcluster.MustParseNode(name), Cookie: "dnspoll-test", ListenAddr: listen,
		EPMD: erldist.EPMDNone, Logger: clustertest.FailureLog(t).With("node", name),
	})
	if err != nil {
		if _, lerr := net.Listen("tcp", listen); lerr != nil {
			testenv.Missing(t, "cannot listen on %s (%v)", listen, lerr)
		}
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 200,
		"resolver": srv.Addr(), "ip_family": family})
	topo := &libcluster.Topology{Name: "dns", Strategy: s, Connector: n,
		Logger: clustertest.FailureLog(t).With("topology_of", name)}
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = topo.Run(tctx); close(done) }()
	m := &member{node: n, topo: topo, stop: func() { cancel(); <-done }}
	t.Cleanup(m.stop)
	return m
}

func peersOf(m *member) []libcluster.Node {
	ns := m.node.Nodes()
	slices.Sort(ns)
	return ns
}

// TestRealNodesFormClusterFromARecords runs three Erlang-distribution
// nodes on 127.0.0.1-3, each with a dnspoll topology over the same DNS
// name, and checks the full mesh forms, follows a removed record (the
// node leaves) and takes in an added one.
func TestRealNodesFormClusterFromARecords(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	port := strconv.Itoa(distPort(t))
	var ms []*member
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		ms = append(ms, startMember(t, "app@"+ip, ip+":"+port, srv, "ipv4"))
	}
	meshed := func(ms []*member) bool {
		for _, m := range ms {
			var want []libcluster.Node
			for _, o := range ms {
				if o != m {
					want = append(want, o.node.Self())
				}
			}
			slices.Sort(want)
			if !slices.Equal(peersOf(m), want) {
				return false
			}
		}
		return true
	}
	clustertest.Eventually(t, "a full mesh of 3 real nodes", func() bool { return meshed(ms) })

	// 127.0.0.3 leaves: its topology stops and its record goes. The others
	// disconnect it (prune immediate).
	ms[2].stop()
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2")
	clustertest.Eventually(t, "app@127.0.0.3 pruned by both others", func() bool { return meshed(ms[:2]) })

	// A fourth node joins: the mesh forms again, and the other two
	// topologies want it from the first poll that sees its record.
	m4 := startMember(t, "app@127.0.0.4", "127.0.0.4:"+port, srv, "ipv4")
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.4")
	cluster := []*member{ms[0], ms[1], m4}
	clustertest.Eventually(t, "a full mesh with app@127.0.0.4", func() bool { return meshed(cluster) })
	for _, m := range ms[:2] {
		clustertest.Eventually(t, "app@127.0.0.4 desired", func() bool {
			return slices.Contains(m.topo.Status().Desired, "app@127.0.0.4")
		})
	}
}

// TestRealNodesConnectOverIPv6 resolves an AAAA record to app@::1 and
// connects to it over ::1 from a node on 127.0.0.1.
func TestRealNodesConnectOverIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		testenv.Missing(t, "IPv6 loopback ::1 is not available (%v)", err)
	} else {
		l.Close()
	}
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1")
	srv.SetAAAA("app.test", "::1")
	port := strconv.Itoa(distPort(t))
	v6 := startMember(t, "app@::1", "[::1]:"+port, srv, "ipv6")
	v4 := startMember(t, "app@127.0.0.1", "127.0.0.1:"+port, srv, "both")
	clustertest.Eventually(t, "app@127.0.0.1 connected to app@::1", func() bool {
		return slices.Equal(peersOf(v4), []libcluster.Node{"app@::1"}) &&
			slices.Equal(peersOf(v6), []libcluster.Node{"app@127.0.0.1"})
	})
	// v6's strategy asks AAAA only, so it sees just itself; it must not
	// prune the peer that connected to it (never in its desired set).
	before := srv.Queries("app.test", dns.TypeAAAA)
	clustertest.Eventually(t, "4 more polls", func() bool { return srv.Queries("app.test", dns.TypeAAAA) >= before+4 })
	if !slices.Equal(peersOf(v4), []libcluster.Node{"app@::1"}) {
		t.Fatalf("connection over ::1 dropped: %v", peersOf(v4))
	}
}
