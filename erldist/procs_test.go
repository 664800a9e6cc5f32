package erldist

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// fakeLink is a peerLink that records the control messages the process
// layer sends, so that the layer is tested without connections.
type fakeLink struct {
	peer libcluster.Node
	mu   sync.Mutex
	sent []etf.Tuple
}

func (f *fakeLink) peerNode() libcluster.Node { return f.peer }
func (f *fakeLink) peerFlags() uint64         { return ourFlags }
func (f *fakeLink) send(_ context.Context, pkt []byte) error {
	f.sendNow(pkt)
	return nil
}
func (f *fakeLink) sendNow(pkt []byte) {
	t, _, err := etf.DecodeNext(pkt[5:], etf.Limits{})
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	f.sent = append(f.sent, t.(etf.Tuple))
	f.mu.Unlock()
}

func (f *fakeLink) last() etf.Tuple {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return nil
	}
	return f.sent[len(f.sent)-1]
}

func newTestNode() *Node {
	n := &Node{self: "pt@127.0.0.1", creation: 5, log: testLogger(), cfg: Config{TickTime: time.Second, MailboxSize: 8, MaxCalls: 2}}
	n.procs = newProcs(n, 8)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

// TestProcsSignals drives the process table through a fake link: remote
// monitors and links of a mailbox, noproc for one that is gone, DOWN and
// EXIT with the exit reason, and noconnection when the link goes down.
func TestProcsSignals(t *testing.T) {
	n := newTestNode()
	defer n.cancel()
	f := &fakeLink{peer: "e@127.0.0.1"}
	mb, err := n.NewMailbox("svc")
	if err != nil {
		t.Fatal(err)
	}
	watcher := etf.Pid{Node: "e@127.0.0.1", ID: 40, Creation: 2}
	ref := etf.Ref{Node: "e@127.0.0.1", Creation: 2, ID: []uint32{1, 2, 3}}
	handle := func(ctrl etf.Tuple) {
		t.Helper()
		if ok, err := n.procs.handle(f, ctrl[0].(int64), ctrl, nil, false); !ok || err != nil {
			t.Fatalf("handle %v: %v %v", ctrl, ok, err)
		}
	}
	handle(etf.Tuple{int64(opMonitorP), watcher, etf.Atom("svc"), ref})
	handle(etf.Tuple{int64(opLink), watcher, mb.Pid()})
	mb.Exit(etf.Atom("bye"))
	f.mu.Lock()
	got := append([]etf.Tuple(nil), f.sent...)
	f.mu.Unlock()
	want := []etf.Tuple{
		{int64(opMonitorPExit), etf.Atom("svc"), watcher, ref, etf.Atom("bye")},
		{int64(opExit), mb.Pid(), watcher, etf.Atom("bye")},
	}
	if !etf.Equal(etf.List{got[0], got[1]}, etf.List{want[0], want[1]}) || len(got) != 2 {
		t.Fatalf("sent %v, want %v", got, want)
	}
	// Gone: a new monitor gets noproc at once, a link an EXIT noproc.
	handle(etf.Tuple{int64(opMonitorP), watcher, mb.Pid(), ref})
	if l := f.last(); !etf.Equal(l, etf.Tuple{int64(opMonitorPExit), mb.Pid(), watcher, ref, atomNoproc}) {
		t.Fatalf("monitor of a closed mailbox answered %v", l)
	}
	handle(etf.Tuple{int64(opLink), watcher, mb.Pid()})
	if l := f.last(); !etf.Equal(l, etf.Tuple{int64(opExit), mb.Pid(), watcher, atomNoproc}) {
		t.Fatalf("link to a closed mailbox answered %v", l)
	}

	// Go monitors and links a remote pid; the connection goes down.
	a, _ := n.NewMailbox("")
	a.mb.out = append(a.mb.out, outMon{node: f.peer, target: watcher, ref: ref})
	a.mb.olinks = append(a.mb.olinks, watcher)
	n.procs.connDown(f)
	seen := 0
	for seen != 3 {
		m, err := a.Recv(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch b := m.Body.(type) {
		case Down:
			if b.Reason != atomNoconnection || !etf.Equal(b.Ref, ref) {
				t.Fatalf("Down %+v", b)
			}
			seen |= 1
		case Exit:
			if b.Reason != atomNoconnection || b.From != watcher {
				t.Fatalf("Exit %+v", b)
			}
			seen |= 2
		}
	}
	// Malformed signals are errors (the connection manager closes the
	// connection), unknown opcodes are not process signals.
	if _, err := n.procs.handle(f, opMonitorP, etf.Tuple{int64(opMonitorP), int64(1)}, nil, false); err == nil {
		t.Fatal("a malformed MONITOR_P was accepted")
	}
	if ok, _ := n.procs.handle(f, 99, etf.Tuple{int64(99)}, nil, false); ok {
		t.Fatal("opcode 99 taken as a process signal")
	}
}

// TestSpawnRequestLimit: beyond Config.MaxCalls running calls, a spawn
// request is refused with system_limit, and an unregistered function exits
// with undef as erpc:execute_call does on an Erlang node.
func TestSpawnRequestLimit(t *testing.T) {
	n := newTestNode()
	defer n.cancel()
	f := &fakeLink{peer: "e@127.0.0.1"}
	release := make(chan struct{})
	if err := n.HandleFunc("m", "wait", 0, func(context.Context, []etf.Term) (etf.Term, error) {
		<-release
		return etf.Atom("ok"), nil
	}); err != nil {
		t.Fatal(err)
	}
	from := etf.Pid{Node: "e@127.0.0.1", ID: 40, Creation: 2}
	req := func(i uint32, mod, fun etf.Atom) {
		ref := etf.Ref{Node: "e@127.0.0.1", Creation: 2, ID: []uint32{i, 0, 0}}
		ctrl := etf.Tuple{int64(opSpawnRequest), ref, from, from, etf.Tuple{etf.Atom("erpc"), etf.Atom("execute_call"), int64(4)}, etf.List{etf.Atom("monitor")}}
		args := etf.List{etf.Atom("res"), mod, fun, etf.List{}}
		if err := n.spawnRequest(f, opSpawnRequest, ctrl, args, true); err != nil {
			t.Fatal(err)
		}
	}
	req(1, "m", "wait")
	req(2, "m", "wait")
	req(3, "m", "wait")
	if l := f.last(); l[0] != int64(opSpawnReply) || l[4] != atomSysLimit {
		t.Fatalf("third request answered %v, want system_limit", l)
	}
	close(release)
	waitFor(t, 10*time.Second, "calls done", func() bool {
		n.funcs.mu.Lock()
		defer n.funcs.mu.Unlock()
		return n.funcs.running == 0
	})
	req(4, "nomod", "nofun")
	waitFor(t, 10*time.Second, "undef exit", func() bool {
		l := f.last()
		return l[0] == int64(opMonitorPExit)
	})
	want := etf.Tuple{etf.Atom("res"), atomError, atomUndef, etf.List{etf.Tuple{etf.Atom("nomod"), etf.Atom("nofun"), etf.List{}, etf.List{}}}}
	if l := f.last(); !etf.Equal(l[4], want) {
		t.Fatalf("undef exit reason %v, want %v", l[4], want)
	}
}

// TestGoCallsGo: Call and Serve between two Go nodes, and ErrNoProc.
func TestGoCallsGo(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startNode(t, Config{Name: "gga@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "ggb@127.0.0.1", EPMDPort: ep})
	serveEcho(t, b, "svc", make(chan etf.Term, 1))
	ctx := testCtx(t)
	got, err := a.Call(ctx, Name{b.Self(), "svc"}, etf.Atom("x"))
	if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("echo"), etf.Atom("x")}) {
		t.Fatalf("Call = %v, %v", got, err)
	}
	pid, _ := b.RegisteredPid("svc")
	if got, err = a.Call(ctx, pid, etf.Atom("y")); err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("echo"), etf.Atom("y")}) {
		t.Fatalf("Call by pid = %v, %v", got, err)
	}
	if _, err := a.Call(ctx, Name{b.Self(), "none"}, etf.Atom("x")); !errors.Is(err, ErrNoProc) {
		t.Fatalf("Call to a missing name: %v", err)
	}
	if _, err := a.Call(ctx, Name{"nobody@127.0.0.1", "svc"}, etf.Atom("x")); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Call to a missing node: %v", err)
	}
}

