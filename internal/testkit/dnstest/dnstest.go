// Package dnstest runs a real DNS server on loopback for tests: one
// in-process server answering on real UDP and TCP sockets bound to the same
// free port of 127.0.0.1.
//
// Records are set per name and can be replaced at any time; a name can be
// made to answer NXDOMAIN or SERVFAIL; the server can be stopped and started
// again on the same port to simulate an outage; and every query is counted
// and time-stamped per name and type, so a test can show how often a client
// polls.
//
//	srv := dnstest.New(t)                     // stopped by t.Cleanup
//	srv.SetA("app.test", "127.0.0.1", "127.0.0.2")
//	// point the client at srv.Addr()
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TTL is the time to live of every record the server returns, in seconds.
const TTL = 5

// SRV is one SRV record's data.
type SRV struct {
	Target   string // host name; a trailing dot is added when missing
	Port     uint16
	Priority uint16
	Weight   uint16
}

// Query is one query the server received.
type Query struct {
	Name  string // lower case, absolute (with the trailing dot)
	Type  uint16 // dns.TypeA, dns.TypeAAAA, ...
	Net   string // "udp" or "tcp"
	Time  time.Time
	Rcode int // the rcode answered
}

type entry struct {
	a, aaaa []netip.Addr
	srv     []SRV
	cname   string
	rcode   int            // dns.RcodeSuccess unless forced
	byType  map[uint16]int // rcodes forced for one record type only
}

// Server is a DNS server on loopback. All methods are safe for concurrent
// use. The zero Server is not usable; call [Start] or [New].
type Server struct {
	addr netip.AddrPort

	mu          sync.Mutex
	names       map[string]*entry
	queries     []Query
	truncateUDP bool
	running     bool
	udp         *dns.Server
	tcp         *dns.Server
	done        chan struct{}
}

// New starts a server for the test and stops it in t.Cleanup. It fails
// the test when no socket can be opened.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts a server on a free port of 127.0.0.1 (the same port for UDP
// and TCP). Call Stop when done.
func Start() (*Server, error) {
	s := &Server{names: map[string]*entry{}}
	var lastErr error
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen on a TCP port of 127.0.0.1: %w", err)
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err != nil { // the UDP port is taken; try another
			l.Close()
			lastErr = err
			continue
		}
		s.addr = l.Addr().(*net.TCPAddr).AddrPort()
		s.serve(l, pc)
		return s, nil
	}
	return nil, fmt.Errorf("find a port free for both UDP and TCP on 127.0.0.1: %w", lastErr)
}

// Addr returns the server's address as "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr.String() }

// AddrPort returns the server's address.
func (s *Server) AddrPort() netip.AddrPort { return s.addr }

func (s *Server) serve(l net.Listener, pc net.PacketConn) {
	udp := &dns.Server{PacketConn: pc, Handler: s.handler("udp")}
	tcp := &dns.Server{Listener: l, Handler: s.handler("tcp")}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = udp.ActivateAndServe() })
	wg.Go(func() { _ = tcp.ActivateAndServe() })
	go func() { wg.Wait(); close(done) }()
	<-started
	<-started
	s.mu.Lock()
	s.udp, s.tcp, s.done, s.running = udp, tcp, done, true
	s.mu.Unlock()
}

// Stop closes both sockets and waits until the server has stopped. Queries
// sent meanwhile get no answer (UDP: "connection refused" on loopback). It
// is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	udp, tcp, done := s.udp, s.tcp, s.done
	s.running = false
	s.mu.Unlock()
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	<-done
}

