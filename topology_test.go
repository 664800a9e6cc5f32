package libcluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

func newTopo(conn *memConnector, s libcluster.Strategy, pol libcluster.Policy, log *eventLog) *libcluster.Topology {
	if pol.Backoff == (libcluster.Backoff{}) {
		pol.Backoff = fastBackoff
	}
	return &libcluster.Topology{
		Name: "test", Strategy: s, Connector: conn, Policy: pol,
		Observers: []libcluster.Observer{log.observe},
	}
}

func TestConnectsDiscoveredNodesButNeverSelf(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	s := newChanStrategy()
	log := &eventLog{}
	topo := newTopo(conn, s, libcluster.Policy{}, log)
	runTopology(t, topo)

	s.send(t, libcluster.Seen(nodes("self@127.0.0.1", "a@127.0.0.1", "b@127.0.0.1")))
	eventually(t, "a and b connected", func() bool {
		return slices.Equal(topo.Status().Connected, nodes("a@127.0.0.1", "b@127.0.0.1"))
	})
	if c, _ := conn.count("self@127.0.0.1"); c != 0 {
		t.Fatalf("connected to itself %d times", c)
	}
	if got := topo.Status().Desired; slices.Contains(got, "self@127.0.0.1") {
		t.Fatalf("desired set contains self: %v", got)
	}
	if log.count(libcluster.EventConnected, "a@127.0.0.1") != 1 {
		t.Fatal("no connected event for a")
	}
}

func TestConnectsInParallelWithTimeout(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	conn.delay = 300 * time.Millisecond
	s := newChanStrategy()
	topo := newTopo(conn, s, libcluster.Policy{Parallelism: 8}, &eventLog{})
	runTopology(t, topo)
	var ns []string
	for _, h := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		ns = append(ns, h+"@127.0.0.1")
	}
	s.send(t, libcluster.Seen(nodes(ns...)))
	eventually(t, "all 10 connected", func() bool { return len(topo.Status().Connected) == 10 })
	conn.mu.Lock()
	peak := conn.peak
	conn.mu.Unlock()
	if peak < 2 || peak > 8 {
		t.Fatalf("peak concurrent connects = %d, want parallel but at most 8", peak)
	}
}

func TestConnectTimeoutIsRetried(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	conn.delay = time.Hour // every attempt hangs until the per-attempt timeout
	s := newChanStrategy()
	log := &eventLog{}
	topo := newTopo(conn, s, libcluster.Policy{ConnectTimeout: 20 * time.Millisecond}, log)
	runTopology(t, topo)
	s.send(t, libcluster.Seen(nodes("slow@127.0.0.1")))
	eventually(t, "two timed-out attempts", func() bool {
		return log.count(libcluster.EventConnectFailed, "slow@127.0.0.1") >= 2
	})
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, e := range log.evs {
		if e.Kind == libcluster.EventConnectFailed && !errors.Is(e.Err, context.DeadlineExceeded) {
			t.Fatalf("failure reason = %v, want a deadline", e.Err)
		}
	}
}

func TestFailingNodeIsRetriedUntilItComesUp(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	n := libcluster.MustParseNode("flaky@127.0.0.1")
	conn.fails[n] = 3
	s := newChanStrategy()
	log := &eventLog{}
	topo := newTopo(conn, s, libcluster.Policy{}, log)
	runTopology(t, topo)

	s.send(t, libcluster.Seen([]libcluster.Node{n})) // the only discovery update
	eventually(t, "flaky connected", func() bool { return log.count(libcluster.EventConnected, n) == 1 })
	if got := log.count(libcluster.EventConnectFailed, n); got != 3 {
		t.Fatalf("connect_failed events = %d, want 3", got)
	}
	if c, _ := conn.count(n); c != 4 {
		t.Fatalf("connect attempts = %d, want 4", c)
	}
	log.mu.Lock()
	last := log.evs[len(log.evs)-1]
	log.mu.Unlock()
	if last.Kind != libcluster.EventConnected || last.Attempt != 4 {
		t.Fatalf("last event = %v attempt %d, want connected on attempt 4", last.Kind, last.Attempt)
	}
}