// TestSendNoConnect: no dial, ErrNotConnected; a custom mailbox size.
func TestSendNoConnect(t *testing.T) {
	n := newTestNode()
	defer n.cancel()
	mb, err := n.NewMailboxSize("", 2)
	if err != nil {
		t.Fatal(err)
	}
	if cap(mb.mb.ch) != 2 {
		t.Fatalf("channel size %d", cap(mb.mb.ch))
	}
	if _, err := n.NewMailboxSize("", 0); err == nil {
		t.Fatal("size 0 accepted")
	}
	ctx := context.Background()
	far := etf.Pid{Node: "far@127.0.0.1", ID: 1, Creation: 1}
	if err := mb.SendNoConnect(ctx, far, etf.Atom("x")); !errors.Is(err, libcluster.ErrNotConnected) {
		t.Fatalf("SendNoConnect: %v", err)
	}
	if err := mb.SendNameNoConnect(ctx, "far@127.0.0.1", "svc", etf.Atom("x")); !errors.Is(err, libcluster.ErrNotConnected) {
		t.Fatalf("SendNameNoConnect: %v", err)
	}
	if err := mb.SendNoConnect(ctx, mb.Pid(), etf.Atom("self")); err != nil {
		t.Fatal(err)
	}
	if m, _ := mb.Recv(ctx); m.Body != etf.Atom("self") {
		t.Fatalf("local send got %v", m.Body)
	}
}

