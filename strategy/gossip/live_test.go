package gossip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/strategy"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type member struct {
	s    *Strategy
	rec  *clustertest.Connector
	stop func()
}

// spec is a member to start: its node name and config.
type spec struct {
	Self libcluster.Node
	Config
}

// build makes the member's strategy.
func (sp *spec) build(t testing.TB) *Strategy {
	t.Helper()
	s, err := New(sp.Config, strategy.Options{Self: sp.Self, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startMember runs a strategy in a topology with a recording connector.
func startMember(t testing.TB, sp *spec) *member {
	t.Helper()
	s := sp.build(t)
	rec := clustertest.NewConnector(s.c.self)
	topo := &libcluster.Topology{Name: "gossip-test", Strategy: s, Connector: rec, Logger: quietLogger()}
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
					want = append(want, o.s.c.self)
				}
			}
			at, ok := m.rec.AllConnected(want)
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
				t.Logf("%s connected %v, stats %+v", m.s.c.self, m.rec.Nodes(), m.s.Stats())
			}
			t.Fatalf("no full mesh within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling toward a deadline
	}
}

func loopbackMulticast(i, port int) *spec {
	return &spec{Self: libcluster.Node(fmt.Sprintf("n%d@127.0.0.1", i)), Config: Config{
		Port:        port,
		MulticastIf: "127.0.0.1", // never the default route
		Interval:    time.Second,
	}}
}

func loopbackBroadcast(i, port int) *spec {
	return &spec{Self: libcluster.Node(fmt.Sprintf("n%d@127.0.0.1", i)), Config: Config{
		Port:          port,
		BroadcastOnly: true,
		MulticastAddr: netip.MustParseAddr("127.255.255.255"),
		Interval:      time.Second,
	}}
}

func TestLoopbackMulticast(t *testing.T) {
	port := clustertest.FreeUDPPort(t)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, loopbackMulticast(i, port)))
	}
	waitMesh(t, ms, 20*time.Second)
	for _, m := range ms {
		if st := m.s.Stats(); st.Own == 0 || st.Accepted < 2 {
			t.Errorf("%s: stats %+v: want own heartbeats looped back and >= 2 accepted", m.s.c.self, st)
		}
	}
}

func TestLoopbackBroadcast(t *testing.T) {
	port := clustertest.FreeUDPPort(t)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, loopbackBroadcast(i, port)))
	}
	waitMesh(t, ms, 20*time.Second)
}

func TestLoopbackSecrets(t *testing.T) {
	for _, sec := range []Security{SecurityCBC, SecurityAEAD} {
		t.Run(string(sec), func(t *testing.T) {
			port := clustertest.FreeUDPPort(t)
			var ms []*member
			for i := range 3 {
				s := loopbackMulticast(i, port)
				s.Secret, s.Security, s.Cluster = "pw", sec, "blue"
				ms = append(ms, startMember(t, s))
			}
			// An outsider with another secret is never connected, and its
			// packets are counted as dropped.
			out := loopbackMulticast(9, port)
			out.Secret, out.Security, out.Cluster = "other", sec, "blue"
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
					t.Errorf("%s connected the outsider", m.s.c.self)
				}
			}
			if n := outsider.rec.Nodes(); len(n) != 0 {
				t.Errorf("outsider connected %v", n)
			}
		})
	}
}
