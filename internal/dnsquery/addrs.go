package dnsquery

import (
	"context"
	"fmt"
	"strings"

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

// DiscoverAddrs runs one round of an address-record strategy: it looks up
// name's records of types through r (nil: OrDefault) and returns the
// complete set of basename@ip nodes. Any failed lookup fails the round,
// since half an answer would prune live nodes; the error names the lookup.
func DiscoverAddrs(ctx context.Context, r *Resolver, name, basename string, types []uint16) (libcluster.Update, error) {
	r = OrDefault(r)
	src := AddrsSource(name, types)
	addrs, err := r.LookupAddrs(ctx, name, types...)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("%s: %w", src, err)
	}
	nodes, dropped := strategy.NodesFromAddrs(basename, addrs)
	return libcluster.Update{Nodes: nodes, Dropped: dropped, Complete: true, Source: src + " via " + r.Describe()}, nil
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
