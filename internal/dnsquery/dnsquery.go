// Package dnsquery is the DNS client the DNS strategies share: it asks a
// chosen server (or the servers of resolv.conf) for one record type, over
// UDP with a retry over TCP when the answer is truncated, and tells the
// outcomes apart — records, no records (NOERROR), NXDOMAIN, SERVFAIL,
// timeout — which the standard library's resolver does not.
package dnsquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one lookup (every server, candidate name and CNAME
// hop together) when Resolver.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DefaultResolvConf is where the system's servers and search list are read.
const DefaultResolvConf = "/etc/resolv.conf"

// udpSize is the EDNS0 buffer size offered, so large answers (big
// clusters) come back whole over UDP where the server allows it.
const udpSize = 4096

// maxCNAMEHops bounds how many aliases a lookup follows.
const maxCNAMEHops = 8

// Resolver looks names up. The zero Resolver uses the system's
// configuration from resolv.conf and DefaultTimeout.
type Resolver struct {
	// Servers are the servers to ask, in order ("127.0.0.1:53",
	// "[::1]:5353"). Empty: the nameservers of ResolvConf, and names are
	// completed with its search list as the system would. When set, names
	// are taken as absolute (no search list).
	Servers []string
	// Timeout bounds one lookup. Default DefaultTimeout.
	Timeout time.Duration
	// ResolvConf is the file read when Servers is empty. Default
	// DefaultResolvConf. It is read at every lookup, so edits apply.
	ResolvConf string
}

// ParseServer checks a server address, "host:port" or just an IP (port
// 53), and returns it as "ip:port". The host must be an IP address: a name
// would itself need a DNS server to find.
func ParseServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("server %q has port 0; use the DNS server's port, e.g. %s", s, netip.AddrPortFrom(ap.Addr(), 53))
		}
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	return "", fmt.Errorf("server %q is not an IP address with an optional port; write e.g. 10.96.0.10, 10.96.0.10:53 or [fd00::a]:53", s)
}

// Error is a failed lookup. Rcode is the DNS response code when a server
// answered (dns.RcodeNameError for NXDOMAIN, dns.RcodeServerFailure for
// SERVFAIL), or -1 when none did (timeout, refused connection).
type Error struct {
	Name   string // the name asked (the last candidate tried)
	Type   string // "A", "AAAA", "SRV"
	Server string // the server that answered or failed last
	Rcode  int
	Err    error // the network error when Rcode is -1
}

// Error says what failed, where, and what to check.
func (e *Error) Error() string {
	var what, hint string
	switch {
	case e.Rcode == dns.RcodeNameError:
		what, hint = "NXDOMAIN (no such name)", "check the name and that the service exists"
	case e.Rcode == dns.RcodeServerFailure:
		what, hint = "SERVFAIL (the server could not answer)", "check the DNS server's health and upstreams"
	case e.Rcode >= 0:
		what, hint = dns.RcodeToString[e.Rcode], "check the DNS server's configuration"
		if what == "" {
			what = "rcode " + strconv.Itoa(e.Rcode)
		}
	default:
		what, hint = "no answer: "+e.Err.Error(), "check that the DNS server is running and reachable"
	}
	return fmt.Sprintf("lookup %s %s via %s: %s; %s", e.Type, e.Name, e.Server, what, hint)
}

// Unwrap returns the network error, if any.
func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports whether err is an NXDOMAIN answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Rcode == dns.RcodeNameError
}

// Answer is a successful lookup.
type Answer struct {
	Name    string   // the name whose records these are (after search and CNAMEs), absolute
	Aliases []string // CNAMEs followed, in order
	Records []dns.RR // records of the asked type; empty for NOERROR without data
	Server  string   // the server that answered
}

type config struct {
	servers []string
	search  []string
	ndots   int
}

func (r *Resolver) config() (config, error) {
	if len(r.Servers) > 0 {
		return config{servers: r.Servers, ndots: 1}, nil
	}
	path := r.ResolvConf
	if path == "" {
		path = DefaultResolvConf
	}
	c := config{ndots: 1}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		// Like the C library: no readable resolv.conf means a local server.
		c.servers = []string{"127.0.0.1:53", "[::1]:53"}
		return c, nil
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	for _, s := range cc.Servers {
		c.servers = append(c.servers, net.JoinHostPort(s, port))
	}
	if len(c.servers) == 0 {
		c.servers = []string{"127.0.0.1:53", "[::1]:53"}
	}
	c.search, c.ndots = cc.Search, cc.Ndots
	return c, nil
}

// ServerList returns the servers a lookup would ask now, for messages.
func (r *Resolver) ServerList() []string {
	c, _ := r.config()
	return c.servers
}

// candidates returns the absolute names to try for name, in order, as a
// stub resolver with this search list and ndots would.
func candidates(name string, c config) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	asIs := dns.Fqdn(name)
	first := strings.Count(name, ".") >= c.ndots
	if first {
		out = append(out, asIs)
	}
	for _, s := range c.search {
		out = append(out, dns.Fqdn(name+"."+strings.Trim(s, ".")))
	}
	if !first {
		out = append(out, asIs)
	}
	return out
}