// TestCloseWaitsForCalls: Close ends the ctx of a running erpc function
// and returns only after the function has returned, so no call goroutine
// outlives the node.
func TestCloseWaitsForCalls(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	n := startNode(t, Config{Name: "gclose@127.0.0.1", EPMDPort: ep})
	started := make(chan struct{})
	var returned atomic.Bool
	if err := n.HandleFunc("m", "block", 0, func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		close(started)
		<-ctx.Done()
		// Cleanup that takes a while after ctx ends: Close must wait.
		<-time.After(100 * time.Millisecond)
		returned.Store(true)
		return etf.Atom("ok"), nil
	}); err != nil {
		t.Fatal(err)
	}
	f := &fakeLink{peer: "e@127.0.0.1"}
	from := etf.Pid{Node: "e@127.0.0.1", ID: 40, Creation: 2}
	ref := etf.Ref{Node: "e@127.0.0.1", Creation: 2, ID: []uint32{1, 0, 0}}
	ctrl := etf.Tuple{int64(opSpawnRequest), ref, from, from, etf.Tuple{etf.Atom("erpc"), etf.Atom("execute_call"), int64(4)}, etf.List{etf.Atom("monitor")}}
	if err := n.spawnRequest(f, opSpawnRequest, ctrl, etf.List{etf.Atom("res"), etf.Atom("m"), etf.Atom("block"), etf.List{}}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the function did not start")
	}
	n.Close()
	if !returned.Load() {
		t.Fatal("Close returned while an erpc function was still running")
	}
}

// TestCallTimeoutWhileSettingUp: a Call whose ctx ends before its monitor
// is queued is a timeout (ErrTimeout, matching ctx.Err()), not a node
// down: the node is connected and fine.
func TestCallTimeoutWhileSettingUp(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startNode(t, Config{Name: "gcta@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "gctb@127.0.0.1", EPMDPort: ep})
	serveEcho(t, b, "svc", make(chan etf.Term, 1))
	if err := a.Connect(testCtx(t), b.Self()); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	// The monitor's send races the ended ctx; when the ctx wins it is a
	// timeout. (When the reply is already in by the time the Call reads,
	// the Call may also succeed.)
	for range 20 {
		_, err := a.Call(done, Name{b.Self(), "svc"}, etf.Atom("x"))
		if err != nil && (!errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrNodeDown)) {
			t.Fatalf("Call with an ended ctx: %v, want ErrTimeout matching context.Canceled", err)
		}
	}
	if got, err := a.Call(testCtx(t), Name{b.Self(), "svc"}, etf.Atom("y")); err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("echo"), etf.Atom("y")}) {
		t.Fatalf("Call afterwards = %v, %v", got, err)
	}
}

// TestLinkNotSentIsForgotten: a Link whose ctx ends before the link
// signal is queued returns the error and keeps no link, so closing the
// mailbox signals nobody.
func TestLinkNotSentIsForgotten(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startNode(t, Config{Name: "glka@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "glkb@127.0.0.1", EPMDPort: ep})
	target, err := b.NewMailbox("")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := a.Connect(testCtx(t), b.Self()); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	failed := 0
	for range 20 {
		mb, err := a.NewMailbox("")
		if err != nil {
			t.Fatal(err)
		}
		if err := mb.Link(done, target.Pid()); err != nil {
			failed++
			a.procs.mu.Lock()
			n := len(mb.mb.olinks)
			a.procs.mu.Unlock()
			if n != 0 {
				t.Fatalf("Link failed (%v) but left %d links", err, n)
			}
		}
		mb.Close()
	}
	t.Logf("%d of 20 links cut short by the ended ctx", failed)
}
