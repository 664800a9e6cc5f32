package memberlist_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/memberlist"
)

// silentPeer is a TCP listener on 127.0.0.1 that accepts connections and
// never answers, as a hung or overloaded seed would. It counts the
// connections and reports each one's end (the dialler closed it).
type silentPeer struct {
	ln       net.Listener
	accepted atomic.Int32
	closed   chan time.Time
}

func newSilentPeer(t *testing.T, closeAtOnce bool) *silentPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentPeer{ln: ln, closed: make(chan time.Time, 100)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			if closeAtOnce {
				c.Close()
				continue
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c) // until the dialler closes
				p.closed <- time.Now()
			})
		}
	})
	return p
}

func (p *silentPeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// joiner starts a node on 127.0.0.1 whose unseen peers map to port, with a
// TCP timeout far longer than any test's context.
func joiner(t *testing.T, port int) *memberlist.Node {
	t.Helper()
	cfg := memberlist.DefaultConfig("joiner@127.0.0.1")
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.PeerPort = port
	cfg.Profile = memberlist.ProfileLocal
	cfg.Logger = testLogger(t)
	cfg.Tuning = memberlist.Tuning{TCPTimeout: time.Minute}
	n, err := memberlist.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Kill)
	return n
}

// Connect returns when its context ends, and its join ends with it: the
// TCP exchange with a silent seed is closed, not left running for the
// minute-long TCP timeout.
func TestConnectHonoursContext(t *testing.T) {
	seed := newSilentPeer(t, false)
	n := joiner(t, seed.port())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := n.Connect(ctx, "a@127.0.0.1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Connect took %v with a 300ms context", took)
	}
	select {
	case at := <-seed.closed:
		if lag := at.Sub(start); lag > 10*time.Second {
			t.Fatalf("join connection closed %v after the start; want about the 300ms context", lag)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the join's connection to the silent seed is still open 20s after its context ended")
	}
}

// Connects that need one address at the same time share one exchange: a
// herd of connects through a hung seed opens one connection, not one each.
func TestConnectSharesOneJoinPerAddress(t *testing.T) {
	seed := newSilentPeer(t, false)
	n := joiner(t, seed.port())
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := n.Connect(ctx, libcluster.Node(fmt.Sprintf("p%d@127.0.0.1", i))); err == nil {
				t.Errorf("Connect p%d through a silent seed succeeded", i)
			}
		})
	}
	wg.Wait()
	if got := seed.accepted.Load(); got != 1 {
		t.Fatalf("20 concurrent connects through one seed opened %d connections; want 1", got)
	}
}

// An address whose join failed is not dialled again during its back-off;
// the error says so.
func TestConnectBacksOffAFailedAddress(t *testing.T) {
	restore := memberlist.SetCoolDown(time.Minute, time.Minute)
	defer restore()
	seed := newSilentPeer(t, true) // accepts and hangs up: every join fails
	n := joiner(t, seed.port())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Connect(ctx, "a@127.0.0.1"); err == nil {
		t.Fatal("Connect through a seed that hangs up succeeded")
	}
	first := seed.accepted.Load()
	err := n.Connect(ctx, "b@127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "not retried for another") {
		t.Fatalf("second Connect = %v; want the back-off error", err)
	}
	if got := seed.accepted.Load(); got != first || first < 1 {
		t.Fatalf("seed accepted %d then %d connections; want the back-off to dial nothing", first, got)
	}
}

// A member that was asked to connect a peer it could not find keeps
// looking: once the peer joins elsewhere, the member learns it from a
// state exchange of its own within seconds, with gossip, probes and
// memberlist's periodic exchange all switched off.
func TestMissingPeerFoundWithoutGossip(t *testing.T) {
	quiet := func(c *ml.Config) {
		c.GossipInterval, c.ProbeInterval, c.PushPullInterval = time.Hour, time.Hour, time.Hour
	}
	nodes := startSeeded(t, 3, memberlist.ProfileLocal, quiet, testLogger(t))
	seed, a, late := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, seed.Self()); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, late.Self()); err == nil {
		t.Fatalf("Connect %s before it joined anything succeeded", late.Self())
	}
	if err := late.Connect(ctx, seed.Self()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("%s never learned %s; lists %v", a.Self(), late.Self(), a.Nodes()), func() bool {
		return slices.Contains(a.Nodes(), late.Self())
	})
}

// A node runs one join at a time for its Connects, however many the
// topology runs in parallel: a herd of connects to twelve hung peers, each
// on an address of its own, opens one connection, not twelve.
func TestConnectBoundsJoinsInFlight(t *testing.T) {
	const peers = 12
	first, err := net.Listen("tcp", "127.0.2.1:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.2.1 (loopback beyond 127.0.0.1): %v", err)
	}
	port := first.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{first}
	for i := 2; i <= peers; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.2.%d:%d", i, port))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			t.Skipf("port %d is taken on 127.0.2.%d: %v", port, i, err)
		}
		lns = append(lns, ln)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() {
		for _, l := range lns {
			l.Close()
		}
		wg.Wait()
	})
	for _, ln := range lns {
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				wg.Go(func() {
					defer c.Close()
					_, _ = io.Copy(io.Discard, c) // hung: never answers
				})
			}
		})
	}
	n := joiner(t, port)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var cw sync.WaitGroup
	for i := 1; i <= peers; i++ {
		cw.Go(func() {
			if err := n.Connect(ctx, libcluster.Node(fmt.Sprintf("p%d@127.0.2.%d", i, i))); err == nil {
				t.Errorf("Connect p%d to a hung peer succeeded", i)
			}
		})
	}
	cw.Wait()
	if got := accepted.Load(); got != 1 {
		t.Fatalf("%d concurrent connects to hung peers opened %d connections; want 1", peers, got)
	}
	if w := n.Waiting(); w != 0 {
		t.Errorf("after every Connect returned, %d peers still have waiters registered; want 0", w)
	}
}

// A Connect to a member listed as failed waits for gossip to bring it back
// before joining it directly (herd spreading): with a ctx that has ended it
// says so instead of dialling, and once the member restarts and rejoins
// through another member, the Connect succeeds.
func TestConnectToFailedMemberWaitsForGossip(t *testing.T) {
	f := newFleet(t, 3, 37)
	names := f.names()
	nodes := []*memberlist.Node{f.start(0), f.start(1), f.start(2)}
	rec := watch(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, i := range []int{1, 2} {
		if err := nodes[i].Connect(ctx, names[0]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, wait, "cluster of three", fullMesh(nodes, names))

	nodes[2].Kill()
	eventually(t, wait, "n0 reports n2 failed; events "+rec.String(), func() bool {
		return rec.has(0, names[2], false, memberlist.ReasonFailed)
	})
	ended, stop := context.WithCancel(context.Background())
	stop()
	err := nodes[0].Connect(ended, names[2])
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "listed as gone") {
		t.Errorf("Connect with an ended ctx to a failed member = %v; want the wait for gossip, wrapping context.Canceled", err)
	}

	nodes[2] = f.start(2)
	if err := nodes[2].Connect(ctx, names[1]); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Connect(ctx, names[2]); err != nil {
		t.Errorf("Connect to the restarted member: %v", err)
	}
	eventually(t, wait, "cluster of three after the restart", fullMesh(nodes, names))
}
