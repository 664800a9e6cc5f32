// Package dnspoll is libcluster's Cluster.Strategy.DNSPoll: it polls a DNS
// name for A and AAAA records and reports basename@ip for every address as
// the complete current set.
//
// Config keys (see the README for details):
//
//	query             DNS name to resolve (required)
//	node_basename     basename of every node, the part before '@' (required)
//	polling_interval  time between polls; default 5s (integer ms or Go duration);
//	                  the old spelling poll_interval is accepted with a warning
//	ip_family         which records to ask: both (A and AAAA, default), ipv4, ipv6
//	resolver          DNS server(s) to ask, "ip:port"; default the servers of resolv.conf
//	timeout           bound of one lookup; default 5s
//
// Unlike libcluster, a failed lookup (NXDOMAIN, SERVFAIL, timeout) is an
// error update: the topology keeps the nodes it has and emits a
// discovery-error event instead of disconnecting everyone. With ip_family
// both, a family that fails keeps its last good set while the other's
// answer is used, and its failure is reported once per change.
package dnspoll

import (
	"context"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "dnspoll",
		Aliases: []string{"Cluster.Strategy.DNSPoll", "dns_poll"},
		Summary: "poll a DNS name's A/AAAA records: basename@ip",
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			return FromParams(a.Params)
		},
	})
}

// The values of the ip_family key.
const (
	FamilyBoth = dnsquery.FamilyBoth // A and AAAA
	FamilyIPv4 = dnsquery.FamilyIPv4 // A only
	FamilyIPv6 = dnsquery.FamilyIPv6 // AAAA only
)

// Strategy polls Query and reports Basename@ip for every address.
type Strategy struct {
	Query    string        // the name to resolve, e.g. "app.internal" or "app.internal."
	Basename string        // the node basename, e.g. "app"
	Interval time.Duration // default strategy.DefaultPollingInterval
	Family   string        // FamilyBoth (default), FamilyIPv4 or FamilyIPv6
	// Resolver does the lookups; nil: the system's servers, default timeout.
	Resolver *dnsquery.Resolver

	state dnsquery.AddrPoll // last good answer per family
}

// FromParams builds the strategy from libcluster's config keys, reporting
// every invalid or missing key by name.
func FromParams(p *strategy.Params) (*Strategy, error) {
	p.Alias("poll_interval", "polling_interval")
	s := &Strategy{
		Query:    p.RequiredString("query", "app.internal"),
		Basename: p.RequiredString("node_basename", "app"),
		Interval: p.PositiveDuration("polling_interval", strategy.DefaultPollingInterval),
		Family:   p.Enum("ip_family", FamilyBoth, FamilyBoth, FamilyIPv4, FamilyIPv6),
		Resolver: dnsquery.FromParams(p),
	}
	dnsquery.CheckNameParam(p, "query", s.Query)
	dnsquery.CheckBasenameParam(p, "node_basename", s.Basename)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Strategy) types() []uint16 { return dnsquery.FamilyTypes(s.Family, FamilyBoth) }

// Source names the query, e.g. "DNS A+AAAA app.internal".
func (s *Strategy) Source() string { return dnsquery.AddrsSource(s.Query, s.types()) }

// Discover runs one round and returns the complete set. A record type
// whose lookup fails keeps its last good addresses while the other's answer
// is used (libcluster ignores a failing family); the round fails only when
// every type fails.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	u, _, err := s.state.Discover(ctx, s.Resolver, s.Query, s.Basename, s.types())
	return u, err
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends (one timer chain, so once per interval). A record type that
// starts failing, or fails differently, is reported once as an error
// update; the topology keeps its nodes.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	return dnsquery.PollAddrs(ctx, r, &s.state, s.Interval, s.Resolver, s.Query, s.Basename, s.types())
}
