package scale

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"
)

// simNet is an in-memory network for memberlist that behaves like UDP and
// TCP where it matters at scale: a packet send never waits for the
// receiver (a full inbox drops it, as a full socket buffer would), and a
// stream dial waits at most its timeout. memberlist's own MockNetwork
// hands a packet over an unbuffered channel, so two members answering each
// other's pings from their packet loops block each other; at a few hundred
// members the whole simulation stalls for many seconds at a time.
//
// All transports are created before any member starts; after that the
// network is only read, so it needs no lock.
type simNet struct {
	byAddr   map[string]*simTransport
	peerPort int // the port names map to
}

// simInbox is how many packets wait for a member's packet loop, like a
// socket's receive buffer.
const simInbox = 4096

// newSimNet creates the transports of n members: with ownAddr, member i
// at MemberIP(i):7946, where its name maps; else all on 127.0.0.1, member
// i at port i+1, so that every name maps to the first.
func newSimNet(n int, ownAddr bool) (*simNet, []*simTransport) {
	s := &simNet{byAddr: make(map[string]*simTransport, n), peerPort: 1}
	if ownAddr {
		s.peerPort = 7946
	}
	ts := make([]*simTransport, n)
	for i := range ts {
		a := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: i + 1}
		if ownAddr {
			a = &net.UDPAddr{IP: MemberIP(i).AsSlice(), Port: s.peerPort}
		}
		t := &simTransport{net: s, addr: a, packets: make(chan *ml.Packet, simInbox), streams: make(chan net.Conn, 64)}
		s.byAddr[a.String()] = t
		ts[i] = t
	}
	return s, ts
}

// simTransport is one member's end of a simNet.
type simTransport struct {
	net     *simNet
	addr    *net.UDPAddr
	packets chan *ml.Packet
	streams chan net.Conn
	closed  atomic.Bool
	dropped atomic.Int64
}

var errSimUnreachable = errors.New("sim: no member listens at that address")

func (t *simTransport) peer(addr string) (*simTransport, error) {
	d := t.net.byAddr[addr]
	if d == nil || d.closed.Load() {
		return nil, fmt.Errorf("%w: %s", errSimUnreachable, addr)
	}
	return d, nil
}

// FinalAdvertiseAddr returns the member's simulated address.
func (t *simTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.addr.IP, t.addr.Port, nil
}

// WriteTo delivers a copy of b to addr's inbox, or drops it when the inbox
// is full or nobody listens there.
func (t *simTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	d, err := t.peer(addr)
	if err != nil {
		return now, nil // UDP: a lost packet is not an error
	}
	select {
	case d.packets <- &ml.Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now}:
	default:
		d.dropped.Add(1)
	}
	return now, nil
}

// PacketCh returns the member's inbox.
func (t *simTransport) PacketCh() <-chan *ml.Packet { return t.packets }

// DialTimeout connects to addr over a pipe, waiting at most timeout for
// the member there to have room for it.
func (t *simTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d, err := t.peer(addr)
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case d.streams <- b:
		return a, nil
	case <-tm.C:
		_ = a.Close()
		_ = b.Close()
		return nil, fmt.Errorf("sim: dial %s: timed out after %v", addr, timeout)
	}
}

// StreamCh returns the member's accepted streams.
func (t *simTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown stops deliveries to the member.
func (t *simTransport) Shutdown() error {
	t.closed.Store(true)
	return nil
}
