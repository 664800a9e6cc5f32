package erldist

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// A peer that closes every connection right after it comes up makes
// Connect race the node-down event. Whatever order they arrive in, the
// topology's view must end equal to the node's: once the peer stops
// closing, the topology connects it and says so, with no resync to help.
func TestTopologyOverFlappingPeerEndsTruthful(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "fa@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "fb@127.0.0.1", EPMDPort: ep})
	var flapping atomic.Bool
	flapping.Store(true)
	var drops atomic.Int32
	stop := b.WatchNodes(func(ev libcluster.NodeEvent) {
		if ev.Up && ev.Node == a.Self() && flapping.Load() {
			drops.Add(1)
			go func() { _ = b.Disconnect(context.Background(), a.Self()) }() // it may be gone already
		}
	})
	defer stop()

	topo := &libcluster.Topology{
		Name: "flap", Connector: a, Logger: testLogger(),
		Strategy: libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
			r.Report(libcluster.Complete([]libcluster.Node{b.Self()}))
			<-ctx.Done()
			return nil
		}),
		Policy: libcluster.Policy{MinNodes: 1, Resync: time.Hour,
			Backoff: libcluster.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- topo.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	clustertest.EventuallyWithin(t, 30*time.Second, "20 flaps", func() bool { return drops.Load() >= 20 })
	flapping.Store(false)
	clustertest.EventuallyWithin(t, 20*time.Second, "connected, and the topology says so", func() bool {
		st := topo.Status()
		return slices.Equal(a.Nodes(), []libcluster.Node{b.Self()}) &&
			slices.Equal(st.Connected, []libcluster.Node{b.Self()}) && st.Ready
	})
	// The view stays true: no stale success overwrote a later down.
	st := topo.Status()
	if got := a.Nodes(); !slices.Equal(got, st.Connected) {
		t.Fatalf("node has %v, topology says %v", got, st.Connected)
	}
}
