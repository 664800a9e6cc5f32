package erldist

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
)

// Connect never reports success for a connection that is being torn down:
// it waits for it to go and sets up a new one.
func TestConnectIgnoresConnectionBeingTornDown(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "ta@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "tb@127.0.0.1", EPMDPort: ep})
	// A connection to b that is shut but not yet removed (its loops have
	// not ended), as during a Disconnect or after a read error.
	p1, p2 := net.Pipe()
	defer p2.Close()
	dying := newConn(a, p1)
	dying.peer = b.Self()
	dying.shut("connection_closed")
	a.mu.Lock()
	a.conns[b.Self()] = dying
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Connect(ctx, b.Self()); err == nil {
		t.Fatal("Connect returned success for a connection that is being torn down")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := a.connect(ctx, b.Self())
		done <- err
	}()
	// The old connection goes; Connect then sets up a new one.
	a.mu.Lock()
	delete(a.conns, b.Self())
	a.mu.Unlock()
	close(dying.gone)
	if err := <-done; err != nil {
		t.Fatalf("Connect after the old connection went: %v", err)
	}
	a.mu.Lock()
	c := a.conns[b.Self()]
	a.mu.Unlock()
	if c == nil || c == dying || c.isShut() {
		t.Fatalf("no fresh open connection after Connect: %v", c)
	}
}

// silent accepts connections on addr and never answers, reporting when
// the other side closes one.
func silent(t *testing.T, addr string) (closed <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var b [1]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						ch <- struct{}{}
						return
					}
				}
			}()
		}
	}()
	return ch
}

// A Connect bounded by the caller's ctx returns at its deadline with the
// real cause (which step hung, where), and the attempt ends with it rather
// than running on for the node's per-step timeouts.
func TestConnectHonoursCallerDeadlineAndSaysWhy(t *testing.T) {
	t.Parallel()
	t.Run("EPMD silent", func(t *testing.T) {
		t.Parallel()
		port, _ := epmdtest.Serve(t, "127.0.0.1:0")
		closed := silent(t, "127.0.0.2:"+strconv.Itoa(port))
		a := startNode(t, Config{Name: "sa@127.0.0.1", EPMD: "127.0.0.1:" + strconv.Itoa(port)})
		checkBounded(t, a, "x@127.0.0.2", closed, []string{"EPMD", "127.0.0.2:" + strconv.Itoa(port), "no answer"})
	})
	t.Run("handshake silent", func(t *testing.T) {
		t.Parallel()
		port := clustertest.FreePort(t)
		closed := silent(t, "127.0.0.2:"+strconv.Itoa(port))
		a := startNode(t, Config{Name: "sb@127.0.0.1", EPMD: EPMDNone, ListenAddr: "127.0.0.1:" + strconv.Itoa(port)})
		checkBounded(t, a, "y@127.0.0.2", closed, []string{"handshake", "127.0.0.2:" + strconv.Itoa(port), "no answer"})
	})
}

func checkBounded(t *testing.T, a *Node, peer string, closed <-chan struct{}, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Connect(ctx, libcluster.Node(peer))
	took := time.Since(start)
	if err == nil {
		t.Fatal("Connect to a silent peer succeeded")
	}
	if took > 2*time.Second {
		t.Fatalf("Connect took %v with a 300ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap the deadline", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the attempt kept its connection to the silent peer open after Connect returned")
	}
	clustertest.EventuallyWithin(t, 2*time.Second, "attempt gone", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.pending) == 0
	})
}