func TestLostPeerIsReconnectedWithoutDiscovery(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	n := libcluster.MustParseNode("peer@127.0.0.1")
	s := newChanStrategy()
	log := &eventLog{}
	topo := newTopo(conn, s, libcluster.Policy{}, log)
	runTopology(t, topo)
	s.send(t, libcluster.Seen([]libcluster.Node{n}))
	eventually(t, "peer connected", func() bool { return conn.isUp(n) })

	conn.drop(n, true) // crashes and stays down for a while
	eventually(t, "node_down seen and retries failing", func() bool {
		return log.count(libcluster.EventNodeDown, n) == 1 && log.count(libcluster.EventConnectFailed, n) >= 2
	})
	if slices.Contains(topo.Status().Connected, n) {
		t.Fatal("status still lists the lost peer as connected")
	}
	conn.setDown(n, false) // it comes back
	eventually(t, "peer reconnected", func() bool { return conn.isUp(n) && slices.Contains(topo.Status().Connected, n) })
}

func TestResyncNoticesSilentLoss(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	n := libcluster.MustParseNode("peer@127.0.0.1")
	s := newChanStrategy()
	topo := newTopo(conn, s, libcluster.Policy{Resync: 20 * time.Millisecond}, &eventLog{})
	runTopology(t, topo)
	s.send(t, libcluster.Seen([]libcluster.Node{n}))
	eventually(t, "peer connected", func() bool { return conn.isUp(n) })
	conn.mu.Lock()
	delete(conn.up, n) // lost without an event
	conn.mu.Unlock()
	eventually(t, "peer reconnected by resync", func() bool { c, _ := conn.count(n); return c == 2 && conn.isUp(n) })
}

func pruneScenario(t *testing.T, prune libcluster.Prune) (*memConnector, *chanStrategy, *libcluster.Topology, libcluster.Node) {
	conn := newMem("self@127.0.0.1")
	s := newChanStrategy()
	topo := newTopo(conn, s, libcluster.Policy{Prune: prune}, &eventLog{})
	runTopology(t, topo)
	s.send(t, libcluster.Complete(nodes("a@127.0.0.1", "b@127.0.0.1")))
	eventually(t, "a and b connected", func() bool { return len(conn.Nodes()) == 2 })
	return conn, s, topo, libcluster.MustParseNode("b@127.0.0.1")
}

func TestPruneImmediate(t *testing.T) {
	conn, s, topo, b := pruneScenario(t, libcluster.PruneImmediate)
	s.send(t, libcluster.Complete(nodes("a@127.0.0.1")))
	eventually(t, "b disconnected", func() bool { return !conn.isUp(b) })
	eventually(t, "b left the desired set", func() bool { return slices.Equal(topo.Status().Desired, nodes("a@127.0.0.1")) })
	if !conn.isUp("a@127.0.0.1") {
		t.Fatal("a was disconnected too")
	}
}

// The status's connected list follows a desired set that changes: every
// snapshot lists connected nodes of its own desired set, in order.
func TestStatusFollowsDesiredSet(t *testing.T) {
	_, s, topo, _ := pruneScenario(t, libcluster.PruneImmediate)
	eventually(t, "a and b in the status", func() bool {
		return slices.Equal(topo.Status().Connected, nodes("a@127.0.0.1", "b@127.0.0.1"))
	})
	s.send(t, libcluster.Complete(nodes("a@127.0.0.1", "c@127.0.0.1")))
	eventually(t, "a and c in the status", func() bool {
		st := topo.Status()
		for _, n := range st.Connected {
			if !slices.Contains(st.Desired, n) {
				t.Fatalf("status lists %s connected, but it is not desired: %+v", n, st)
			}
		}
		if !slices.IsSorted(st.Connected) {
			t.Fatalf("connected list not sorted: %v", st.Connected)
		}
		return slices.Equal(st.Desired, nodes("a@127.0.0.1", "c@127.0.0.1")) &&
			slices.Equal(st.Connected, nodes("a@127.0.0.1", "c@127.0.0.1")) && st.Ready
	})
}

