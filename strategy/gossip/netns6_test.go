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
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/netns"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
	"github.com/libcluster-go/libcluster/strategy"
)

// labGroup6 is the IPv6 link-local scope group the lab hosts gossip on.
const labGroup6 = "ff02::1:32"

// sourceReporter passes updates on and prints, once per node and sender
// address, "heard <node> <source>" so the test sees where heartbeats came
// from.
type sourceReporter struct {
	next libcluster.Reporter
	mu   sync.Mutex
	seen map[string]bool
}

func (r *sourceReporter) Report(u libcluster.Update) {
	r.mu.Lock()
	for _, n := range u.Nodes() {
		if k := string(n) + " " + u.Explain().Source; !r.seen[k] {
			r.seen[k] = true
			fmt.Println("heard " + k)
		}
	}
	r.mu.Unlock()
	r.next.Report(u)
}

// node6Main runs inside a lab host: a dist node named args[0] (an IPv6
// host part) gossiping on the IPv6 group args[1] over eth0. args: name,
// group, gossip port, tick time. Like nodeMain it prints "nodes a,b,..."
// whenever its connections change, and "heard" lines from sourceReporter.
func node6Main(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: name group port ticktime")
		return 2
	}
	group, err := netip.ParseAddr(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	port, _ := strconv.Atoi(args[2])
	return runLabNode(args[0], args[3], "lab6", func(self libcluster.Node) libcluster.Strategy {
		s := labStrategy(Config{
			Port: port, Interval: time.Second,
			MulticastAddr: group, MulticastIf: "eth0", IfAddr: netip.IPv6Unspecified(),
		}, self)
		return libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
			return s.Run(ctx, &sourceReporter{next: r, seen: map[string]bool{}})
		})
	})
}

