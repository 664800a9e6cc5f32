package libcluster_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

// runTagged runs topo under a context tagged with its name until the test
// ends.
func runTagged(t *testing.T, topo *libcluster.Topology) {
	t.Helper()
	ctx, cancel := context.WithCancel(tagged(context.Background(), topo.Name))
	done := make(chan error, 1)
	go func() { done <- topo.Run(ctx) }()
	eventually(t, topo.Name+" running", func() bool { return topo.Status().Running })
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run %s: %v", topo.Name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run %s did not return after cancel", topo.Name)
		}
	})
}

func scriptTopo(name string, conn libcluster.Connector, s libcluster.Strategy, log *eventLog) *libcluster.Topology {
	return &libcluster.Topology{
		Name: name, Strategy: s, Connector: conn,
		// An hour: the state must follow from events alone, not a resync.
		Policy:    libcluster.Policy{Backoff: fastBackoff, Resync: time.Hour, ConnectTimeout: 50 * time.Millisecond},
		Observers: []libcluster.Observer{log.observe}, Logger: quiet,
	}
}

// A connection that comes up and drops before Connect returns must not be
// reported connected: the down event is the connector's last word.
func TestDownDuringConnectIsNotOverwritten(t *testing.T) {
	conn := newScriptConn("self@127.0.0.1")
	x := libcluster.MustParseNode("x@127.0.0.1")
	conn.setMode(x, modeFlap)
	s := newChanStrategy()
	log := &eventLog{}
	topo := scriptTopo("a", conn, s, log)
	topo.Policy.MinNodes = 1
	runTagged(t, topo)
	s.send(t, libcluster.Complete([]libcluster.Node{x}))
	// It flaps a few times and is retried each time...
	eventually(t, "x retried after flapping", func() bool {
		c, _, _ := conn.stats("a")
		return c >= 3
	})
	// ...and once it stops coming up at all, the last word (down) stands.
	// (While it flaps, a status read between an up and its down may
	// rightly show it connected for a moment, so the check waits for the
	// attempts that flapped to end.)
	conn.setMode(x, modeRefuse)
	// A refused attempt starts only after the loop has taken the result of
	// the one before it, so once one is reported every flap is applied.
	eventually(t, "a refused attempt after the flapping", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		for _, e := range log.evs {
			if e.Kind == libcluster.EventConnectFailed && e.Node == x && e.Err != nil && strings.Contains(e.Err.Error(), "refused") {
				return true
			}
		}
		return false
	})
	eventually(t, "status published after it", func() bool { return len(topo.Status().Connected) == 0 })
	for range 20 { // and it stays so: no stale success overwrites it
		if st := topo.Status(); len(st.Connected) != 0 || st.Ready {
			t.Fatalf("status says %v connected, ready=%v; the connector has %v", st.Connected, st.Ready, conn.Nodes())
		}
		time.Sleep(time.Millisecond)
	}
	// ...and once it holds, it is connected.
	conn.setMode(x, modeUp)
	eventually(t, "x connected once it holds", func() bool {
		st := topo.Status()
		return slices.Equal(st.Connected, []libcluster.Node{x}) && st.Ready && conn.isUp(x)
	})
}

// twoTopologies runs topologies a and b on conn until the test ends.
func twoTopologies(t *testing.T, conn libcluster.Connector) (a, b *libcluster.Topology, sa, sb *chanStrategy, la, lb *eventLog) {
	sa, sb = newChanStrategy(), newChanStrategy()
	la, lb = &eventLog{}, &eventLog{}
	a, b = scriptTopo("a", conn, sa, la), scriptTopo("b", conn, sb, lb)
	runTagged(t, a)
	runTagged(t, b)
	return a, b, sa, sb, la, lb
}

// Two topologies on one connector: a node one of them drops while the other
// still wants it stays connected.
func TestSharedConnectorKeepsNodeAnotherTopologyWants(t *testing.T) {
	conn := newScriptConn("self@127.0.0.1")
	x := libcluster.MustParseNode("x@127.0.0.1")
	y := libcluster.MustParseNode("y@127.0.0.1")
	a, b, sa, sb, _, _ := twoTopologies(t, conn)
	sb.send(t, libcluster.Complete([]libcluster.Node{x}))
	eventually(t, "b has x", func() bool { return len(b.Status().Connected) == 1 })
	conn.mu.Lock()
	conn.wanted = func(n libcluster.Node) bool { return n == x } // b wants x throughout
	conn.mu.Unlock()
	for i := range 5 {
		sa.send(t, libcluster.Complete([]libcluster.Node{x, y}))
		eventually(t, "a has x and y", func() bool { return len(a.Status().Connected) == 2 })
		sa.send(t, libcluster.Complete(nil))
		eventually(t, "a dropped both", func() bool { return len(a.Status().Desired) == 0 && !conn.isUp(y) })
		conn.mu.Lock()
		v := slices.Clone(conn.violations)
		conn.mu.Unlock()
		if len(v) > 0 {
			t.Fatalf("cycle %d: %v", i+1, v)
		}
	}
	if st := b.Status(); !slices.Equal(st.Connected, []libcluster.Node{x}) {
		t.Fatalf("b connected = %v, want [x]", st.Connected)
	}
	// Once b drops x too, it is disconnected.
	conn.mu.Lock()
	conn.wanted = nil
	conn.mu.Unlock()
	sb.send(t, libcluster.Complete(nil))
	eventually(t, "x disconnected when nobody wants it", func() bool { return !conn.isUp(x) })
}