// Lookup asks for records of qtype (dns.TypeA, dns.TypeAAAA, dns.TypeSRV)
// of name. Aliases are followed. An answer with no records of that type is
// a success with no Records; NXDOMAIN, SERVFAIL, other error rcodes and
// timeouts are an *Error.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := r.config()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, cand := range candidates(name, c) {
		ans, err := r.follow(ctx, cand, qtype, c.servers)
		if err == nil {
			return ans, nil
		}
		lastErr = err
		if !IsNotFound(err) { // only a missing name moves on to the next candidate
			break
		}
	}
	return nil, lastErr
}

// follow looks up name and the aliases it points to.
func (r *Resolver) follow(ctx context.Context, name string, qtype uint16, servers []string) (*Answer, error) {
	ans := &Answer{}
	for range maxCNAMEHops {
		msg, server, err := exchange(ctx, name, qtype, servers)
		ans.Server = server
		if err != nil {
			return nil, err
		}
		// Walk the CNAME chain in the answer section, then keep the
		// records of the asked type owned by its end.
		owner := name
		for {
			next := ""
			for _, rr := range msg.Answer {
				if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, owner) {
					next = cn.Target
					break
				}
			}
			if next == "" {
				break
			}
			ans.Aliases = append(ans.Aliases, strings.TrimSuffix(owner, "."))
			if len(ans.Aliases) > maxCNAMEHops || slices.ContainsFunc(ans.Aliases, func(a string) bool {
				return strings.EqualFold(a+".", next)
			}) {
				return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Server: server, Rcode: -1,
					Err: fmt.Errorf("CNAME chain %s -> %s loops or is longer than %d; fix the aliases", strings.Join(ans.Aliases, " -> "), next, maxCNAMEHops)}
			}
			owner = next
		}
		ans.Name = owner
		ans.Records = ans.Records[:0]
		for _, rr := range msg.Answer {
			if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, owner) {
				ans.Records = append(ans.Records, rr)
			}
		}
		if len(ans.Records) > 0 || strings.EqualFold(owner, name) {
			return ans, nil
		}
		// The chain ends at a name whose records were not included:
		// ask for them.
		name = owner
	}
	return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Server: ans.Server, Rcode: -1,
		Err: fmt.Errorf("more than %d CNAME aliases", maxCNAMEHops)}
}

// exchange asks each server in turn until one answers with NOERROR or
// NXDOMAIN; UDP first, TCP when the answer is truncated.
func exchange(ctx context.Context, name string, qtype uint16, servers []string) (*dns.Msg, string, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(udpSize, false)
	var lastErr error
	for i, server := range servers {
		// Leave later servers a share of the time.
		budget := time.Until(deadline(ctx))
		if left := len(servers) - i; left > 1 {
			budget /= time.Duration(left)
		}
		sctx, cancel := context.WithTimeout(ctx, budget)
		m, err := exchangeOne(sctx, q, server)
		cancel()
		if err != nil {
			lastErr = &Error{Name: name, Type: dns.TypeToString[qtype], Server: server, Rcode: -1, Err: err}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if m.Rcode == dns.RcodeSuccess {
			return m, server, nil
		}
		lastErr = &Error{Name: name, Type: dns.TypeToString[qtype], Server: server, Rcode: m.Rcode}
		if m.Rcode == dns.RcodeNameError {
			break // authoritative: another server would say the same
		}
	}
	if lastErr == nil {
		lastErr = &Error{Name: name, Type: dns.TypeToString[qtype], Server: "(none)", Rcode: -1, Err: errors.New("no DNS server configured")}
	}
	return nil, "", lastErr
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(DefaultTimeout)
	}
	return d
}

func exchangeOne(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: udpSize}
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timed out: %w", ctx.Err())
		}
		return nil, err
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) || m.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errors.New("the answer is for a different question")
	}
	return m, nil
}

// Addrs returns the addresses of A and AAAA records in rrs.
func Addrs(rrs []dns.RR) []netip.Addr {
	var out []netip.Addr
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok {
				out = append(out, a.Unmap())
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// NewResolver returns a Resolver asking servers (each checked by
// [ParseServer]; none: the system's) with timeout (0: DefaultTimeout). The
// error names the first bad server by its position, counted from 1.
func NewResolver(servers []string, timeout time.Duration) (*Resolver, error) {
	r := &Resolver{Timeout: timeout}
	for i, s := range servers {
		srv, err := ParseServer(s)
		if err != nil {
			return nil, fmt.Errorf("resolver item %d: %v", i+1, err)
		}
		r.Servers = append(r.Servers, srv)
	}
	return r, nil
}

// Describe names where lookups go, for sources and messages: the servers,
// or "system resolver (a, b)".
func (r *Resolver) Describe() string {
	if len(r.Servers) > 0 {
		return strings.Join(r.Servers, ", ")
	}
	return "system resolver (" + strings.Join(r.ServerList(), ", ") + ")"
}

// LookupAddrs asks for each of types (dns.TypeA, dns.TypeAAAA) in turn and
// returns every address found, in that order. It fails when any lookup
// fails, so a caller never mistakes half an answer for the whole.
func (r *Resolver) LookupAddrs(ctx context.Context, name string, types ...uint16) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, t := range types {
		ans, err := r.Lookup(ctx, name, t)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, Addrs(ans.Records)...)
	}
	return addrs, nil
}

// CheckName checks that name is a DNS name that can be asked for.
func CheckName(name string) error {
	if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.ContainsAny(name, " \t\r\n\\") {
		return fmt.Errorf("%q is not a valid DNS name; write e.g. app.internal or app.internal. (absolute)", name)
	}
	return nil
}
