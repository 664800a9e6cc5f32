// Package kubernetesdns is libcluster's Cluster.Strategy.Kubernetes.DNS: it
// polls the A records of a headless Kubernetes service (one per ready pod)
// and reports application_name@ip for each as the complete current set.
//
// Config keys (see the README for details):
//
//	service           DNS name of the headless service (required), e.g.
//	                  myapp-headless.my-namespace.svc.cluster.local
//	application_name  basename of every node (required), e.g. myapp
//	polling_interval  time between polls; default 5s (integer ms or Go duration)
//	ip_family         ipv4 (A only, default, as libcluster), ipv6 (AAAA only)
//	                  or both (A and AAAA, for dual-stack services whose pods
//	                  answer on either address)
//	resolver          DNS server(s) to ask, "ip:port"; default the servers of resolv.conf
//	timeout           bound of one lookup; default 5s
//
// Unlike libcluster it polls once per interval (not twice), follows CNAME
// aliases instead of crashing on them, and keeps the last good set when a
// lookup fails.
package kubernetesdns

import (
	"context"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "kubernetes_dns",
		Aliases: []string{"Cluster.Strategy.Kubernetes.DNS", "kubernetes.dns"},
		Summary: "poll a headless service's A records: application_name@ip",
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			return FromParams(a.Params)
		},
	})
}

// The values of the ip_family key.
const (
	FamilyIPv4 = dnsquery.FamilyIPv4 // A only (default, libcluster's behaviour)
	FamilyIPv6 = dnsquery.FamilyIPv6 // AAAA only, for IPv6-only clusters
	FamilyBoth = dnsquery.FamilyBoth // A and AAAA
)

// Strategy polls the A (and/or AAAA) records of Service and reports
// AppName@ip for each address.
type Strategy struct {
	Service  string        // e.g. "myapp-headless.default.svc.cluster.local"
	AppName  string        // node basename, e.g. "myapp"
	Interval time.Duration // default strategy.DefaultPollingInterval
	Family   string        // FamilyIPv4 (default), FamilyIPv6 or FamilyBoth
	// Resolver does the lookups; nil: the system's servers, default timeout.
	Resolver *dnsquery.Resolver

	state dnsquery.AddrPoll // last good answer per family
}

// FromParams builds the strategy from libcluster's config keys, reporting
// every invalid or missing key by name.
func FromParams(p *strategy.Params) (*Strategy, error) {
	s := &Strategy{
		Service:  p.RequiredString("service", "myapp-headless.default.svc.cluster.local"),
		AppName:  p.RequiredString("application_name", "myapp"),
		Interval: p.PositiveDuration("polling_interval", strategy.DefaultPollingInterval),
		Family:   p.Enum("ip_family", FamilyIPv4, FamilyIPv4, FamilyIPv6, FamilyBoth),
		Resolver: dnsquery.FromParams(p),
	}
	dnsquery.CheckNameParam(p, "service", s.Service)
	dnsquery.CheckBasenameParam(p, "application_name", s.AppName)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Strategy) types() []uint16 { return dnsquery.FamilyTypes(s.Family, FamilyIPv4) }

// Source names the query, e.g. "DNS A myapp-headless.default.svc.cluster.local".
func (s *Strategy) Source() string { return dnsquery.AddrsSource(s.Service, s.types()) }

// Discover runs one round and returns the complete set. A record type
// whose lookup fails keeps its last good addresses while the other's answer
// is used (libcluster ignores a failing family); the round fails only when
// every type fails.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	u, _, err := s.state.Discover(ctx, s.Resolver, s.Service, s.AppName, s.types())
	return u, err
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends (one timer chain, so once per interval). A record type that
// starts failing, or fails differently, is reported once as an error
// update; the topology keeps its nodes.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	return dnsquery.PollAddrs(ctx, r, &s.state, s.Interval, s.Resolver, s.Service, s.AppName, s.types())
}
