package localepmd

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/strategy"
)

// counting wraps a strategy and counts its reports.
type counting struct {
	s       libcluster.Strategy
	mu      sync.Mutex
	reports int
	last    libcluster.Update
}

func (c *counting) Run(ctx context.Context, r libcluster.Reporter) error {
	return c.s.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) {
		c.mu.Lock()
		c.reports++
		c.last = u
		c.mu.Unlock()
		r.Report(u)
	}))
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reports
}

func (c *counting) lastUpdate() libcluster.Update {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func nodes(names ...string) []libcluster.Node {
	out := make([]libcluster.Node, len(names))
	for i, n := range names {
		out[i] = libcluster.Node(n + "@127.0.0.1")
	}
	slices.Sort(out)
	return out
}

// runTopology runs strategy s for self in a Topology with a recording
// connector until the test ends.
func runTopology(t *testing.T, s libcluster.Strategy, self libcluster.Node) (*libcluster.Topology, *clustertest.Connector, *counting) {
	t.Helper()
	conn := clustertest.NewConnector(self)
	cs := &counting{s: s}
	topo := &libcluster.Topology{Name: "local", Strategy: cs, Connector: conn}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = topo.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return topo, conn, cs
}

func newStrategy(t *testing.T, cfg map[string]any, self libcluster.Node) *Strategy {
	t.Helper()
	s, err := fromParams(strategy.NewParams(cfg), self)
	if err != nil {
		t.Fatalf("fromParams: %v", err)
	}
	return s
}

// TestFindsErlAndGoNodes registers three real erl nodes and two Go nodes
// on one EPMD — the real epmd daemon, then the project's epmd.Server — and
// checks that the strategy finds them all, leaves out this node, and
// keeps watching: a node registered later joins too.
//
// The connector here records connects instead of dialling;
// TestConnectsThroughDist connects such nodes with the real erldist.Node.
func TestFindsErlAndGoNodes(t *testing.T) {
	forEachEPMD(t, func(t *testing.T, port int) {
		registerGo(t, port, "go_1")
		registerGo(t, port, "go_2")
		registerGo(t, port, "self")
		erltest.WaitNames(t, port, "three erl nodes", erltest.HasAll("erl_a", "erl_b", "erl_c"))

		self := libcluster.Node("self@127.0.0.1")
		s := newStrategy(t, map[string]any{"epmd_port": port, "polling_interval": "50ms"}, self)
		topo, _, cs := runTopology(t, s, self)

		want := nodes("erl_a", "erl_b", "erl_c", "go_1", "go_2")
		clustertest.Eventually(t, "all five nodes connected", func() bool {
			return slices.Equal(topo.Status().Connected, want)
		})
		u := cs.lastUpdate()
		if u.Kind() == libcluster.KindComplete {
			t.Error("default mode reported a complete set; want additive updates")
		}
		if !slices.ContainsFunc(u.Explain().Dropped, func(d libcluster.Dropped) bool { return d.Candidate == string(self) && d.Reason == "this node" }) {
			t.Errorf("dropped %v; want this node listed", u.Explain().Dropped)
		}
		if !strings.Contains(u.Explain().Source, strconv.Itoa(port)) {
			t.Errorf("source %q does not name the EPMD port", u.Explain().Source)
		}

		registerGo(t, port, "go_late")
		want = nodes("erl_a", "erl_b", "erl_c", "go_1", "go_2", "go_late")
		clustertest.Eventually(t, "a node registered later to join", func() bool {
			return slices.Equal(topo.Status().Connected, want)
		})
	})
}

// TestRemovalRules shows the two modes: by default a node that leaves
// EPMD stays desired (libcluster never disconnects); with
// remove_unregistered it leaves the desired set and is disconnected.
func TestRemovalRules(t *testing.T) {
	port := startGoEPMD(t)
	self := libcluster.Node("self@127.0.0.1")

	keep := registerGo(t, port, "keep")
	gone := registerGo(t, port, "gone")
	defer keep.Close()

	additive := newStrategy(t, map[string]any{"epmd_port": port, "polling_interval": 20}, self)
	complete := newStrategy(t, map[string]any{"epmd_port": port, "polling_interval": 20, "remove_unregistered": true}, self)
	topoA, connA, csA := runTopology(t, additive, self)
	topoC, connC, csC := runTopology(t, complete, self)
	both := nodes("gone", "keep")
	for _, topo := range []*libcluster.Topology{topoA, topoC} {
		clustertest.Eventually(t, "both nodes connected", func() bool { return slices.Equal(topo.Status().Connected, both) })
	}

	gone.Close()
	erltest.WaitNames(t, port, "gone to unregister", func(ns []string) bool { return !slices.Contains(ns, "gone") })
	clustertest.Eventually(t, "remove_unregistered to drop the node", func() bool {
		return slices.Equal(topoC.Status().Desired, nodes("keep"))
	})
	// The status shows the new desired set before the prune's Disconnect
	// (run by the reconciler after publishing) has returned.
	clustertest.Eventually(t, "remove_unregistered to disconnect gone@127.0.0.1", func() bool {
		return slices.Equal(connC.Disconnects(), nodes("gone"))
	})
	if csC.lastUpdate().Kind() != libcluster.KindComplete {
		t.Error("remove_unregistered reported additive updates; want complete sets")
	}
	// The additive topology has seen the new answer several times by now.
	n := csA.count()
	clustertest.Eventually(t, "three more polls", func() bool { return csA.count() >= n+3 })
	if got := topoA.Status().Desired; !slices.Equal(got, both) {
		t.Errorf("default mode desired %v after a node left EPMD, want %v kept", got, both)
	}
	if got := connA.Disconnects(); len(got) != 0 {
		t.Errorf("default mode disconnected %v, want nothing", got)
	}
}

// TestNoEPMD shows that a missing EPMD is an error update with a hint,
// retried, and that the strategy recovers once an EPMD appears.
func TestNoEPMD(t *testing.T) {
	port := clustertest.FreePort(t)
	self := libcluster.Node("self@127.0.0.1")
	s := newStrategy(t, map[string]any{"epmd_port": port, "polling_interval": "20ms"}, self)
	updates := make(chan libcluster.Update, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) {
			select {
			case updates <- u:
			default:
			}
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
	want := "no EPMD at 127.0.0.1:" + strconv.Itoa(port) + ": start one (epmd -daemon) or run a node with epmd: auto"
	for i := 0; i < 2; i++ { // reported, and retried
		u := <-updates
		if u.Err() == nil || !strings.Contains(u.Err().Error(), want) {
			t.Fatalf("update %d: %+v, want an error containing %q", i+1, u, want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d was taken in between: %v", port, err)
	}
	srv := &epmd.Server{}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	registerGo(t, port, "late")
	deadline := time.After(30 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.Err() == nil && slices.Equal(u.Nodes(), nodes("late")) {
				return
			}
		case <-deadline:
			t.Fatal("no good update after EPMD started")
		}
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		self libcluster.Node
		want string
	}{
		{map[string]any{}, "", `config key "host"`},
		{map[string]any{"host": "bad host"}, "a@b", `config key "host"`},
		{map[string]any{"epmd_port": 70000}, "a@b", `config key "epmd_port"`},
		{map[string]any{"epmd_port": "x"}, "a@b", `config key "epmd_port"`},
		{map[string]any{"polling_interval": 0}, "a@b", `config key "polling_interval"`},
		{map[string]any{"remove_unregistered": "maybe"}, "a@b", `config key "remove_unregistered"`},
		{map[string]any{"epmd_prot": 1}, "a@b", `did you mean "epmd_port"`},
	} {
		_, err := fromParams(strategy.NewParams(c.cfg), c.self)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %v: error %v, want one containing %s", c.cfg, err, c.want)
		}
	}
	t.Setenv("ERL_EPMD_PORT", "4370")
	s := newStrategy(t, nil, "app@host1")
	if s.cfg.EPMDPort != 4370 || s.cfg.PollingInterval != 5*time.Second || s.host() != "host1" || s.cfg.RemoveUnregistered {
		t.Errorf("defaults: %+v", s)
	}
	if s := newStrategy(t, map[string]any{"host": "10.0.0.1"}, ""); s.host() != "10.0.0.1" {
		t.Errorf("host override: %q", s.host())
	}
	for _, name := range []string{"localepmd", "Cluster.Strategy.LocalEpmd", "local_epmd"} {
		if info, ok := strategy.Lookup(name); !ok || info.Name != "localepmd" {
			t.Errorf("Lookup(%q) = %v, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("localepmd")
	st, err := info.Build(strategy.Args{Self: "a@127.0.0.1", Params: strategy.NewParams(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Error("does not implement strategy.Discoverer")
	}
}

// fromParams is what the registry does: decode the keys, then New.
func fromParams(p *strategy.Params, self libcluster.Node) (*Strategy, error) {
	c, err := ConfigFromParams(p)
	if err != nil {
		return nil, err
	}
	return New(c, strategy.Options{Self: self})
}

func TestStructLiteralTakesDefaults(t *testing.T) {
	t.Setenv("ERL_EPMD_PORT", "4371")
	s, err := New(Config{Host: "127.0.0.1"}, strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.EPMDPort != 4371 || s.cfg.PollingInterval != strategy.DefaultPollingInterval {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
	if _, err := New(Config{EPMDPort: 70000, Host: "h"}, strategy.Options{}); err == nil || !strings.Contains(err.Error(), `config key "epmd_port"`) {
		t.Fatalf("New with port 70000: err = %v", err)
	}
}
