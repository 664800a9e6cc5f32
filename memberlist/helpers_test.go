package memberlist_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/memberlist"
)

// syncBuffer collects log output; it is printed when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger returns a logger whose output is shown only if t fails. It is
// safe to use after t ends (memberlist goroutines may still log).
func testLogger(t testing.TB) *slog.Logger {
	buf := &syncBuffer{}
	t.Cleanup(func() { // registered first, so it runs after the nodes stop
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fastTimings shortens memberlist's timings for loopback tests while leaving
// room for a loaded machine running with -race.
func fastTimings(c *ml.Config) {
	c.ProbeInterval = 400 * time.Millisecond
	c.ProbeTimeout = 300 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 3 * time.Second
	c.TCPTimeout = 2 * time.Second
	c.SuspicionMult = 3
}

// fleet is a set of test nodes sharing one port on distinct loopback
// addresses, named n<i>@127.0.0.<base+i>.
type fleet struct {
	t    testing.TB
	port int
	ips  []string
	key  []byte
	log  *slog.Logger
}

func newFleet(t testing.TB, size, base int) *fleet {
	f := &fleet{t: t, log: testLogger(t)}
	for i := range size {
		f.ips = append(f.ips, fmt.Sprintf("127.0.0.%d", base+i))
	}
	f.port = clustertest.FreeSharedPort(t, f.ips...)
	return f
}

func (f *fleet) name(i int) libcluster.Node {
	return libcluster.MustParseNode(fmt.Sprintf("n%d@%s", i, f.ips[i]))
}

func (f *fleet) names() []libcluster.Node {
	var out []libcluster.Node
	for i := range f.ips {
		out = append(out, f.name(i))
	}
	return out
}

func (f *fleet) config(i int) memberlist.Config {
	cfg := memberlist.DefaultConfig(f.name(i))
	cfg.BindAddr = f.ips[i]
	cfg.BindPort = f.port
	cfg.Profile = memberlist.ProfileLocal
	cfg.SecretKey = f.key
	cfg.LeaveTimeout = 5 * time.Second
	cfg.Logger = f.log.With("self", string(f.name(i)))
	cfg.Tune = fastTimings
	return cfg
}

// start starts node i; it is killed at cleanup if still running.
func (f *fleet) start(i int) *memberlist.Node {
	f.t.Helper()
	n, err := memberlist.Start(context.Background(), f.config(i))
	if err != nil {
		f.t.Fatalf("start %s: %v", f.name(i), err)
	}
	f.t.Cleanup(n.Kill)
	return n
}

// recorder collects node events.
type recorder struct {
	mu  sync.Mutex
	evs []libcluster.NodeEvent
}

func watch(t testing.TB, n *memberlist.Node) *recorder {
	r := &recorder{}
	stop := n.WatchNodes(func(ev libcluster.NodeEvent) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
	})
	t.Cleanup(stop)
	return r
}

// has reports whether an event for node with the given direction (and,
// for downs, reason) arrived at or after index from.
func (r *recorder) has(from int, node libcluster.Node, up bool, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.evs[min(from, len(r.evs)):] {
		if ev.Node == node && ev.Up == up && (up || ev.Reason == reason) {
			return true
		}
	}
	return false
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.evs)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got, want []libcluster.Node) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

func without(ns []libcluster.Node, skip libcluster.Node) []libcluster.Node {
	return slices.DeleteFunc(slices.Clone(ns), func(n libcluster.Node) bool { return n == skip })
}
