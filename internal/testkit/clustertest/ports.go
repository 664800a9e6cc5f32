package clustertest

import (
	"net"
	"strconv"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, so
// tests running in parallel do not share a port. Another process may take
// it before the caller binds it; callers that start a server retry or fail
// clearly.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free TCP port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("finding a free UDP port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// FreeSharedPort returns a port that was free a moment ago for both TCP and
// UDP on every one of addrs (memberlist binds both on one port, and a fleet
// on 127.0.0.x addresses shares it).
func FreeSharedPort(t testing.TB, addrs ...string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", addrs[0], err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		closers := []func() error{l.Close}
		ok := true
		for i, a := range addrs {
			hp := net.JoinHostPort(a, strconv.Itoa(port))
			if i > 0 {
				tl, err := net.Listen("tcp", hp)
				if err != nil {
					ok = false
					break
				}
				closers = append(closers, tl.Close)
			}
			ul, err := net.ListenPacket("udp", hp)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, ul.Close)
		}
		for _, c := range closers {
			c()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on all of %v", addrs)
	return 0
}

// CloseNow closes a TCP connection with a reset instead of the usual
// shutdown, so its local port does not linger in TIME_WAIT. Tests that open
// thousands of connections use it: a port in TIME_WAIT can be handed out by
// FreePort (which binds 127.0.0.1) while a wildcard listener cannot take it.
func CloseNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
