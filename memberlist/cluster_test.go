package memberlist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/memberlist"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/static"
)

const wait = 30 * time.Second

// runTopology runs a topology with the static hosts strategy over conn
// until stop is called or the test ends.
func runTopology(t *testing.T, conn libcluster.Connector, hosts []libcluster.Node) (stop func()) {
	t.Helper()
	s, err := static.New(static.Config{Hosts: hosts}, strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topo := &libcluster.Topology{
		Name:      "ml",
		Strategy:  s,
		Connector: conn,
		Policy: libcluster.Policy{
			ConnectTimeout: 5 * time.Second,
			Backoff:        libcluster.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
			Resync:         time.Second,
			Prune:          libcluster.PruneNever,
		},
		Logger: testLogger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := topo.Run(ctx); err != nil {
			t.Errorf("topology: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func fullMesh(nodes []*memberlist.Node, names []libcluster.Node) func() bool {
	return func() bool {
		for _, n := range nodes {
			if !sameSet(n.Nodes(), without(names, n.Self())) {
				return false
			}
		}
		return true
	}
}

// Three nodes given the same static list form one cluster through their
// topologies, and every node reports the others up.
func TestTopologyFormsCluster(t *testing.T) {
	f := newFleet(t, 3, 21)
	names := f.names()
	var nodes []*memberlist.Node
	var recs []*recorder
	for i := range names {
		n := f.start(i)
		nodes = append(nodes, n)
		recs = append(recs, watch(t, n))
	}
	for _, n := range nodes {
		runTopology(t, n, names)
	}
	eventually(t, wait, "every node lists the other two", fullMesh(nodes, names))
	for i, r := range recs {
		for _, peer := range without(names, names[i]) {
			eventually(t, wait, "up event for "+string(peer)+" at "+string(names[i]), func() bool {
				return r.has(0, peer, true, "")
			})
		}
	}

	// Disconnect cannot drop a live member, and says so.
	err := nodes[0].Disconnect(context.Background(), names[1])
	if !errors.Is(err, memberlist.ErrCannotDisconnect) {
		t.Errorf("Disconnect(live member) = %v, want ErrCannotDisconnect", err)
	}
	err = nodes[0].Disconnect(context.Background(), "ghost@127.0.0.99")
	if !errors.Is(err, libcluster.ErrNotConnected) {
		t.Errorf("Disconnect(non-member) = %v, want ErrNotConnected", err)
	}
	// Connecting a member is a no-op.
	if err := nodes[0].Connect(context.Background(), names[2]); err != nil {
		t.Errorf("Connect(member) = %v", err)
	}
}

// A node that closes is reported "left"; a node that dies without leaving
// is reported "failed" by the failure detector; both come back through the
// topologies when restarted.
func TestLeaveFailAndHeal(t *testing.T) {
	f := newFleet(t, 3, 24)
	names := f.names()
	nodes := make([]*memberlist.Node, 3)
	recs := make([]*recorder, 3)
	stops := make([]func(), 3)
	for i := range names {
		nodes[i] = f.start(i)
		recs[i] = watch(t, nodes[i])
		stops[i] = runTopology(t, nodes[i], names)
	}
	eventually(t, wait, "cluster of three", fullMesh(nodes, names))

	// Graceful leave.
	mark := []int{recs[0].len(), recs[1].len()}
	stops[2]()
	if err := nodes[2].Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for i := range 2 {
		eventually(t, wait, string(names[i])+" reports n2 left; events "+recs[i].String(), func() bool {
			return recs[i].has(mark[i], names[2], false, memberlist.ReasonLeft)
		})
		if !sameSet(nodes[i].Nodes(), without(names[:2], names[i])) {
			t.Errorf("%s still lists %v", names[i], nodes[i].Nodes())
		}
	}
	if got := nodes[2].Nodes(); got != nil {
		t.Errorf("closed node lists %v", got)
	}
	if err := nodes[2].Connect(context.Background(), names[0]); !errors.Is(err, memberlist.ErrClosed) {
		t.Errorf("Connect on a closed node = %v, want ErrClosed", err)
	}

	// Restart: the topologies (its own and the others', which keep retrying
	// the lost node) bring it back.
	mark = []int{recs[0].len(), recs[1].len()}
	nodes[2] = f.start(2)
	recs[2] = watch(t, nodes[2])
	runTopology(t, nodes[2], names)
	eventually(t, wait, "n2 back after restart", fullMesh(nodes, names))
	for i := range 2 {
		eventually(t, wait, "up event for restarted n2", func() bool { return recs[i].has(mark[i], names[2], true, "") })
	}

	// Crash: no leave; the failure detector must find it.
	mark = []int{recs[0].len(), recs[2].len()}
	stops[1]()
	nodes[1].Kill()
	start := time.Now()
	for j, i := range []int{0, 2} {
		eventually(t, wait, string(names[i])+" reports n1 failed; events "+recs[i].String(), func() bool {
			return recs[i].has(mark[j], names[1], false, memberlist.ReasonFailed)
		})
	}
	t.Logf("crash detected by both peers after %v", time.Since(start).Round(time.Millisecond))

	// Restart after the crash heals too.
	mark = []int{recs[0].len(), recs[2].len()}
	nodes[1] = f.start(1)
	runTopology(t, nodes[1], names)
	eventually(t, wait, "n1 back after crash and restart", fullMesh(nodes, names))
	for j, i := range []int{0, 2} {
		eventually(t, wait, "up event for restarted n1", func() bool { return recs[i].has(mark[j], names[1], true, "") })
	}
}
