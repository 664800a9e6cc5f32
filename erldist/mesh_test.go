package erldist

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

func TestFullMesh(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	const size = 10
	nodes := make([]*Node, size)
	for i := range nodes {
		nodes[i] = startNode(t, Config{Name: libcluster.Node(fmt.Sprintf("m%d@127.0.0.1", i)), EPMDPort: ep})
	}
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, size*size)
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Connect(ctx, b.Self()); err != nil {
					errs <- fmt.Errorf("%s -> %s: %w", a.Self(), b.Self(), err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	clustertest.EventuallyWithin(t, 20*time.Second, "every node connected to 9 others", func() bool {
		for _, n := range nodes {
			if len(n.Nodes()) != size-1 {
				return false
			}
		}
		return true
	})
	// Each pair shares one TCP connection: both sides name the same ends.
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			la, ra := a.ConnAddrs(string(b.Self()))
			lb, rb := b.ConnAddrs(string(a.Self()))
			if la != rb || ra != lb {
				t.Errorf("%s and %s use different connections: %s-%s vs %s-%s", a.Self(), b.Self(), la, ra, lb, rb)
			}
		}
	}
}

func TestSimultaneousConnect(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "sa@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "sb@127.0.0.1", EPMDPort: ep})
	ctx := testCtx(t)
	greater := 0
	for i := range 20 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errA = a.Connect(ctx, b.Self()) }()
		go func() { defer wg.Done(); <-start; errB = b.Connect(ctx, a.Self()) }()
		close(start)
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("round %d: connect errors: a->b %v, b->a %v", i, errA, errB)
		}
		var la, ra, lb, rb string
		clustertest.EventuallyWithin(t, 10*time.Second, "one shared connection", func() bool {
			la, ra = a.ConnAddrs(string(b.Self()))
			lb, rb = b.ConnAddrs(string(a.Self()))
			return la != "" && la == rb && ra == lb
		})
		// Both sides agree on who initiated the survivor. When both attempts
		// really overlapped it is the greater name, sb; when one attempt
		// finished before the other began, the first one stays.
		ia, ib := a.ConnInitiator(string(b.Self())), b.ConnInitiator(string(a.Self()))
		if ia != ib {
			t.Fatalf("round %d: connection initiated by %q (seen from a) / %q (from b)", i, ia, ib)
		}
		if ia == "sb@127.0.0.1" {
			greater++
		}
		// Still exactly one per side.
		if len(a.Nodes()) != 1 || len(b.Nodes()) != 1 {
			t.Fatalf("round %d: nodes %v / %v", i, a.Nodes(), b.Nodes())
		}
		if err := a.Disconnect(ctx, b.Self()); err != nil {
			t.Fatalf("round %d: disconnect: %v", i, err)
		}
		clustertest.EventuallyWithin(t, 10*time.Second, "both sides disconnected", func() bool {
			return len(a.Nodes()) == 0 && len(b.Nodes()) == 0
		})
	}
	t.Logf("the greater name's connection survived in %d of 20 rounds", greater)
}

func FuzzHandshake(f *testing.F) {
	cfg := hsConfig{self: "fz@127.0.0.1", creation: 7, flags: ourFlags, cookie: []byte("c")}
	frame := func(p []byte) []byte { return append([]byte{byte(len(p) >> 8), byte(len(p))}, p...) }
	name := []byte{'N', 0, 0, 0, 4, 0x07, 0x07, 0x0f, 0xbc, 0, 0, 0, 9, 0, 12}
	name = append(name, "fa@127.0.0.1"...)
	reply := append([]byte{'r', 1, 2, 3, 4}, make([]byte, 16)...)
	f.Add(append(frame(name), frame(reply)...))
	old := append([]byte{'n', 0, 5, 0x07, 0x07, 0x0f, 0xbc}, "fa@127.0.0.1"...)
	f.Add(append(append(frame(old), frame([]byte{'c', 0, 0, 0, 4, 0, 0, 0, 9})...), frame(reply)...))
	f.Add(frame([]byte("strue")))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		statuses := []string{"ok", "alive", "nok", "ok_simultaneous"}
		st := statuses[len(data)%len(statuses)]
		h := &hsConn{rw: io.Discard, br: bufio.NewReader(bytes.NewReader(data))}
		res, err := accept(h, cfg, func(libcluster.Node) string { return st })
		if err == nil && res.flags&mandatory != mandatory {
			t.Fatalf("accepted a peer without the mandatory flags: %#x", res.flags)
		}
		// The same bytes as the acceptor's answers to our initiator.
		h = &hsConn{rw: io.Discard, br: bufio.NewReader(bytes.NewReader(data))}
		_, _ = initiate(h, cfg, "fb@127.0.0.1", func() bool { return len(data)%2 == 0 })
	})
}

func FuzzPacket(f *testing.F) {
	f.Add([]byte{112, 131, 104, 4, 97, 6, 88, 119, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 119, 0, 119, 2, 'n', 'k', 131, 106})
	f.Add([]byte{112, 131, 104, 1, 97, 99})
	// Process signals, so that mutations reach the process layer: a spawn
	// request (erpc:call), a monitor, a link, an exit with a payload.
	ref := etf.Ref{Node: "fp@127.0.0.1", Creation: 2, ID: []uint32{1, 0, 0}}
	from := etf.Pid{Node: "fp@127.0.0.1", ID: 40, Creation: 2}
	to := etf.Pid{Node: "fz@127.0.0.1", ID: 101, Creation: 5}
	for _, s := range []struct {
		ctrl etf.Tuple
		msg  etf.Term
	}{
		{etf.Tuple{int64(opSpawnRequest), ref, from, from, etf.Tuple{etf.Atom("erpc"), etf.Atom("execute_call"), int64(4)}, etf.List{etf.Atom("monitor")}},
			etf.List{ref, etf.Atom("m"), etf.Atom("f"), etf.List{int64(1)}}},
		{etf.Tuple{int64(opMonitorP), from, to, ref}, nil},
		{etf.Tuple{int64(opLink), from, to}, nil},
		{etf.Tuple{int64(opPayloadExit), from, to}, etf.Atom("kill")},
		{etf.Tuple{int64(opUnlinkID), int64(7), from, to}, nil},
	} {
		pkt, err := packet(s.ctrl, s.msg, s.msg != nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt[4:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := &Node{self: "fz@127.0.0.1", creation: 5, log: testLogger(), cfg: Config{TickTime: time.Second, MailboxSize: 8, MaxCalls: 4}}
		n.ctx, n.cancel = context.WithCancel(context.Background())
		defer n.cancel()
		n.procs = newProcs(n, 8)
		if _, err := n.NewMailbox("fm"); err != nil { // pid 101
			t.Fatal(err)
		}
		c := newConn(n, nil)
		c.peer = "fp@127.0.0.1"
		c.out = make(chan []byte, 1024)
		_ = n.handlePacket(c, data)
	})
}
