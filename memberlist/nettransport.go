package memberlist

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	sockaddr "github.com/hashicorp/go-sockaddr"
	ml "github.com/hashicorp/memberlist"
)

// udpTransport is memberlist's NetTransport on one bind address, but for
// the receiving of packets: NetTransport reads each UDP packet into a
// fresh 64 KiB buffer, and at 1,000 members in one process on two cores
// those buffers were half of all bytes allocated, and the garbage collector
// that they drove half of the CPU. This one reads into one buffer per
// socket and hands memberlist an exact-size copy (gossip packets are
// 1,400 bytes at most). Sends are parsed without a resolver call when the
// address is an IP literal, as memberlist's always are. Otherwise it
// behaves as NetTransport: the same listeners, socket buffer, advertised
// address, accept back-off, logs and metrics.
type udpTransport struct {
	bind    string
	tcp     *net.TCPListener
	udp     *net.UDPConn
	packets chan *ml.Packet
	streams chan net.Conn
	logger  *log.Logger
	labels  []metrics.Label
	wg      sync.WaitGroup
	once    sync.Once
	closing chan struct{} // closed by Shutdown
}

var _ ml.NodeAwareTransport = (*udpTransport)(nil)

// maxUDPPacket is the largest UDP payload.
const maxUDPPacket = 65536

// udpRecvBuf is the socket receive buffer asked for, halved until the
// kernel accepts it, as NetTransport does.
const udpRecvBuf = 2 << 20

// listenTransport binds TCP and then UDP on the same port of bind (TCP
// first, so that port 0 picks a free TCP port to try for UDP).
func listenTransport(bind string, port int, logger *log.Logger, labels []metrics.Label) (*udpTransport, error) {
	ip := net.ParseIP(bind)
	if ip == nil {
		return nil, fmt.Errorf("bind address %q is not an IP address", bind)
	}
	t := &udpTransport{bind: bind, packets: make(chan *ml.Packet), streams: make(chan net.Conn), logger: logger, labels: labels,
		closing: make(chan struct{})}
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, fmt.Errorf("failed to start TCP listener on %q port %d: %v", bind, port, err)
	}
	t.tcp = tcp
	port = tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("failed to start UDP listener on %q port %d: %v", bind, port, err)
	}
	t.udp = udp
	for size := udpRecvBuf; ; size /= 2 {
		if err = udp.SetReadBuffer(size); err == nil {
			break
		}
		if size <= 1 {
			tcp.Close()
			udp.Close()
			return nil, fmt.Errorf("failed to resize UDP buffer: %v", err)
		}
	}
	t.wg.Add(2)
	go t.acceptLoop()
	go t.readLoop()
	return t, nil
}

// port returns the bound port (the same for TCP and UDP).
func (t *udpTransport) port() int { return t.tcp.Addr().(*net.TCPAddr).Port }

// FinalAdvertiseAddr returns ip and port when ip is given; otherwise a
// private address of the machine when bound to 0.0.0.0, or else the bound
// address, with the bound port.
func (t *udpTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("failed to parse advertise address %q", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		return a, port, nil
	}
	if t.bind == "0.0.0.0" {
		priv, err := sockaddr.GetPrivateIP()
		if err != nil {
			return nil, 0, fmt.Errorf("failed to get interface addresses: %v", err)
		}
		if priv == "" {
			return nil, 0, fmt.Errorf("no private IP address found, and explicit IP not provided")
		}
		a := net.ParseIP(priv)
		if a == nil {
			return nil, 0, fmt.Errorf("failed to parse advertise address: %q", priv)
		}
		return a, t.port(), nil
	}
	return t.tcp.Addr().(*net.TCPAddr).IP, t.port(), nil
}

// WriteTo sends b to addr ("ip:port" or "host:port") over UDP.
func (t *udpTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, ml.Address{Addr: addr})
}

// WriteToAddress sends b to a.Addr over UDP.
func (t *udpTransport) WriteToAddress(b []byte, a ml.Address) (time.Time, error) {
	if ap, err := netip.ParseAddrPort(a.Addr); err == nil {
		_, err = t.udp.WriteToUDPAddrPort(b, ap)
		return time.Now(), err
	}
	ua, err := net.ResolveUDPAddr("udp", a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.udp.WriteTo(b, ua)
	return time.Now(), err
}

// PacketCh returns the received packets.
func (t *udpTransport) PacketCh() <-chan *ml.Packet { return t.packets }

// DialTimeout dials addr over TCP.
func (t *udpTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(ml.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials a.Addr over TCP.
func (t *udpTransport) DialAddressTimeout(a ml.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", a.Addr)
}

// StreamCh returns the accepted TCP connections.
func (t *udpTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes both listeners and waits for their goroutines. Unlike
// NetTransport's, they do not wait for memberlist to take a last packet or
// connection, so Shutdown returns even when no memberlist reads them (one
// that failed to start).
func (t *udpTransport) Shutdown() error {
	t.once.Do(func() { close(t.closing) })
	t.tcp.Close()
	t.udp.Close()
	t.wg.Wait()
	return nil
}

// closed reports whether Shutdown has begun.
func (t *udpTransport) closed() bool {
	select {
	case <-t.closing:
		return true
	default:
		return false
	}
}

func (t *udpTransport) acceptLoop() {
	defer t.wg.Done()
	const base, most = 5 * time.Millisecond, time.Second
	var delay time.Duration
	for {
		c, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.closed() {
				return
			}
			delay = min(max(2*delay, base), most)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case t.streams <- c:
		case <-t.closing:
			c.Close()
			return
		}
	}
}

func (t *udpTransport) readLoop() {
	defer t.wg.Done()
	buf := make([]byte, maxUDPPacket)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			if t.closed() {
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 {
			t.logger.Printf("[ERR] memberlist: UDP packet too short (%d bytes) %s", n, ml.LogAddress(net.UDPAddrFromAddrPort(from)))
			continue
		}
		metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "received"}, float32(n), t.labels)
		select {
		case t.packets <- &ml.Packet{Buf: bytes.Clone(buf[:n]), From: net.UDPAddrFromAddrPort(from), Timestamp: now}:
		case <-t.closing:
			return
		}
	}
}

// netTransport binds the UDP/TCP transport for c as memberlist.Create
// would (with retries when the port is chosen by the kernel, since UDP and
// TCP must get the same one), and records the bound port in c.
func netTransport(c *ml.Config, logger *log.Logger) (*udpTransport, error) {
	tries := 1
	if c.BindPort == 0 {
		tries = 10
	}
	var err error
	for range tries {
		var t *udpTransport
		if t, err = listenTransport(c.BindAddr, c.BindPort, logger, c.MetricLabels); err == nil {
			if c.BindPort == 0 {
				c.BindPort = t.port()
				c.AdvertisePort = c.BindPort
			}
			return t, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}
