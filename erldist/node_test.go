package erldist

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

func TestGoToGo(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "ga@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "gb@127.0.0.1", EPMDPort: ep})
	ea, eb := watch(t, a), watch(t, b)
	mb, err := b.Register("inbox")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Self()); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := a.Connect(ctx, b.Self()); err != nil {
		t.Fatalf("second connect: %v", err)
	}
	if got := a.Nodes(); len(got) != 1 || got[0] != b.Self() {
		t.Fatalf("a.Nodes() = %v", got)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "b sees a", func() bool { return len(b.Nodes()) == 1 })
	ea.wait(t, 10*time.Second, "up on a", func(ev libcluster.NodeEvent) bool { return ev.Up && ev.Node == b.Self() })
	eb.wait(t, 10*time.Second, "up on b", func(ev libcluster.NodeEvent) bool { return ev.Up && ev.Node == a.Self() })

	body := etf.Tuple{etf.Atom("hello"), etf.Binary("world"), int64(-42), 3.5, etf.List{etf.Atom("x")}}
	if err := a.Send(ctx, b.Self(), "inbox", body); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := recvMsg(t, mb, 10*time.Second)
	if !etf.Equal(m.Body, body) {
		t.Fatalf("got %#v, want %#v", m.Body, body)
	}
	if m.From != a.Pid() {
		t.Fatalf("From = %v, want %v", m.From, a.Pid())
	}
	// Reply to the sender pid of a registered name.
	ma, err := a.Register("back")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := a.RegisteredPid("back")
	if err := b.SendPid(ctx, pid, etf.Atom("pong")); err != nil {
		t.Fatal(err)
	}
	if m := recvMsg(t, ma, 10*time.Second); m.Body != etf.Atom("pong") {
		t.Fatalf("got %#v", m.Body)
	}

	if err := a.Disconnect(ctx, b.Self()); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	eb.wait(t, 10*time.Second, "down on b", func(ev libcluster.NodeEvent) bool {
		return !ev.Up && ev.Node == a.Self() && ev.Reason == "connection_closed"
	})
	ea.wait(t, 10*time.Second, "down on a", func(ev libcluster.NodeEvent) bool {
		return !ev.Up && ev.Node == b.Self() && ev.Reason == "disconnect"
	})
	if err := a.Disconnect(ctx, b.Self()); !errors.Is(err, libcluster.ErrNotConnected) {
		t.Fatalf("second disconnect: %v, want ErrNotConnected", err)
	}
}

func TestGoToGoWrongCookie(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "wa@127.0.0.1", EPMDPort: ep, Cookie: "one"})
	b := startNode(t, Config{Name: "wb@127.0.0.1", EPMDPort: ep, Cookie: "two"})
	ea, eb := watch(t, a), watch(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := a.Connect(ctx, b.Self())
	if err == nil || !strings.Contains(err.Error(), "cookie") {
		t.Fatalf("connect with a wrong cookie: %v, want an error mentioning the cookie", err)
	}
	if len(a.Nodes())+len(b.Nodes()) != 0 || len(ea.all())+len(eb.all()) != 0 {
		t.Fatalf("nodes %v %v, events %v %v; want none", a.Nodes(), b.Nodes(), ea.all(), eb.all())
	}
}

func TestNoEPMDMode(t *testing.T) {
	t.Parallel()
	port := clustertest.FreePort(t)
	addr := func(ip string) string { return ip + ":" + strconv.Itoa(port) }
	a := startNode(t, Config{Name: "na@127.0.0.1", EPMD: EPMDNone, ListenAddr: addr("127.0.0.1")})
	b := startNode(t, Config{Name: "nb@127.0.0.2", EPMD: EPMDNone, ListenAddr: addr("127.0.0.2")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.Self()); err != nil {
		t.Fatal(err)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "a sees b", func() bool { return len(a.Nodes()) == 1 })
	if _, err := Start(ctx, Config{Name: "nc@127.0.0.1", Cookie: "c", EPMD: EPMDNone}); err == nil || !strings.Contains(err.Error(), "fixed port") {
		t.Fatalf("none mode without a port: %v", err)
	}
}

func TestExplicitEPMD(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	addr := "127.0.0.1:" + strconv.Itoa(ep)
	a := startNode(t, Config{Name: "xa@127.0.0.1", EPMD: addr})
	b := startNode(t, Config{Name: "xb@127.0.0.1", EPMD: addr})
	if err := a.Connect(testCtx(t), b.Self()); err != nil {
		t.Fatal(err)
	}
	if a.Creation() == 0 || b.Creation() == 0 {
		t.Fatalf("creations %d %d; want nonzero from EPMD", a.Creation(), b.Creation())
	}
	// Closing a node unregisters it.
	a.Close()
	clustertest.EventuallyWithin(t, 10*time.Second, "the name of the closed node is free again", func() bool {
		n, err := Start(testCtx(t), Config{Name: "xa@127.0.0.1", Cookie: "c", ListenAddr: "127.0.0.1:0", EPMD: addr, Logger: testLogger()})
		if err != nil {
			return false
		}
		n.Close()
		return true
	})
}

// dropFirst is a listener whose first n connections are closed unanswered,
// as a busy EPMD drops the oldest pending requests.
type dropFirst struct {
	net.Listener
	n       atomic.Int32
	dropped atomic.Int32
}

func (l *dropFirst) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.n.Add(-1) < 0 {
			return c, err
		}
		l.dropped.Add(1)
		clustertest.CloseNow(c)
	}
}

// TestExplicitEPMDBusyAtFirst: an explicit EPMD that drops the first
// registration attempts (too many nodes of the host starting at once) does
// not fail Start; the registration is tried again.
func TestExplicitEPMDBusyAtFirst(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &dropFirst{Listener: inner}
	ln.n.Store(2)
	srv := &epmd.Server{Logger: testLogger()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); ln.Close() })
	a := startNode(t, Config{Name: "busy@127.0.0.1", EPMD: ln.Addr().String()})
	if got := ln.dropped.Load(); got != 2 {
		t.Fatalf("the EPMD dropped %d registration attempts; want 2 before the one that succeeded", got)
	}
	if a.Creation() == 0 {
		t.Fatal("no creation from EPMD after the retried registration")
	}
}
