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
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

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
	FamilyIPv4 = "ipv4" // A only (default, libcluster's behaviour)
	FamilyIPv6 = "ipv6" // AAAA only, for IPv6-only clusters
	FamilyBoth = "both" // A and AAAA
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
	if s.Service != "" {
		if err := dnsquery.CheckName(s.Service); err != nil {
			p.Fail("service", "%v", err)
		}
	}
	if s.AppName != "" {
		if _, err := libcluster.ParseNode(s.AppName + "@127.0.0.1"); err != nil {
			p.Fail("application_name", "%q makes no valid node name; use letters, digits, '_', '-' or '.'", s.AppName)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Strategy) types() []uint16 {
	switch s.Family {
	case FamilyIPv6:
		return []uint16{dns.TypeAAAA}
	case FamilyBoth:
		return []uint16{dns.TypeA, dns.TypeAAAA}
	}
	return []uint16{dns.TypeA}
}

// Source names the query, e.g. "DNS A myapp-headless.default.svc.cluster.local".
func (s *Strategy) Source() string {
	var ts []string
	for _, t := range s.types() {
		ts = append(ts, dns.TypeToString[t])
	}
	return "DNS " + strings.Join(ts, "+") + " " + s.Service
}

func (s *Strategy) resolver() *dnsquery.Resolver {
	if s.Resolver == nil {
		return &dnsquery.Resolver{}
	}
	return s.Resolver
}

// Discover runs one lookup round and returns the complete set.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	addrs, err := s.resolver().LookupAddrs(ctx, s.Service, s.types()...)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("%s: %w", s.Source(), err)
	}
	nodes, dropped := strategy.NodesFromAddrs(s.AppName, addrs)
	return libcluster.Update{Nodes: nodes, Dropped: dropped, Complete: true, Source: s.Source() + " via " + s.resolver().Describe()}, nil
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends — one timer chain, so once per interval.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := &strategy.Poller{Interval: s.Interval, Discover: s.Discover, Source: s.Source()}
	return p.Run(ctx, r)
}