func TestPruneNever(t *testing.T) {
	conn, s, topo, b := pruneScenario(t, libcluster.PruneNever)
	for range 5 {
		s.send(t, libcluster.Complete(nodes("a@127.0.0.1")))
	}
	s.send(t, libcluster.Complete(nil)) // even an empty set
	never(t, "b disconnected under never", 100*time.Millisecond, func() bool { return !conn.isUp(b) })
	if _, d := conn.count(b); d != 0 {
		t.Fatalf("%d disconnects of b under prune never", d)
	}
	if !slices.Contains(topo.Status().Desired, b) {
		t.Fatal("b left the desired set under prune never")
	}
}

func TestPruneAfterNMisses(t *testing.T) {
	conn, s, _, b := pruneScenario(t, libcluster.PruneAfter(3))
	missing := libcluster.Complete(nodes("a@127.0.0.1"))
	s.send(t, missing)
	s.send(t, missing)
	// A set that has b again resets the count.
	s.send(t, libcluster.Complete(nodes("a@127.0.0.1", "b@127.0.0.1")))
	s.send(t, missing)
	s.send(t, missing)
	never(t, "b disconnected before its third consecutive miss", 100*time.Millisecond, func() bool { return !conn.isUp(b) })
	s.send(t, missing)
	eventually(t, "b disconnected after 3 misses", func() bool { return !conn.isUp(b) })
}

func TestDiscoveryErrorKeepsLastGoodSet(t *testing.T) {
	conn, s, topo, b := pruneScenario(t, libcluster.PruneImmediate)
	s.send(t, libcluster.Failed(errors.New("SERVFAIL")))
	s.send(t, libcluster.Failed(errors.New("SERVFAIL")))
	eventually(t, "error recorded", func() bool { return topo.Status().LastError != nil })
	never(t, "b disconnected on a discovery error", 50*time.Millisecond, func() bool { return !conn.isUp(b) })
	s.send(t, libcluster.Complete(nodes("a@127.0.0.1", "b@127.0.0.1")))
	eventually(t, "error cleared", func() bool { return topo.Status().LastError == nil })
}

func TestReadinessFollowsMinNodes(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	s := newChanStrategy()
	topo := newTopo(conn, s, libcluster.Policy{MinNodes: 2}, &eventLog{})
	runTopology(t, topo)
	if topo.Status().Ready {
		t.Fatal("ready with no peers, min_nodes 2")
	}
	s.send(t, libcluster.Seen(nodes("a@127.0.0.1")))
	eventually(t, "a connected", func() bool { return len(topo.Status().Connected) == 1 })
	if topo.Status().Ready {
		t.Fatal("ready with one peer, min_nodes 2")
	}
	s.send(t, libcluster.Seen(nodes("b@127.0.0.1")))
	eventually(t, "ready with two peers", func() bool { return topo.Status().Ready })
	conn.drop("b@127.0.0.1", true)
	eventually(t, "not ready after losing b", func() bool { return !topo.Status().Ready })
}

func TestRunRejectsBadTopology(t *testing.T) {
	for _, topo := range []*libcluster.Topology{
		{Strategy: newChanStrategy(), Connector: newMem("a@b")},
		{Name: "x", Connector: newMem("a@b")},
		{Name: "x", Strategy: newChanStrategy()},
	} {
		if err := topo.Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", topo)
		}
	}
}

