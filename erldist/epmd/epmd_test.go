package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

func TestPortEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
	}{{"", DefaultPort}, {"4400", 4400}, {"0", DefaultPort}, {"70000", DefaultPort}, {"abc", DefaultPort}, {"65535", 65535}} {
		t.Setenv("ERL_EPMD_PORT", tc.env)
		if got := Port(); got != tc.want {
			t.Errorf("ERL_EPMD_PORT=%q: Port() = %d, want %d", tc.env, got, tc.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"a", "node_1", "ñandú", string(bytes.Repeat([]byte{'x'}, 255))} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "a b", "a\nb", "a\x00", "\xff", string(bytes.Repeat([]byte{'x'}, 256))} {
		if err := ValidateName(name); err == nil {
			t.Errorf("ValidateName(%q) = nil, want error", name)
		}
	}
}

func TestClientServer(t *testing.T) {
	srv, port := startServer(t)
	ctx := testCtx(t)
	c := &Client{Port: port}

	reg, err := c.Register(ctx, NodeInfo{Name: "alpha", Port: 5555, Extra: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Creation() < 4 {
		t.Errorf("creation %d, want >= 4", reg.Creation())
	}
	if _, err := c.Register(ctx, NodeInfo{Name: "alpha", Port: 5556}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("duplicate Register: %v, want ErrNameInUse", err)
	}
	reg2, err := c.Register(ctx, NodeInfo{Name: "beta", Port: 5557, NodeType: NodeTypeHidden})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()

	names, err := c.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []NameEntry{{"alpha", 5555}, {"beta", 5557}}
	if len(names) != 2 || names[0] != want[0] || names[1] != want[1] {
		t.Fatalf("Names = %v, want %v", names, want)
	}
	if got := srv.Names(); len(got) != 2 || got[0].Name != "alpha" || got[1].NodeType != NodeTypeHidden {
		t.Fatalf("Server.Names = %+v", got)
	}

	info, err := c.PortPlease(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "alpha" || info.Port != 5555 || info.NodeType != NodeTypeNormal ||
		info.HighestVersion != 6 || info.LowestVersion != 6 || string(info.Extra) != "x" {
		t.Fatalf("PortPlease = %+v", info)
	}
	if _, err := c.PortPlease(ctx, "gamma"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("PortPlease(gamma) = %v, want ErrNotRegistered", err)
	}

	first := reg.Creation()
	reg.Close()
	select {
	case <-reg.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if reg.Err() != nil {
		t.Errorf("Err after Close = %v, want nil", reg.Err())
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "alpha unregistered", func() bool {
		_, err := c.PortPlease(ctx, "alpha")
		return errors.Is(err, ErrNotRegistered)
	})
	reg3, err := c.Register(ctx, NodeInfo{Name: "alpha", Port: 5555})
	if err != nil {
		t.Fatalf("re-register after close: %v", err)
	}
	defer reg3.Close()
	if reg3.Creation() == first || reg3.Creation() == 0 {
		t.Errorf("re-registration creation %d, first was %d: want a new nonzero value", reg3.Creation(), first)
	}
}

func TestRegistrationLostWhenServerCloses(t *testing.T) {
	srv, port := startServer(t)
	c := &Client{Port: port}
	reg, err := c.Register(testCtx(t), NodeInfo{Name: "n", Port: 1234})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	select {
	case <-reg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("registration not reported lost after server Close")
	}
	if reg.Err() == nil {
		t.Error("Err() = nil after loss, want the connection error")
	}
	if n := srv.Names(); len(n) != 0 {
		t.Errorf("names after Close: %v", n)
	}
}

func TestServerOldAliveAndWireLayouts(t *testing.T) {
	srv, port := startServer(t)
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := NodeInfo{Name: "old", Port: 7000, NodeType: NodeTypeNormal, HighestVersion: 5, LowestVersion: 5}
	if _, err := conn.Write(encodeAlive2Req(n)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp [4]byte
	if _, err := conn.Read(resp[:]); err != nil {
		t.Fatal(err)
	}
	if resp[0] != tagAlive2Resp || resp[1] != 0 {
		t.Fatalf("old ALIVE2 reply %v, want tag 121 result 0", resp)
	}
	if c := binary.BigEndian.Uint16(resp[2:]); c < 1 || c > 3 {
		t.Errorf("old creation %d, want 1..3", c)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "old node listed", func() bool { return len(srv.Names()) == 1 })

	// NAMES reply starts with the server's own port.
	b := rawRequest(t, port, []byte{0, 1, tagNamesReq})
	if len(b) < 4 || binary.BigEndian.Uint32(b) != uint32(port) {
		t.Fatalf("NAMES reply %q does not start with port %d", b, port)
	}
	if got := string(b[4:]); got != "name old at port 7000\n" {
		t.Fatalf("NAMES lines %q", got)
	}
	// PORT_PLEASE2 with a trailing NUL; not found gives exactly [119 1].
	b = rawRequest(t, port, frame([]byte("zold\x00")))
	if len(b) < 2 || b[0] != tagPort2Resp || b[1] != 0 {
		t.Fatalf("PORT2_RESP %v", b)
	}
	if b = rawRequest(t, port, frame([]byte("znone"))); !bytes.Equal(b, []byte{tagPort2Resp, 1}) {
		t.Fatalf("PORT2_RESP for unknown name %v, want [119 1]", b)
	}
	// KILL is refused, DUMP lists the node.
	if b = rawRequest(t, port, frame([]byte{tagKillReq})); string(b) != "NO" {
		t.Fatalf("KILL reply %q, want NO", b)
	}
	if b = rawRequest(t, port, frame([]byte{tagDumpReq})); !bytes.Contains(b, []byte("<old> at port 7000")) {
		t.Fatalf("DUMP reply %q", b)
	}
	// Sending anything on a registration connection unregisters it.
	if _, err := conn.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "old node unregistered after stray byte", func() bool { return len(srv.Names()) == 0 })
}

func TestServerRefusesRemoteAndInvalidRegistration(t *testing.T) {
	srv := &Server{Logger: quietLogger()}
	defer srv.Close()
	alive := func(local bool, n NodeInfo) []byte {
		a, b := net.Pipe()
		defer a.Close()
		srv.handle(b, local)
		_ = a.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := a.Write(encodeAlive2Req(n)); err != nil {
			t.Fatal(err)
		}
		var resp [6]byte
		if _, err := a.Read(resp[:]); err != nil {
			t.Fatal(err)
		}
		return resp[:]
	}
	good := NodeInfo{Name: "r", Port: 1, NodeType: NodeTypeNormal, HighestVersion: 6, LowestVersion: 6}
	if r := alive(false, good); r[0] != tagAlive2XResp || r[1] == 0 {
		t.Errorf("remote registration reply %v, want refusal", r)
	}
	bad := good
	bad.Name = "has space"
	if r := alive(true, bad); r[0] != tagAlive2XResp || r[1] == 0 {
		t.Errorf("invalid name reply %v, want refusal", r)
	}
	bad = good
	bad.Port = 0
	if r := alive(true, bad); r[1] == 0 {
		t.Errorf("port 0 reply %v, want refusal", r)
	}
	if n := srv.Names(); len(n) != 0 {
		t.Fatalf("refused registrations are listed: %v", n)
	}
}

func TestServerSurvivesGarbage(t *testing.T) {
	_, port := startServer(t, func(s *Server) { s.RequestTimeout = 2 * time.Second })
	for _, req := range [][]byte{
		{0, 0},                        // zero length
		{0xff, 0xff, 1, 2, 3},         // oversize length
		{0, 5, 'x', 1},                // truncated body
		frame([]byte{'x', 1, 2}),      // malformed ALIVE2
		frame([]byte{'Q', 'Q'}),       // unknown tag
		frame([]byte{tagStopReq}),     // STOP is ignored
		frame([]byte{tagPortPlease2}), // empty name
	} {
		b := rawRequest(t, port, req)
		if len(b) > 0 && req[2] != 'x' && req[2] != tagPortPlease2 {
			t.Errorf("garbage %v got reply %v, want close without reply", req, b)
		}
	}
	c := &Client{Port: port}
	if _, err := c.Names(testCtx(t)); err != nil {
		t.Fatalf("server unusable after garbage: %v", err)
	}
}

func TestServerMaxRegistrations(t *testing.T) {
	_, port := startServer(t, func(s *Server) { s.MaxRegistrations = 2 })
	c := &Client{Port: port, Timeout: 2 * time.Second}
	ctx := testCtx(t)
	for i := range 2 {
		r, err := c.Register(ctx, NodeInfo{Name: "n" + strconv.Itoa(i), Port: 1000 + i})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
	}
	_, err := c.Register(ctx, NodeInfo{Name: "n2", Port: 1002})
	if err == nil || errors.Is(err, ErrNameInUse) || !strings.Contains(err.Error(), "closed the connection without answering") {
		t.Fatalf("Register beyond MaxRegistrations: %v, want an error saying EPMD did not answer", err)
	}
	// Queries have their own budget.
	if _, err := c.Names(ctx); err != nil {
		t.Fatalf("Names with the registrations full: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := testCtx(t)
	c := &Client{Port: clustertest.FreePort(t), Timeout: 5 * time.Second}
	if _, err := c.Names(ctx); err == nil {
		t.Fatal("Names against a closed port succeeded")
	}
	if _, err := c.Register(ctx, NodeInfo{Name: "", Port: 1}); err == nil {
		t.Fatal("Register with empty name succeeded")
	}
	if _, err := c.Register(ctx, NodeInfo{Name: "a", Port: 70000}); err == nil {
		t.Fatal("Register with port 70000 succeeded")
	}
	// A server that is not an EPMD: answers junk.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			conn.Close()
		}
	}()
	c = &Client{Port: ln.Addr().(*net.TCPAddr).Port}
	if _, err := c.PortPlease(ctx, "a"); err == nil {
		t.Error("PortPlease against junk succeeded")
	}
	if _, err := c.Register(ctx, NodeInfo{Name: "a", Port: 1}); err == nil {
		t.Error("Register against junk succeeded")
	}
}

func TestParseNames(t *testing.T) {
	b := encodeNames(4369, []NodeInfo{{Name: "a", Port: 1}, {Name: "b@weird", Port: 65535}})
	p, names, err := parseNames(b)
	if err != nil || p != 4369 || len(names) != 2 || names[1] != (NameEntry{"b@weird", 65535}) {
		t.Fatalf("parseNames = %d %v %v", p, names, err)
	}
	for _, bad := range []string{"\x00\x00\x11\x11nome a at port 1\n", "\x00\x00\x11\x11name a at port x\n", "\x00\x00\x11\x11name  at port 1\n", "\x00\x00"} {
		if _, _, err := parseNames([]byte(bad)); err == nil {
			t.Errorf("parseNames(%q) accepted garbage", bad)
		}
	}
}

// TestServerEvictsIdleQueries fills the per-address and the global budget
// of idle connections: the connection waiting longest is closed to make
// room, and a real query still gets its answer.
func TestServerEvictsIdleQueries(t *testing.T) {
	_, port := startServer(t, func(s *Server) { s.MaxQueries = 4; s.MaxQueriesPerHost = 2; s.RequestTimeout = time.Minute })
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedSoon := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err := c.Read(b[:])
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	a1 := dial("127.0.0.2")
	a2 := dial("127.0.0.2")
	dial("127.0.0.2") // over the per-address budget: a1 goes
	if !closedSoon(a1) {
		t.Error("the oldest idle connection of 127.0.0.2 was not closed")
	}
	dial("127.0.0.3")
	dial("127.0.0.3")
	dial("127.0.0.4") // over the global budget of 4: the oldest, a2, goes
	if !closedSoon(a2) {
		t.Error("the oldest idle connection was not closed over the global budget")
	}
	c := &Client{Port: port, Timeout: 5 * time.Second}
	if _, err := c.Names(testCtx(t)); err != nil {
		t.Fatalf("Names while idle connections fill the budget: %v", err)
	}
}
