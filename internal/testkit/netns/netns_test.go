package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunHelper(map[string]func([]string) int{
		// udp: send one datagram to args[0] every 20ms and print
		// every datagram received on args[1] (IPv4 or IPv6).
		"udp": func(args []string) int {
			c, err := net.ListenPacket("udp", args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			to, _ := net.ResolveUDPAddr("udp", args[0])
			go func() {
				for {
					_, _ = c.WriteTo([]byte("hi"), to)
					time.Sleep(20 * time.Millisecond)
				}
			}()
			buf := make([]byte, 64)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return 1
				}
				fmt.Printf("got %s from %s\n", buf[:n], from)
			}
		},
	})
	os.Exit(m.Run())
}

func TestLabCutRestore(t *testing.T) {
	l := New(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := l.Host(0), l.Host(1)
	if out, err := a.Run(ctx, "ip", "-4", "addr", "show", "eth0"); err != nil || !strings.Contains(string(out), a.Addr.String()) {
		t.Fatalf("host 0 address: %v %s", err, out)
	}
	port := "7001"
	pa := a.StartHelper(t, ctx, "udp", b.Addr.String()+":"+port, ":"+port)
	pb := b.StartHelper(t, ctx, "udp", a.Addr.String()+":"+port, ":"+port)
	from := func(h *Host) func(string) bool {
		return func(l string) bool { return strings.Contains(l, "from "+h.Addr.String()+":") }
	}
	pa.Expect(t, 20*time.Second, from(b))
	pb.Expect(t, 20*time.Second, from(a))

	l.Cut(1)
	// Drain what was in flight, then check that nothing arrives for a while.
	drainUntilQuiet(t, pa, 300*time.Millisecond, 20*time.Second)
	l.Restore(1)
	pa.Expect(t, 20*time.Second, from(b))

	if err := pb.Pause(); err != nil {
		t.Fatal(err)
	}
	drainUntilQuiet(t, pa, 300*time.Millisecond, 20*time.Second)
	if err := pb.Resume(); err != nil {
		t.Fatal(err)
	}
	pa.Expect(t, 20*time.Second, from(b))
	pb.Kill()
	select {
	case <-pb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("killed process did not exit")
	}
}

// drainUntilQuiet reads lines until none arrive for quiet, failing if that
// does not happen before timeout.
func drainUntilQuiet(t *testing.T, p *Proc, quiet, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.Lines:
		case <-time.After(quiet):
			return
		}
	}
	t.Fatalf("traffic did not stop within %v", timeout)
}

// TestLabIPv6: every host has its unique-local address on eth0, usable at
// once (no duplicate address detection pending), and hosts reach each
// other over it.
func TestLabIPv6(t *testing.T) {
	l := New(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := l.Host(0), l.Host(1)
	for _, h := range l.Hosts() {
		if !Subnet6.Contains(h.Addr6) || h.Addr6 == Subnet6.Addr() {
			t.Fatalf("host %d: Addr6 %s not a host address of %s", h.Index, h.Addr6, Subnet6)
		}
		out, err := h.Run(ctx, "ip", "-6", "addr", "show", "dev", "eth0")
		if err != nil || !strings.Contains(string(out), h.Addr6.String()+"/64") {
			t.Fatalf("host %d IPv6 address: %v %s", h.Index, err, out)
		}
		if strings.Contains(string(out), h.Addr6.String()+"/64 scope global tentative") {
			t.Fatalf("host %d: %s still tentative (DAD not disabled): %s", h.Index, h.Addr6, out)
		}
	}
	port := "7002"
	pa := a.StartHelper(t, ctx, "udp", "["+b.Addr6.String()+"]:"+port, "[::]:"+port)
	pb := b.StartHelper(t, ctx, "udp", "["+a.Addr6.String()+"]:"+port, "[::]:"+port)
	from := func(h *Host) func(string) bool {
		return func(l string) bool { return strings.Contains(l, "from ["+h.Addr6.String()+"]:") }
	}
	pa.Expect(t, 20*time.Second, from(b))
	pb.Expect(t, 20*time.Second, from(a))
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	var names []string
	t.Run("lab", func(t *testing.T) {
		l := New(t, 1)
		names = []string{l.Switch, l.Host(0).NS}
	})
	out, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range out {
		for _, n := range names {
			if e.Name() == n {
				t.Errorf("namespace %s left behind", n)
			}
		}
	}
}
