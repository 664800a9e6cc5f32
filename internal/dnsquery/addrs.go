package dnsquery

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// The values of the ip_family key of the address-record strategies.
const (
	FamilyBoth = "both" // A and AAAA
	FamilyIPv4 = "ipv4" // A only
	FamilyIPv6 = "ipv6" // AAAA only
)

// FamilyTypes returns the record types an ip_family value asks for, A
// before AAAA. An empty or unknown family counts as def, the strategy's
// default family.
func FamilyTypes(family, def string) []uint16 {
	switch family {
	case FamilyBoth, FamilyIPv4, FamilyIPv6:
	default:
		family = def
	}
	switch family {
	case FamilyIPv4:
		return []uint16{dns.TypeA}
	case FamilyIPv6:
		return []uint16{dns.TypeAAAA}
	}
	return []uint16{dns.TypeA, dns.TypeAAAA}
}

// AddrsSource names an address lookup for updates and messages, e.g.
// "DNS A+AAAA app.internal".
func AddrsSource(name string, types []uint16) string {
	ts := make([]string, len(types))
	for i, t := range types {
		ts[i] = dns.TypeToString[t]
	}
	return "DNS " + strings.Join(ts, "+") + " " + name
}

// OrDefault returns r, or for nil a Resolver that asks the system's
// servers with the default timeout.
func OrDefault(r *Resolver) *Resolver {
	if r == nil {
		return &Resolver{}
	}
	return r
}

// AddrPoll is the state an address-record strategy keeps across polls:
// per record type (family), the last good answer and the failure last
// reported. The zero AddrPoll is ready; it is safe for concurrent use.
type AddrPoll struct {
	mu      sync.Mutex
	last    map[uint16][]netip.Addr // last good addresses per type
	failing map[uint16]string       // the failure last reported per type
}

// Discover runs one round of an address-record strategy: it looks up
// name's records of each of types through r (nil: OrDefault) and returns
// the complete set of basename@ip nodes.
//
// Families are independent, as in libcluster, which ignores a family that
// fails: a type whose lookup fails contributes its own last good addresses
// (none if it never answered), so its live nodes are not pruned, and the
// other types' answers are used. The round fails (err) only when every type
// fails. warn is non-nil when a type's failure is new or has changed since
// the last round, so a caller reports it once per change, not every poll.
func (p *AddrPoll) Discover(ctx context.Context, r *Resolver, name, basename string, types []uint16) (u libcluster.Update, warn, err error) {
	r = OrDefault(r)
	src := AddrsSource(name, types)
	var addrs []netip.Addr
	var fails, news []string
	var errs []any
	ok := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last, p.failing = map[uint16][]netip.Addr{}, map[uint16]string{}
	}
	for _, t := range types {
		ans, lerr := r.Lookup(ctx, name, t)
		if lerr != nil {
			if ctx.Err() != nil {
				return libcluster.Update{}, nil, fmt.Errorf("%s: %w", src, lerr)
			}
			msg := lerr.Error()
			if p.failing[t] != msg {
				news = append(news, fmt.Sprintf("%s (keeping its last good set of %d addresses)", msg, len(p.last[t])))
			}
			p.failing[t] = msg
			fails = append(fails, msg)
			errs = append(errs, lerr)
			addrs = append(addrs, p.last[t]...)
			continue
		}
		ok++
		delete(p.failing, t)
		p.last[t] = Addrs(ans.Records)
		addrs = append(addrs, p.last[t]...)
	}
	if ok == 0 {
		// Every type failed: the round fails, wrapping each lookup error.
		return libcluster.Update{}, nil, fmt.Errorf("%s: "+strings.Repeat("; %w", len(errs))[2:], append([]any{src}, errs...)...)
	}
	if len(news) > 0 {
		warn = fmt.Errorf("%s: %s; the other record type's answer is used", src, strings.Join(news, "; "))
	}
	nodes, dropped := strategy.NodesFromAddrs(basename, addrs)
	source := src + " via " + r.Describe()
	if len(fails) > 0 {
		source += " (failing, last good set kept: " + strings.Join(fails, "; ") + ")"
	}
	return libcluster.Complete(nodes).WithDropped(dropped).WithSource(source), warn, nil
}

// PollAddrs runs an address-record strategy until ctx ends: Discover
// every interval, with each new or changed per-type failure reported once
// as an error update before the round's complete set.
func PollAddrs(ctx context.Context, rep libcluster.Reporter, p *AddrPoll, interval time.Duration, r *Resolver, name, basename string, types []uint16) error {
	src := AddrsSource(name, types)
	poller := &strategy.Poller{Interval: interval, Source: src, Discover: func(ctx context.Context) (libcluster.Update, error) {
		u, warn, err := p.Discover(ctx, r, name, basename, types)
		if warn != nil {
			rep.Report(libcluster.Failed(warn).WithSource(src))
		}
		return u, err
	}}
	return poller.Run(ctx, rep)
}

// CheckNameParam records in p that key is invalid when its value is set
// but is no DNS name that can be asked for.
func CheckNameParam(p *strategy.Params, key, name string) {
	if name == "" {
		return
	}
	if err := CheckName(name); err != nil {
		p.Fail(key, "%v", err)
	}
}

// CheckBasenameParam records in p that key is invalid when its value is
// set but makes no valid node name basename@ip.
func CheckBasenameParam(p *strategy.Params, key, basename string) {
	if basename == "" {
		return
	}
	if _, err := libcluster.ParseNode(basename + "@127.0.0.1"); err != nil {
		p.Fail(key, "%q makes no valid node name; use letters, digits, '_', '-' or '.'", basename)
	}
}
