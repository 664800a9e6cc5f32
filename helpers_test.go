package libcluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

// memConnector is an in-memory Connector for unit tests of the reconciler.
type memConnector struct {
	self libcluster.Node

	mu        sync.Mutex
	up        map[libcluster.Node]bool
	fails     map[libcluster.Node]int // fail this many more connects
	down      map[libcluster.Node]bool
	calls     map[libcluster.Node]int
	discs     map[libcluster.Node]int
	inflight  int
	peak      int
	delay     time.Duration
	watchers  []func(libcluster.NodeEvent)
	connected chan libcluster.Node
}

func newMem(self string) *memConnector {
	return &memConnector{
		self: libcluster.MustParseNode(self), up: map[libcluster.Node]bool{},
		fails: map[libcluster.Node]int{}, down: map[libcluster.Node]bool{},
		calls: map[libcluster.Node]int{}, discs: map[libcluster.Node]int{},
		connected: make(chan libcluster.Node, 1000),
	}
}

func (m *memConnector) Self() libcluster.Node { return m.self }

func (m *memConnector) Connect(ctx context.Context, n libcluster.Node) error {
	m.mu.Lock()
	m.calls[n]++
	m.inflight++
	m.peak = max(m.peak, m.inflight)
	delay := m.delay
	m.mu.Unlock()
	defer func() { m.mu.Lock(); m.inflight--; m.mu.Unlock() }()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n == m.self {
		return errors.New("connected to self")
	}
	if m.down[n] {
		return fmt.Errorf("%s unreachable", n)
	}
	if m.fails[n] > 0 {
		m.fails[n]--
		return fmt.Errorf("%s refused", n)
	}
	m.up[n] = true
	m.connected <- n
	return nil
}

func (m *memConnector) Disconnect(_ context.Context, n libcluster.Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.discs[n]++
	if !m.up[n] {
		return libcluster.ErrNotConnected
	}
	delete(m.up, n)
	return nil
}

func (m *memConnector) Nodes() []libcluster.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []libcluster.Node
	for n := range m.up {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (m *memConnector) WatchNodes(fn func(libcluster.NodeEvent)) func() {
	m.mu.Lock()
	m.watchers = append(m.watchers, fn)
	m.mu.Unlock()
	return func() {}
}

// drop simulates a peer crash: the connection goes and a down event fires.
func (m *memConnector) drop(n libcluster.Node, stayDown bool) {
	m.mu.Lock()
	delete(m.up, n)
	m.down[n] = stayDown
	ws := slices.Clone(m.watchers)
	m.mu.Unlock()
	for _, w := range ws {
		w(libcluster.NodeEvent{Node: n, Reason: "connection_closed"})
	}
}

func (m *memConnector) setDown(n libcluster.Node, down bool) {
	m.mu.Lock()
	m.down[n] = down
	m.mu.Unlock()
}

func (m *memConnector) count(n libcluster.Node) (connects, disconnects int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[n], m.discs[n]
}

func (m *memConnector) isUp(n libcluster.Node) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up[n]
}

// chanStrategy reports whatever the test sends it.
type chanStrategy struct{ ch chan libcluster.Update }

func newChanStrategy() *chanStrategy { return &chanStrategy{ch: make(chan libcluster.Update)} }

func (s *chanStrategy) Run(ctx context.Context, r libcluster.Reporter) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-s.ch:
			r.Report(u)
		}
	}
}

func (s *chanStrategy) send(t *testing.T, u libcluster.Update) {
	t.Helper()
	select {
	case s.ch <- u:
	case <-time.After(10 * time.Second):
		t.Fatal("strategy did not take the update")
	}
}

// eventLog records events for assertions.
type eventLog struct {
	mu  sync.Mutex
	evs []libcluster.Event
}

func (l *eventLog) observe(ev libcluster.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) count(kind libcluster.EventKind, n libcluster.Node) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, e := range l.evs {
		if e.Kind == kind && (n == "" || e.Node == n) {
			c++
		}
	}
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// never checks cond stays false for d (used only to show an absence).
func never(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			t.Fatalf("unexpectedly: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runTopology runs t until the test ends and checks that Run returns and
// every goroutine it started is gone.
func runTopology(t *testing.T, topo *libcluster.Topology) {
	t.Helper()
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- topo.Run(ctx) }()
	eventually(t, "topology running", func() bool { return topo.Status().Running })
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
		eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
	})
}

func nodes(ss ...string) []libcluster.Node {
	out := make([]libcluster.Node, len(ss))
	for i, s := range ss {
		out[i] = libcluster.MustParseNode(s)
	}
	return out
}

var fastBackoff = libcluster.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