// Restart starts a stopped server again on the same port, keeping its
// records and counters.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		return errors.New("dnstest: server is running; Stop it first")
	}
	var err error
	for range 50 { // the port may linger briefly after close
		var l net.Listener
		l, err = net.Listen("tcp", s.addr.String())
		if err == nil {
			var pc net.PacketConn
			pc, err = net.ListenPacket("udp", s.addr.String())
			if err == nil {
				s.serve(l, pc)
				return nil
			}
			l.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("dnstest: restart on %s: %w", s.addr, err)
}

func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

func (s *Server) edit(name string, f func(e *entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := fqdn(name)
	e := s.names[k]
	if e == nil {
		e = &entry{}
		s.names[k] = e
	}
	f(e)
}

func parseAddrs(ips []string, want4 bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		a := netip.MustParseAddr(ip)
		if a.Is4() != want4 {
			panic(fmt.Sprintf("dnstest: %s is not an IPv%s address", ip, map[bool]string{true: "4", false: "6"}[want4]))
		}
		out = append(out, a)
	}
	return out
}

// SetA replaces the A records of name (no addresses: none, the name still
// exists). It clears a forced NXDOMAIN or SERVFAIL. It panics on an address
// that is not IPv4, a mistake in the test.
func (s *Server) SetA(name string, ips ...string) {
	addrs := parseAddrs(ips, true)
	s.edit(name, func(e *entry) { e.a, e.rcode = addrs, dns.RcodeSuccess })
}

// SetAAAA replaces the AAAA records of name, like SetA.
func (s *Server) SetAAAA(name string, ips ...string) {
	addrs := parseAddrs(ips, false)
	s.edit(name, func(e *entry) { e.aaaa, e.rcode = addrs, dns.RcodeSuccess })
}

// SetSRV replaces the SRV records of name.
func (s *Server) SetSRV(name string, recs ...SRV) {
	s.edit(name, func(e *entry) { e.srv, e.rcode = append([]SRV(nil), recs...), dns.RcodeSuccess })
}

// SetCNAME makes name an alias of target. A query for name answers the
// CNAME followed by target's records of the asked type.
func (s *Server) SetCNAME(name, target string) {
	s.edit(name, func(e *entry) { e.cname, e.rcode = fqdn(target), dns.RcodeSuccess })
}

// SetNXDOMAIN makes name answer NXDOMAIN (the name does not exist).
func (s *Server) SetNXDOMAIN(name string) {
	s.edit(name, func(e *entry) { e.rcode = dns.RcodeNameError })
}

// SetSERVFAIL makes name answer SERVFAIL (the server failed).
func (s *Server) SetSERVFAIL(name string) {
	s.edit(name, func(e *entry) { e.rcode = dns.RcodeServerFailure })
}

// SetTypeRcode makes queries for name of type qtype alone answer rcode
// (dns.RcodeRefused, dns.RcodeServerFailure, ...), as a server that
// refuses AAAA for a name it holds only A records for does;
// dns.RcodeSuccess clears it. Other types answer as before.
func (s *Server) SetTypeRcode(name string, qtype uint16, rcode int) {
	s.edit(name, func(e *entry) {
		if e.byType == nil {
			e.byType = map[uint16]int{}
		}
		if rcode == dns.RcodeSuccess {
			delete(e.byType, qtype)
		} else {
			e.byType[qtype] = rcode
		}
	})
}

// Remove forgets name: queries for it answer NXDOMAIN, as for any name
// never set.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, fqdn(name))
}

// TruncateUDP makes every UDP answer empty with the TC (truncated) bit
// set, so a client must retry over TCP to see the records.
func (s *Server) TruncateUDP(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncateUDP = on
}

// Queries returns how many queries for name of type qtype arrived (over
// UDP and TCP).
func (s *Server) Queries(name string, qtype uint16) int {
	return len(s.QueryLog(name, qtype))
}

// QueryLog returns the queries for name of type qtype, oldest first.
// qtype 0 matches every type.
func (s *Server) QueryLog(name string, qtype uint16) []Query {
	k := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Query
	for _, q := range s.queries {
		if q.Name == k && (qtype == 0 || q.Type == qtype) {
			out = append(out, q)
		}
	}
	return out
}

func (s *Server) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		if len(req.Question) != 1 {
			m.SetRcode(req, dns.RcodeFormatError)
			_ = w.WriteMsg(m)
			return
		}
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		s.mu.Lock()
		s.answer(m, q, network)
		s.queries = append(s.queries, Query{
			Name: strings.ToLower(q.Name), Type: q.Qtype, Net: network, Time: time.Now(), Rcode: m.Rcode,
		})
		s.mu.Unlock()
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		_ = w.WriteMsg(m)
	}
}

// answer fills m; s.mu is held.
func (s *Server) answer(m *dns.Msg, q dns.Question, network string) {
	name := strings.ToLower(q.Name)
	for range 8 { // follow CNAMEs inside the zone
		e := s.names[name]
		if e == nil {
			m.Rcode = dns.RcodeNameError
			return
		}
		if e.rcode != dns.RcodeSuccess {
			m.Rcode = e.rcode
			return
		}
		if rc, ok := e.byType[q.Qtype]; ok {
			m.Rcode = rc
			return
		}
		if e.cname != "" && q.Qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: e.cname})
			name = e.cname
			continue
		}
		if network == "udp" && s.truncateUDP {
			m.Answer = nil
			m.Truncated = true
			return
		}
		switch q.Qtype {
		case dns.TypeA:
			for _, a := range e.a {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: a.AsSlice()})
			}
		case dns.TypeAAAA:
			for _, a := range e.aaaa {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		case dns.TypeSRV:
			for _, r := range e.srv {
				m.Answer = append(m.Answer, &dns.SRV{
					Hdr: hdr(name, dns.TypeSRV), Priority: r.Priority, Weight: r.Weight,
					Port: r.Port, Target: dns.Fqdn(r.Target),
				})
			}
		}
		return
	}
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
}
