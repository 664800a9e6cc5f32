package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// Member is one real Erlang-distribution node with its own topology, as
// one host of a deployment runs it.
type Member struct {
	Node   *erldist.Node
	Topo   *libcluster.Topology
	Events *clustertest.EventLog
	stop   func()
}

// StartMember starts a dist node named name listening on listen (EPMD-less:
// every member listens on the same port of its own 127.0.0.x address) and
// runs a topology over s with prune immediate. Both stop when the test
// ends.
func StartMember(t testing.TB, name, listen string, s libcluster.Strategy) *Member {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := erldist.Start(context.Background(), erldist.Config{
		Name: libcluster.MustParseNode(name), Cookie: "servertest", ListenAddr: listen,
		EPMD: erldist.EPMDNone, Logger: quiet,
	})
	if err != nil {
		if l, lerr := net.Listen("tcp", listen); lerr != nil {
			testenv.Missing(t, "cannot listen on %s (%v)", listen, lerr)
		} else {
			l.Close()
		}
		t.Fatalf("servertest: start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	m := &Member{Node: n}
	m.Topo, m.Events, m.stop = RunTopology(t, s, n)
	return m
}

// RunTopology runs a topology (prune immediate, logs discarded) over s
// and c until stop is called or the test ends, recording its events.
func RunTopology(t testing.TB, s libcluster.Strategy, c libcluster.Connector) (*libcluster.Topology, *clustertest.EventLog, func()) {
	log := &clustertest.EventLog{}
	topo := &libcluster.Topology{Name: "servertest", Strategy: s, Connector: c,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observers: []libcluster.Observer{log.Observe}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = topo.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return topo, log, stop
}

// HasDiscoveryError reports whether log holds a discovery error whose
// text contains substr.
func HasDiscoveryError(log *clustertest.EventLog, substr string) bool {
	for _, ev := range log.Of(libcluster.EventDiscoveryError) {
		if strings.Contains(ev.Err.Error(), substr) {
			return true
		}
	}
	return false
}

// Stop stops the topology (its strategy leaves); the node keeps running
// until Close.
func (m *Member) Stop() { m.stop() }

// Close stops the topology and the node.
func (m *Member) Close() { m.stop(); m.Node.Close() }

// Peers returns the nodes the member is connected to, sorted.
func (m *Member) Peers() []libcluster.Node {
	ns := m.Node.Nodes()
	slices.Sort(ns)
	return ns
}

// Meshed reports whether every member is connected to exactly the others.
func Meshed(ms ...*Member) bool {
	for _, m := range ms {
		var want []libcluster.Node
		for _, o := range ms {
			if o != m {
				want = append(want, o.Node.Self())
			}
		}
		slices.Sort(want)
		if !slices.Equal(m.Peers(), want) {
			return false
		}
	}
	return true
}

// Desires reports whether the member's topology wants exactly want.
func (m *Member) Desires(want ...libcluster.Node) bool {
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(m.Topo.Status().Desired, w)
}

// Disconnects returns how many disconnects the topology made.
func (m *Member) Disconnects() int { return len(m.Events.Of(libcluster.EventDisconnected)) }
