package epmd

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// runningKeeper is a Keeper run in the background by a test.
type runningKeeper struct {
	k      *Keeper
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	ready  []uint32
	once   sync.Once
}

func (r *runningKeeper) creations() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ready)
}

func startKeeper(t *testing.T, name string, epmdPort int) *runningKeeper {
	t.Helper()
	r := &runningKeeper{
		k: &Keeper{
			NodeInfo:   NodeInfo{Name: name, Port: 20000 + len(name)},
			Port:       epmdPort,
			ListenAddr: "127.0.0.1:" + strconv.Itoa(epmdPort),
			Logger:     quietLogger(),
		},
		done: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- r.k.Run(ctx, func(c uint32) {
			r.mu.Lock()
			r.ready = append(r.ready, c)
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningKeeper) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("keeper %s: Run = %v, want nil after cancel", r.k.Name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("keeper %s did not stop", r.k.Name)
		}
	})
}

func namesAt(ctx context.Context, port int) []string {
	c := &Client{Port: port, Timeout: 2 * time.Second}
	entries, err := c.Names(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func TestKeeperTakeover(t *testing.T) {
	port := clustertest.FreePort(t)
	ctx := testCtx(t)
	a := startKeeper(t, "a", port)
	clustertest.EventuallyWithin(t, 20*time.Second, "keeper a registered", func() bool { return len(a.creations()) == 1 })
	b := startKeeper(t, "bb", port)
	c := startKeeper(t, "ccc", port)
	clustertest.EventuallyWithin(t, 20*time.Second, "all three listed and ready", func() bool {
		return slices.Equal(namesAt(ctx, port), []string{"a", "bb", "ccc"}) &&
			len(b.creations()) == 1 && len(c.creations()) == 1
	})

	// Stop a, which serves EPMD: b and c race for the port, one wins and
	// both end up registered again.
	a.stop(t)
	clustertest.EventuallyWithin(t, 20*time.Second, "b and c re-registered after takeover", func() bool {
		return len(b.creations()) == 2 && len(c.creations()) == 2 &&
			slices.Equal(namesAt(ctx, port), []string{"bb", "ccc"})
	})
	for _, r := range []*runningKeeper{b, c} {
		cr := r.creations()
		if cr[0] == 0 || cr[1] == 0 || cr[0] == cr[1] {
			t.Errorf("keeper %s creations %v: want two distinct nonzero values", r.k.Name, cr)
		}
	}
	cl := &Client{Port: port}
	info, err := cl.PortPlease(ctx, "ccc")
	if err != nil || info.Port != 20003 {
		t.Fatalf("PortPlease(ccc) after takeover = %+v, %v", info, err)
	}

	// Stopping b, whether or not it won the port, must leave c registered.
	b.stop(t)
	clustertest.EventuallyWithin(t, 20*time.Second, "c alone listed", func() bool {
		return slices.Equal(namesAt(ctx, port), []string{"ccc"})
	})
}

func TestKeeperRegistersWithRunningServer(t *testing.T) {
	srv, port := startServer(t)
	k := startKeeper(t, "kk", port)
	clustertest.EventuallyWithin(t, 20*time.Second, "keeper registered with the existing server", func() bool {
		n := srv.Names()
		return len(n) == 1 && n[0].Name == "kk"
	})
	// The existing server dies: the keeper takes over the port itself.
	srv.Close()
	clustertest.EventuallyWithin(t, 20*time.Second, "keeper serves and re-registered", func() bool {
		return len(k.creations()) == 2 && slices.Equal(namesAt(testCtx(t), port), []string{"kk"})
	})
}

func TestKeeperDuplicateNameFails(t *testing.T) {
	_, port := startServer(t)
	ctx := testCtx(t)
	reg, err := (&Client{Port: port}).Register(ctx, NodeInfo{Name: "dup", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	k := &Keeper{NodeInfo: NodeInfo{Name: "dup", Port: 2}, Port: port, Logger: quietLogger()}
	if err := k.Run(ctx, nil); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("Run with a taken name = %v, want ErrNameInUse", err)
	}
	k = &Keeper{NodeInfo: NodeInfo{Name: "", Port: 2}, Port: port}
	if err := k.Run(ctx, nil); err == nil {
		t.Fatal("Run with an empty name succeeded")
	}
}

func TestKeeperDialHost(t *testing.T) {
	for addr, want := range map[string]string{"": "127.0.0.1", ":4369": "127.0.0.1", "0.0.0.0:1": "127.0.0.1", "[::1]:4369": "::1", "127.0.0.5:9": "127.0.0.5", "10.1.2.3:9": "127.0.0.1"} {
		if got := (&Keeper{ListenAddr: addr}).dialHost(); got != want {
			t.Errorf("ListenAddr %q: dial host %q, want %q", addr, got, want)
		}
	}
}

func TestKeeperIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	k := &Keeper{NodeInfo: NodeInfo{Name: "six", Port: 6666}, Port: port, ListenAddr: "[::1]:" + strconv.Itoa(port), Logger: quietLogger()}
	ready := make(chan uint32, 4)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, func(c uint32) { ready <- c }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("keeper on ::1 did not register")
	}
	info, err := (&Client{Host: "::1", Port: port}).PortPlease(ctx, "six")
	if err != nil || info.Port != 6666 {
		t.Fatalf("PortPlease over ::1 = %+v, %v", info, err)
	}
	// A second keeper on ::1 registers with the first one's server.
	k2 := &Keeper{NodeInfo: NodeInfo{Name: "seven", Port: 7777}, Port: port, ListenAddr: "[::1]:" + strconv.Itoa(port), Logger: quietLogger()}
	ctx2, cancel2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- k2.Run(ctx2, nil) }()
	defer func() { cancel2(); <-done2 }()
	clustertest.EventuallyWithin(t, 20*time.Second, "seven registered over ::1", func() bool {
		_, err := (&Client{Host: "::1", Port: port}).PortPlease(ctx, "seven")
		return err == nil
	})
}