func TestConnectorPanicBecomesFailure(t *testing.T) {
	calls := 0
	conn := &libcluster.ConnectorFuncs{
		SelfNode: "self@127.0.0.1",
		ConnectFunc: func(context.Context, libcluster.Node) error {
			calls++
			if calls == 1 {
				panic("boom")
			}
			return nil
		},
		ListFunc: func() []libcluster.Node { return nil },
	}
	s := newChanStrategy()
	log := &eventLog{}
	topo := &libcluster.Topology{Name: "p", Strategy: s, Connector: conn,
		Policy: libcluster.Policy{Backoff: fastBackoff}, Observers: []libcluster.Observer{log.observe}}
	runTopology(t, topo)
	s.send(t, libcluster.Seen(nodes("a@127.0.0.1")))
	eventually(t, "connected after the panic", func() bool { return log.count(libcluster.EventConnected, "") == 1 })
	if log.count(libcluster.EventConnectFailed, "") != 1 {
		t.Fatal("the panic was not reported as a connect failure")
	}
}

func TestExpiredSeenNodeIsForgottenButConnectedOneKept(t *testing.T) {
	conn := newMem("self@127.0.0.1")
	gone := libcluster.MustParseNode("gone@127.0.0.1")
	alive := libcluster.MustParseNode("alive@127.0.0.1")
	conn.setDown(gone, true)
	s := newChanStrategy()
	topo := newTopo(conn, s, libcluster.Policy{Resync: 10 * time.Millisecond}, &eventLog{})
	runTopology(t, topo)
	s.send(t, libcluster.SeenExpiring([]libcluster.Node{gone, alive}, 100*time.Millisecond))
	eventually(t, "alive connected", func() bool { return conn.isUp(alive) })
	eventually(t, "gone forgotten", func() bool { return slices.Equal(topo.Status().Desired, []libcluster.Node{alive}) })
	never(t, "alive forgotten while connected", 200*time.Millisecond, func() bool { return !slices.Contains(topo.Status().Desired, alive) })
	if _, d := conn.count(alive); d != 0 {
		t.Fatal("expiry disconnected a connected node")
	}
}

func TestZeroUpdateIgnored(t *testing.T) {
	conn, s, topo, b := pruneScenario(t, libcluster.PruneImmediate)
	s.send(t, libcluster.Failed(errors.New("SERVFAIL")))
	// The loop takes an update only after applying the previous one, so
	// after the second zero update the first has been applied.
	s.send(t, libcluster.Update{})
	s.send(t, libcluster.Update{})
	if topo.Status().LastError == nil {
		t.Fatal("a zero update cleared the last discovery error")
	}
	if !conn.isUp(b) {
		t.Fatal("a zero update disconnected b")
	}
}

// Each topology connects its members in an order of its own: a fleet of
// nodes with the same list does not aim every node's first connects at
// the same peer (the first in sorted order).
func TestConnectOrderDiffersBetweenTopologies(t *testing.T) {
	var ns []string
	for i := range 30 {
		ns = append(ns, fmt.Sprintf("n%02d@127.0.0.1", i))
	}
	firsts := map[libcluster.Node]bool{}
	for range 8 {
		conn := newMem("self@127.0.0.1")
		conn.delay = time.Minute // the first connect stays in flight
		s := newChanStrategy()
		topo := newTopo(conn, s, libcluster.Policy{Parallelism: 1, ConnectTimeout: 2 * time.Minute}, &eventLog{})
		t.Run("", func(t *testing.T) {
			runTopology(t, topo)
			s.send(t, libcluster.Seen(nodes(ns...)))
			var first libcluster.Node
			eventually(t, "a first connect", func() bool {
				conn.mu.Lock()
				defer conn.mu.Unlock()
				for n := range conn.calls {
					first = n
				}
				return len(conn.calls) == 1
			})
			firsts[first] = true
		})
	}
	if len(firsts) < 2 {
		t.Fatalf("8 topologies with the same 30 members all connected %v first", firsts)
	}
}
