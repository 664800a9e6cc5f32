package localepmd

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// startDist starts a Go distribution node that registers with the EPMD on
// port; closed at cleanup.
func startDist(t *testing.T, port int, name string) *erldist.Node {
	t.Helper()
	n, err := erldist.Start(context.Background(), erldist.Config{
		Name:       libcluster.Node(name + "@127.0.0.1"),
		Cookie:     "localepmdtest",
		ListenAddr: "127.0.0.1:0",
		EPMD:       "127.0.0.1:" + strconv.Itoa(port),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestConnectsThroughDist runs the strategy in a Topology whose connector
// is a real Go distribution node: three erl nodes and two more Go nodes
// registered on the same EPMD (the real epmd daemon, then epmd.Server)
// end up connected to it.
func TestConnectsThroughDist(t *testing.T) {
	forEachEPMD(t, func(t *testing.T, port int) {
		startDist(t, port, "go_1")
		startDist(t, port, "go_2")
		self := startDist(t, port, "self")
		erltest.WaitNames(t, port, "every node registered", erltest.HasAll("erl_a", "erl_b", "erl_c", "go_1", "go_2", "self"))

		s := newStrategy(t, map[string]any{"epmd_port": port, "polling_interval": "100ms"}, self.Self())
		topo := &libcluster.Topology{Name: "local", Strategy: s, Connector: self,
			Policy: libcluster.Policy{Backoff: libcluster.Backoff{Max: time.Second}}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = topo.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })

		want := nodes("erl_a", "erl_b", "erl_c", "go_1", "go_2")
		clustertest.Eventually(t, "all five connected over Erlang distribution", func() bool {
			got := self.Nodes()
			slices.Sort(got)
			return slices.Equal(got, want) && slices.Equal(topo.Status().Connected, want)
		})
	})
}
