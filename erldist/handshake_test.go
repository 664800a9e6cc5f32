package erldist

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

func dialNode(t *testing.T, n *Node) (net.Conn, *hsConn) {
	t.Helper()
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := newConn(nil, nc)
	return nc, &hsConn{rw: nc, br: c.br, dl: nc, timeout: 10 * time.Second}
}

// An OTP 23/24 node without epmd sends the old 'n' name and a complement.
func TestAcceptOldNameWithComplement(t *testing.T) {
	t.Parallel()
	g := startNode(t, Config{Name: "gold@127.0.0.1", EPMDPort: clustertest.FreePort(t)})
	ev := watch(t, g)
	_, h := dialNode(t, g)
	msg := []byte{'n', 0, 5}
	msg = binary.BigEndian.AppendUint32(msg, uint32(ourFlags&0xffffffff))
	msg = append(msg, "old@127.0.0.1"...)
	if err := h.writeFrame(msg); err != nil {
		t.Fatal(err)
	}
	st, err := h.readFrame("status")
	if err != nil || string(st) != "sok" {
		t.Fatalf("status %q, %v", st, err)
	}
	ch, err := h.readFrame("challenge")
	if err != nil || ch[0] != 'N' {
		t.Fatalf("challenge %v, %v", ch, err)
	}
	comp := []byte{'c'}
	comp = binary.BigEndian.AppendUint32(comp, uint32(ourFlags>>32))
	comp = binary.BigEndian.AppendUint32(comp, 77)
	if err := h.writeFrame(comp); err != nil {
		t.Fatal(err)
	}
	d := digest([]byte("testcookie"), binary.BigEndian.Uint32(ch[9:13]))
	reply := append(binary.BigEndian.AppendUint32([]byte{'r'}, 1234), d[:]...)
	if err := h.writeFrame(reply); err != nil {
		t.Fatal(err)
	}
	ack, err := h.readFrame("ack")
	want := digest([]byte("testcookie"), 1234)
	if err != nil || len(ack) != 17 || string(ack[1:]) != string(want[:]) {
		t.Fatalf("ack %v, %v", ack, err)
	}
	ev.wait(t, 10*time.Second, "node up", func(e libcluster.NodeEvent) bool { return e.Up && e.Node == "old@127.0.0.1" })
}

// A peer lacking a mandatory flag is refused with not_allowed.
func TestRefuseMissingFlags(t *testing.T) {
	t.Parallel()
	g := startNode(t, Config{Name: "gflags@127.0.0.1", EPMDPort: clustertest.FreePort(t)})
	_, h := dialNode(t, g)
	msg := []byte{'N'}
	msg = binary.BigEndian.AppendUint64(msg, ourFlags&^flagUnlinkID)
	msg = binary.BigEndian.AppendUint32(msg, 5)
	msg = appendName(msg, "nounlink@127.0.0.1")
	if err := h.writeFrame(msg); err != nil {
		t.Fatal(err)
	}
	if st, err := h.readFrame("status"); err != nil || string(st) != "snot_allowed" {
		t.Fatalf("status %q, %v; want snot_allowed", st, err)
	}
}

// A restarted peer reconnects while the old connection looks alive: the
// acceptor answers "alive", the peer confirms, and the new connection
// replaces the old one.
func TestAliveReplacesConnection(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	a := startNode(t, Config{Name: "ala@127.0.0.1", EPMDPort: ep})
	b := startNode(t, Config{Name: "alb@127.0.0.1", EPMDPort: ep})
	ev := watch(t, b)
	if err := a.Connect(testCtx(t), b.Self()); err != nil {
		t.Fatal(err)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "b sees a", func() bool { return len(b.Nodes()) == 1 })
	_, h := dialNode(t, b)
	sawAlive := false
	cfg := hsConfig{self: "ala@127.0.0.1", creation: 99, flags: ourFlags, cookie: []byte("testcookie")}
	res, err := initiate(h, cfg, b.Self(), func() bool { sawAlive = true; return true })
	if err != nil || !sawAlive || !res.alive {
		t.Fatalf("initiate: %v, alive status seen: %v", err, sawAlive)
	}
	ev.wait(t, 10*time.Second, "replacement", func(e libcluster.NodeEvent) bool { return !e.Up && e.Reason == "connection_replaced" })
	ev.wait(t, 10*time.Second, "a down", func(e libcluster.NodeEvent) bool {
		return !e.Up && e.Node == a.Self() && e.Reason == "connection_replaced"
	})
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "nohost", Cookie: "c"}, "invalid node name"},
		{Config{Name: "a@127.0.0.1", Cookie: "c", EPMD: "nonsense"}, "Config.EPMD"},
		{Config{Name: "a@127.0.0.1", Cookie: "bad\ncookie"}, "cookie"},
		{Config{Name: "a@127.0.0.1", Cookie: "c", TickTime: time.Millisecond}, "TickTime"},
		{Config{Name: "a@127.0.0.1", Cookie: "c", ListenAddr: "256.0.0.1:0", EPMD: EPMDNone}, "fixed port"},
	} {
		if _, err := Start(ctx, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestCookieFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
	if _, err := readCookie(); err == nil || !strings.Contains(err.Error(), "Config.Cookie") {
		t.Fatalf("missing cookie file: %v", err)
	}
	f := filepath.Join(home, ".erlang.cookie")
	if err := os.WriteFile(f, []byte("SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readCookie(); err == nil || !strings.Contains(err.Error(), "chmod 400") {
		t.Fatalf("world-readable cookie file: %v", err)
	}
	if err := os.Chmod(f, 0o400); err != nil {
		t.Fatal(err)
	}
	if c, err := readCookie(); err != nil || c != "SECRET" {
		t.Fatalf("readCookie = %q, %v", c, err)
	}
}
