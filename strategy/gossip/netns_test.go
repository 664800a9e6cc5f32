package gossip

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/netns"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestMain(m *testing.M) {
	netns.RunHelper(map[string]func([]string) int{"node": nodeMain, "node6": node6Main, "check6": check6Main})
	os.Exit(m.Run())
}

// nodeMain runs inside a lab host: a dist node named after args[0] with a
// gossip topology. args: name, mode (multicast|broadcast), gossip port,
// tick time. It prints "nodes a,b,..." whenever its connections change.
func nodeMain(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: name multicast|broadcast port ticktime")
		return 2
	}
	port, _ := strconv.Atoi(args[2])
	return runLabNode(args[0], args[3], "lab", func(self libcluster.Node) libcluster.Strategy {
		c := Config{Port: port, Interval: time.Second}
		if args[1] == "broadcast" {
			c.BroadcastOnly, c.MulticastAddr = true, netip.MustParseAddr("10.213.0.255")
		} else {
			c.MulticastIf = "eth0" // the lab's bridge; there is no uplink
		}
		return labStrategy(c, self)
	})
}

// labStrategy builds a lab host's strategy; an invalid config makes a
// strategy that fails with the error.
func labStrategy(c Config, self libcluster.Node) libcluster.Strategy {
	s, err := New(c, strategy.Options{Self: self, Logger: quietLogger()})
	if err != nil {
		return libcluster.StrategyFunc(func(context.Context, libcluster.Reporter) error { return err })
	}
	return s
}

// runLabNode runs inside a lab host: a dist node named name with the given
// tick time, whose topology runs the strategy made by newStrategy. It prints
// "nodes a,b,..." whenever its connections change, and runs until killed.
func runLabNode(name, tickTime, topology string, newStrategy func(self libcluster.Node) libcluster.Strategy) int {
	tick, _ := time.ParseDuration(tickTime)
	ctx := context.Background()
	n, err := erldist.Start(ctx, erldist.Config{
		Name: libcluster.Node(name), Cookie: "lab", EPMDPort: 4369, // the namespace's own EPMD
		TickTime: tick, Logger: quietLogger(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	last := "-"
	show := func() {
		mu.Lock()
		defer mu.Unlock()
		ns := n.Nodes()
		slices.Sort(ns)
		var s []string
		for _, x := range ns {
			s = append(s, string(x))
		}
		if cur := strings.Join(s, ","); cur != last {
			last = cur
			fmt.Println("nodes " + cur)
		}
	}
	stop := n.WatchNodes(func(libcluster.NodeEvent) { show() })
	defer stop()
	topo := &libcluster.Topology{Name: topology, Strategy: newStrategy(n.Self()), Connector: n, Logger: quietLogger(),
		Policy: libcluster.Policy{Backoff: libcluster.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}, Resync: time.Second}}
	show()
	_ = topo.Run(ctx)
	return 0
}

type labNode struct {
	name string
	proc *netns.Proc
	mu   sync.Mutex
	cur  []string
	seen chan struct{}
}

func startLab(t *testing.T, mode string, tick time.Duration) (*netns.Lab, []*labNode) {
	testenv.Short(t)
	lab := netns.New(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var nodes []*labNode
	for i, h := range lab.Hosts() {
		ln := &labNode{name: fmt.Sprintf("g%d@%s", i, h.Addr), seen: make(chan struct{}, 1)}
		ln.proc = h.StartHelper(t, ctx, "node", ln.name, mode, strconv.Itoa(DefaultPort), tick.String())
		go func() {
			for l := range ln.proc.Lines {
				if rest, ok := strings.CutPrefix(l, "nodes "); ok {
					ln.mu.Lock()
					ln.cur = strings.FieldsFunc(rest, func(r rune) bool { return r == ',' })
					ln.mu.Unlock()
					select {
					case ln.seen <- struct{}{}:
					default:
					}
				}
			}
		}()
		nodes = append(nodes, ln)
	}
	return lab, nodes
}

func (n *labNode) nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.cur)
}

// waitLab waits until cond holds for every node's connection list.
func waitLab(t *testing.T, what string, nodes []*labNode, timeout time.Duration, cond func(self *labNode, conns []string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, n := range nodes {
			if !cond(n, n.nodes()) {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("%s: %v", n.name, n.nodes())
			}
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fullMesh(nodes []*labNode) func(*labNode, []string) bool {
	return func(self *labNode, conns []string) bool {
		for _, o := range nodes {
			if o != self && !slices.Contains(conns, o.name) {
				return false
			}
		}
		return true
	}
}

// TestNamespaceCluster: three hosts on a bridge, each running a real
// Erlang-distribution node, form a full mesh through gossip over
// multicast and over subnet broadcast.
func TestNamespaceCluster(t *testing.T) {
	for _, mode := range []string{"multicast", "broadcast"} {
		t.Run(mode, func(t *testing.T) {
			_, nodes := startLab(t, mode, 60*time.Second)
			d := waitLab(t, "full mesh", nodes, 30*time.Second, fullMesh(nodes))
			t.Logf("%s: full mesh of 3 hosts after %v (process start included)", mode, d)
		})
	}
}

// TestNamespacePartitionHeals cuts one host off for longer than the
// distribution tick time, so its peers declare it down, then restores the
// link: the cluster heals with no manual action.
func TestNamespacePartitionHeals(t *testing.T) {
	const tick = 2 * time.Second
	lab, nodes := startLab(t, "multicast", tick)
	waitLab(t, "full mesh", nodes, 30*time.Second, fullMesh(nodes))
	lab.Cut(2)
	cut := nodes[2].name
	waitLab(t, "cut host declared down", nodes[:2], 30*time.Second, func(_ *labNode, conns []string) bool {
		return !slices.Contains(conns, cut)
	})
	waitLab(t, "cut host lost its peers", nodes[2:], 30*time.Second, func(_ *labNode, conns []string) bool {
		return len(conns) == 0
	})
	lab.Restore(2)
	d := waitLab(t, "healed mesh", nodes, 30*time.Second, fullMesh(nodes))
	t.Logf("healed %v after restoring the link (tick time %v)", d, tick)
}
