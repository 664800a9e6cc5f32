package memberlist

import (
	"log"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestUDPTransport(t *testing.T) {
	a, err := listenTransport("127.0.0.1", 0, log.New(testWriter{t}, "", 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := listenTransport("127.0.0.1", 0, log.New(testWriter{t}, "", 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()

	ip, port, err := a.FinalAdvertiseAddr("", 0)
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != a.port() {
		t.Fatalf("FinalAdvertiseAddr = %v %d %v; want 127.0.0.1 %d", ip, port, err, a.port())
	}
	if ip, port, err := a.FinalAdvertiseAddr("10.1.2.3", 7000); err != nil || ip.String() != "10.1.2.3" || port != 7000 || len(ip) != 4 {
		t.Fatalf("FinalAdvertiseAddr(given) = %v %d %v", ip, port, err)
	}
	if _, _, err := a.FinalAdvertiseAddr("not-an-ip", 7000); err == nil {
		t.Fatal("FinalAdvertiseAddr accepted a malformed address")
	}

	// A packet arrives whole, in a buffer of its own size, from b's port.
	if _, err := b.WriteTo([]byte("hello"), net.JoinHostPort("127.0.0.1", strconv.Itoa(a.port()))); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-a.PacketCh():
		if string(p.Buf) != "hello" || cap(p.Buf) > 64 {
			t.Fatalf("got %q (cap %d), want \"hello\" in a buffer of about its size, not the 64 KiB read buffer", p.Buf, cap(p.Buf))
		}
		if p.From.(*net.UDPAddr).Port != b.port() {
			t.Fatalf("from %v, want port %d", p.From, b.port())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no packet within 10 s")
	}

	// Streams: a dial is accepted.
	c, err := b.DialTimeout(net.JoinHostPort("127.0.0.1", strconv.Itoa(a.port())), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case s := <-a.StreamCh():
		s.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no stream within 10 s")
	}

	// Shutdown returns even with a packet nobody takes.
	if _, err := b.WriteTo([]byte("late"), net.JoinHostPort("127.0.0.1", strconv.Itoa(a.port()))); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return within 10 s with a packet pending")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
