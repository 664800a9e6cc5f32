package gossip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

// recorder is a Connector that records Connect calls and reports success.
type recorder struct {
	self libcluster.Node
	mu   sync.Mutex
	set  map[libcluster.Node]time.Time
	ch   chan struct{}
}

func newRecorder(self libcluster.Node) *recorder {
	return &recorder{self: self, set: map[libcluster.Node]time.Time{}, ch: make(chan struct{}, 1)}
}

func (r *recorder) Self() libcluster.Node { return r.self }

func (r *recorder) Connect(_ context.Context, n libcluster.Node) error {
	r.mu.Lock()
	if _, ok := r.set[n]; !ok {
		r.set[n] = time.Now()
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) Disconnect(_ context.Context, n libcluster.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[n]; !ok {
		return libcluster.ErrNotConnected
	}
	delete(r.set, n)
	return nil
}

func (r *recorder) Nodes() []libcluster.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []libcluster.Node
	for n := range r.set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// has reports whether every node in want was connected, and when the last
// of them was.
func (r *recorder) has(want []libcluster.Node) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, n := range want {
		at, ok := r.set[n]
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}

// freeUDPPort returns a UDP port that was free a moment ago, so parallel
// tests do not share a gossip port.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type member struct {
	s    *Strategy
	rec  *recorder
	stop func()
}

// startMember runs a strategy in a topology with a recording connector.
func startMember(t testing.TB, s *Strategy) *member {
	t.Helper()
	if s.Logger == nil {
		s.Logger = quietLogger()
	}
	rec := newRecorder(s.Self)
	topo := &libcluster.Topology{Name: "gossip-test", Strategy: s, Connector: rec, Logger: s.Logger}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = topo.Run(ctx) }()
	m := &member{s: s, rec: rec, stop: func() { cancel(); <-done }}
	t.Cleanup(m.stop)
	return m
}

// waitMesh waits until every member has connected every other one and
// returns when the last connect happened.
func waitMesh(t testing.TB, ms []*member, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var last time.Time
		all := true
		for _, m := range ms {
			var want []libcluster.Node
			for _, o := range ms {
				if o != m {
					want = append(want, o.s.Self)
				}
			}
			at, ok := m.rec.has(want)
			if !ok {
				all = false
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if all {
			return last
		}
		if time.Now().After(deadline) {
			for _, m := range ms {
				t.Logf("%s connected %v, stats %+v", m.s.Self, m.rec.Nodes(), m.s.Stats())
			}
			t.Fatalf("no full mesh within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling toward a deadline
	}
}

func loopbackMulticast(i, port int) *Strategy {
	return &Strategy{
		Self:        libcluster.Node(fmt.Sprintf("n%d@127.0.0.1", i)),
		Port:        port,
		MulticastIf: "127.0.0.1", // never the default route
		Interval:    time.Second,
	}
}

func loopbackBroadcast(i, port int) *Strategy {
	return &Strategy{
		Self:          libcluster.Node(fmt.Sprintf("n%d@127.0.0.1", i)),
		Port:          port,
		BroadcastOnly: true,
		MulticastAddr: netip.MustParseAddr("127.255.255.255"),
		Interval:      time.Second,
	}
}

func TestLoopbackMulticast(t *testing.T) {
	port := freeUDPPort(t)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, loopbackMulticast(i, port)))
	}
	waitMesh(t, ms, 20*time.Second)
	for _, m := range ms {
		if st := m.s.Stats(); st.Own == 0 || st.Accepted < 2 {
			t.Errorf("%s: stats %+v: want own heartbeats looped back and >= 2 accepted", m.s.Self, st)
		}
	}
}

func TestLoopbackBroadcast(t *testing.T) {
	port := freeUDPPort(t)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, loopbackBroadcast(i, port)))
	}
	waitMesh(t, ms, 20*time.Second)
}

func TestLoopbackSecrets(t *testing.T) {
	for _, sec := range []Security{SecurityCBC, SecurityAEAD} {
		t.Run(string(sec), func(t *testing.T) {
			port := freeUDPPort(t)
			var ms []*member
			for i := range 3 {
				s := loopbackMulticast(i, port)
				s.Secret, s.Security, s.Cluster = []byte("pw"), sec, "blue"
				ms = append(ms, startMember(t, s))
			}
			// An outsider with another secret is never connected, and its
			// packets are counted as dropped.
			out := loopbackMulticast(9, port)
			out.Secret, out.Security, out.Cluster = []byte("other"), sec, "blue"
			outsider := startMember(t, out)
			waitMesh(t, ms, 20*time.Second)
			deadline := time.Now().Add(20 * time.Second)
			for ms[0].s.Stats().DroppedTotal() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("outsider packets not counted: %+v", ms[0].s.Stats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			for _, m := range ms {
				if slices.Contains(m.rec.Nodes(), out.Self) {
					t.Errorf("%s connected the outsider", m.s.Self)
				}
			}
			if n := outsider.rec.Nodes(); len(n) != 0 {
				t.Errorf("outsider connected %v", n)
			}
		})
	}
}