// check6Main runs inside a lab host and tries broadcast_only with the IPv6
// address args[0], through FromParams and through Run (with a deadline, in
// case it were accepted). It prints "params: <error>" and "run: <error>"
// ("<nil>" when there was none).
func check6Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: address")
		return 2
	}
	_, perr := ConfigFromParams(strategy.NewParams(map[string]any{"broadcast_only": true, "multicast_addr": args[0], "multicast_if": "eth0"}))
	fmt.Printf("params: %v\n", perr)
	addr, err := netip.ParseAddr(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := labStrategy(Config{BroadcastOnly: true, MulticastAddr: addr, MulticastIf: "eth0"}, "check@fd0d:213::1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rerr := s.Run(ctx, clustertest.ReporterFunc(func(libcluster.Update) {}))
	fmt.Printf("run: %v\n", rerr)
	return 0
}

// TestNamespaceClusterIPv6: three hosts on a bridge gossip over an IPv6
// link-local multicast group (interface eth0, socket bound to ::) and
// form a full mesh of real Erlang-distribution nodes named after their
// unique-local addresses (g0@fd0d:213::1, ...). Every heartbeat accepted
// must have come from the sending host's own IPv6 address on the lab link
// (its fe80:: link-local or its fd0d:213:: address), never from IPv4.
func TestNamespaceClusterIPv6(t *testing.T) {
	testenv.Short(t)
	lab := netns.New(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The addresses each host may send from on eth0.
	own := map[string][]netip.Addr{}
	for i, h := range lab.Hosts() {
		out, err := h.Run(ctx, "ip", "-6", "-o", "addr", "show", "dev", "eth0")
		if err != nil {
			t.Fatalf("%s: ip addr: %v: %s", h.NS, err, out)
		}
		var addrs []netip.Addr
		for _, f := range strings.Fields(string(out)) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is6() {
				addrs = append(addrs, p.Addr())
			}
		}
		if !slices.Contains(addrs, h.Addr6) {
			t.Fatalf("%s: eth0 has %v, want %s among them", h.NS, addrs, h.Addr6)
		}
		own[fmt.Sprintf("g%d@%s", i, h.Addr6)] = addrs
	}

	type heard struct{ node, source string }
	var (
		mu     sync.Mutex
		heards []heard
	)
	var nodes []*labNode
	for i, h := range lab.Hosts() {
		name := fmt.Sprintf("g%d@%s", i, h.Addr6)
		if _, err := libcluster.ParseNode(name); err != nil {
			t.Fatalf("node name %s: %v", name, err)
		}
		ln := &labNode{name: name, seen: make(chan struct{}, 1)}
		ln.proc = h.StartHelper(t, ctx, "node6", name, labGroup6, strconv.Itoa(DefaultPort), "60s")
		go func() {
			for l := range ln.proc.Lines {
				if rest, ok := strings.CutPrefix(l, "nodes "); ok {
					ln.mu.Lock()
					ln.cur = strings.FieldsFunc(rest, func(r rune) bool { return r == ',' })
					ln.mu.Unlock()
				} else if rest, ok := strings.CutPrefix(l, "heard "); ok {
					node, src, _ := strings.Cut(rest, " ")
					mu.Lock()
					heards = append(heards, heard{node, src})
					mu.Unlock()
				}
			}
		}()
		nodes = append(nodes, ln)
	}
	d := waitLab(t, "full IPv6 mesh", nodes, 30*time.Second, fullMesh(nodes))
	t.Logf("IPv6 multicast (%s on eth0): full mesh of 3 hosts after %v (process start included)", labGroup6, d)

	for _, n := range nodes {
		for _, c := range n.nodes() {
			host := c[strings.IndexByte(c, '@')+1:]
			if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Is4In6() || !netns.Subnet6.Contains(a) {
				t.Errorf("%s connected %s, want a node at an fd0d:213:: address", n.name, c)
			}
		}
	}

	// Each node must have been heard by a peer (one side of a connection
	// may have dialled before it heard the other; its heartbeat follows
	// within an interval).
	check := func() (heardFrom map[string]bool, bad []string) {
		mu.Lock()
		defer mu.Unlock()
		heardFrom = map[string]bool{}
		for _, h := range heards {
			src, ok := strings.CutPrefix(h.source, "gossip heartbeat from ")
			if !ok {
				bad = append(bad, fmt.Sprintf("heard %s with source %q, want \"gossip heartbeat from <address>\"", h.node, h.source))
				continue
			}
			a, err := netip.ParseAddr(src)
			if err != nil || !a.Is6() || a.Is4In6() {
				bad = append(bad, fmt.Sprintf("heard %s from %q: not an IPv6 address", h.node, src))
				continue
			}
			if !slices.Contains(own[h.node], a.WithZone("")) {
				bad = append(bad, fmt.Sprintf("heard %s from %s, which is not one of its host's addresses %v", h.node, a, own[h.node]))
				continue
			}
			heardFrom[h.node] = true
		}
		return heardFrom, bad
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		heardFrom, bad := check()
		for _, b := range bad {
			t.Error(b)
		}
		if len(bad) > 0 {
			return
		}
		if len(heardFrom) == len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeats recorded only of %v within 30s", heardFrom)
		}
		time.Sleep(20 * time.Millisecond) // polling toward a deadline
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range heards {
		t.Logf("%s: %s", h.node, h.source)
	}
}

// TestNamespaceBroadcastIPv6Rejected: IPv6 has no broadcast, so
// broadcast_only with an IPv6 address (a group, or the all-ones host of
// the lab's /64 that an IPv4 habit would suggest) is a configuration error,
// both from FromParams and from Run, before any socket is opened.
func TestNamespaceBroadcastIPv6Rejected(t *testing.T) {
	testenv.Short(t)
	lab := netns.New(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, addr := range []string{"ff02::1", "fd0d:213::ffff:ffff:ffff:ffff"} {
		p := lab.Host(0).StartHelper(t, ctx, "check6", addr)
		for _, what := range []string{"params: ", "run: "} {
			l := p.Expect(t, 20*time.Second, func(l string) bool { return strings.HasPrefix(l, what) })
			if !strings.Contains(l, "IPv6 has no broadcast") || !strings.Contains(l, "use a multicast group") {
				t.Errorf("broadcast_only %s: %s; want the error saying IPv6 has no broadcast and what to use", addr, l)
			}
		}
	}
}

// TestBroadcastIPv6Config is the same check without a lab: the error comes
// from validation alone.
func TestBroadcastIPv6Config(t *testing.T) {
	for _, addr := range []string{"ff02::1", "ff05::1:32", "fd00::ffff", "::1"} {
		_, err := ConfigFromParams(strategy.NewParams(map[string]any{"broadcast_only": true, "multicast_addr": addr, "multicast_if": "eth0"}))
		if err == nil || !strings.Contains(err.Error(), "IPv6 has no broadcast") || !strings.Contains(err.Error(), addr) {
			t.Errorf("broadcast_only %s: got %v, want an error naming the address and saying IPv6 has no broadcast", addr, err)
		}
	}
}