// Node up/down events are emitted only by a topology that wants the node.
func TestNodeEventsOnlyFromTopologiesThatWantTheNode(t *testing.T) {
	conn := newScriptConn("self@127.0.0.1")
	x := libcluster.MustParseNode("x@127.0.0.1")
	a, _, sa, _, la, lb := twoTopologies(t, conn)
	sa.send(t, libcluster.Complete([]libcluster.Node{x}))
	eventually(t, "x connected", func() bool { return len(a.Status().Connected) == 1 })
	conn.drop(x)
	eventually(t, "x reconnected", func() bool { return la.count(libcluster.EventConnected, x) == 2 })
	if la.count(libcluster.EventNodeDown, x) != 1 {
		t.Fatalf("a saw %d node_down events for x, want 1", la.count(libcluster.EventNodeDown, x))
	}
	if n := lb.count(libcluster.EventNodeUp, x) + lb.count(libcluster.EventNodeDown, x); n != 0 {
		t.Fatalf("b, which never wanted x, emitted %d node up/down events for it", n)
	}
}

// Observers of one topology are never called concurrently, even while its
// strategy fails and the reconciler handles events at the same time.
func TestObserverNeverCalledConcurrently(t *testing.T) {
	conn := newScriptConn("self@127.0.0.1")
	var mu sync.Mutex
	busy, overlaps, calls := false, 0, 0
	obs := func(libcluster.Event) {
		mu.Lock()
		if busy {
			overlaps++
		}
		busy = true
		calls++
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // widen the window an overlap needs
		mu.Lock()
		busy = false
		mu.Unlock()
	}
	failing := libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
		r.Report(libcluster.Complete(nodes("x@127.0.0.1", "y@127.0.0.1")))
		return context.DeadlineExceeded
	})
	conn.setMode("x@127.0.0.1", modeFlap)
	conn.setMode("y@127.0.0.1", modeFailOne)
	topo := &libcluster.Topology{Name: "a", Strategy: failing, Connector: conn,
		Policy:    libcluster.Policy{Backoff: fastBackoff, Restart: libcluster.Backoff{Initial: time.Millisecond, Max: time.Millisecond}},
		Logger:    quiet,
		Observers: []libcluster.Observer{obs}}
	runTagged(t, topo)
	eventually(t, "many events", func() bool { mu.Lock(); defer mu.Unlock(); return calls > 300 })
	mu.Lock()
	defer mu.Unlock()
	if overlaps > 0 {
		t.Fatalf("observer was called concurrently %d times", overlaps)
	}
}

// Start fails when a topology cannot start, a stopped supervisor starts
// again, and a supervisor with nothing to run is never ready.
func TestSupervisorStartStopReady(t *testing.T) {
	conn := newScriptConn("self@127.0.0.1")
	busy := scriptTopo("busy", conn, newChanStrategy(), &eventLog{})
	runTagged(t, busy) // already running elsewhere
	other := scriptTopo("other", conn, newChanStrategy(), &eventLog{})
	sup := libcluster.NewSupervisor(other, busy)
	if err := sup.Start(context.Background()); err == nil {
		sup.Stop()
		t.Fatal("Start returned nil although topology busy is already running")
	}
	if other.Status().Running {
		t.Fatal("Start failed but left topology other running")
	}

	sup = libcluster.NewSupervisor(other)
	for i := range 2 {
		if err := sup.Start(context.Background()); err != nil {
			t.Fatalf("start #%d: %v", i+1, err)
		}
		eventually(t, "other running and ready", func() bool { return other.Status().Running && sup.Ready() })
		sup.Stop()
		if other.Status().Running || sup.Ready() {
			t.Fatalf("after stop #%d: running=%v ready=%v", i+1, other.Status().Running, sup.Ready())
		}
	}
	if libcluster.NewSupervisor().Ready() {
		t.Fatal("a supervisor with no topologies is ready")
	}
	if err := libcluster.NewSupervisor().Start(context.Background()); err == nil {
		t.Fatal("Start with no topologies returned nil")
	}
}
