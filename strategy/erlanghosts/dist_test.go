package erlanghosts

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// TestConnectsThroughDist runs the strategy in a Topology whose connector
// is a real Go distribution node: the erl nodes and the Go node that the
// hosts' EPMD lists end up connected to it.
func TestConnectsThroughDist(t *testing.T) {
	port := startDebianEPMD(t)
	startErl(t, port, "erl_a")
	startErl(t, port, "erl_b")
	start := func(name string) *erldist.Node {
		n, err := erldist.Start(context.Background(), erldist.Config{
			Name:       libcluster.Node(name + "@127.0.0.1"),
			Cookie:     "erlanghoststest",
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
	start("go_1")
	self := start("self")
	erltest.WaitNames(t, port, "every node registered", erltest.HasAll("erl_a", "erl_b", "go_1", "self"))

	path := writeFile(t, filepath.Join(t.TempDir(), "hosts"), "'127.0.0.1'.\n'127.0.0.78'.\n")
	s := newStrategy(t, map[string]any{"path": path, "epmd_port": port, "polling_interval": "100ms"}, self.Self())
	topo := &libcluster.Topology{Name: "hosts", Strategy: s, Connector: self,
		Policy: libcluster.Policy{Backoff: libcluster.Backoff{Max: time.Second}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = topo.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	want := sorted("erl_a@127.0.0.1", "erl_b@127.0.0.1", "go_1@127.0.0.1")
	clustertest.Eventually(t, "all three connected over Erlang distribution", func() bool {
		got := self.Nodes()
		slices.Sort(got)
		return slices.Equal(got, want) && slices.Equal(topo.Status().Connected, want)
	})
}
