// Package kubernetesdnssrv is libcluster's
// Cluster.Strategy.Kubernetes.DNSSRV: it polls the SRV records of a
// StatefulSet's headless service,
// <service>.<namespace>.svc.<cluster domain>, and reports
// application_name@<target> for each record's target host (trailing dot
// removed), e.g. myapp@myapp-0.myapp.default.svc.cluster.local.
//
// Config keys (see the README for details):
//
//	service           headless service name (required), e.g. myapp
//	namespace         the service's namespace (required), e.g. default
//	application_name  basename of every node (required), e.g. myapp
//	cluster_domain    the cluster's DNS domain; default the CLUSTER_DOMAIN
//	                  environment variable, else cluster.local.
//	polling_interval  time between polls; default 5s (integer ms or Go duration)
//	resolver          DNS server(s) to ask, "ip:port"; default the servers of resolv.conf
//	timeout           bound of one lookup; default 5s
//
// Unlike libcluster it polls once per interval (not twice), reports a
// missing namespace as a config error instead of crashing, and keeps the
// last good set when a lookup fails.
package kubernetesdnssrv

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "kubernetes_dnssrv",
		Aliases: []string{"Cluster.Strategy.Kubernetes.DNSSRV", "kubernetes.dnssrv"},
		Summary: "poll a StatefulSet service's SRV records: application_name@pod-hostname",
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			return FromParams(a.Params)
		},
	})
}

// DefaultClusterDomain is the cluster domain when neither the
// cluster_domain key nor the CLUSTER_DOMAIN variable is set.
const DefaultClusterDomain = "cluster.local."

// ClusterDomainEnv is the environment variable read for the cluster domain.
const ClusterDomainEnv = "CLUSTER_DOMAIN"

// Strategy polls the SRV records of QueryName and reports AppName@target.
type Strategy struct {
	Service       string        // e.g. "myapp"
	Namespace     string        // e.g. "default"
	ClusterDomain string        // e.g. "cluster.local."; default DefaultClusterDomain
	AppName       string        // node basename, e.g. "myapp"
	Interval      time.Duration // default strategy.DefaultPollingInterval
	// Resolver does the lookups; nil: the system's servers, default timeout.
	Resolver *dnsquery.Resolver
}

// A Kubernetes service name is a DNS-1035 label; a namespace a DNS-1123
// label. Both are lower case; upper case is accepted as DNS ignores case.
var label = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$`)

// FromParams builds the strategy from libcluster's config keys (and the
// CLUSTER_DOMAIN variable), reporting every invalid or missing key by name.
func FromParams(p *strategy.Params) (*Strategy, error) {
	s := &Strategy{
		Service:   p.RequiredString("service", "myapp"),
		Namespace: p.RequiredString("namespace", "default"),
		AppName:   p.RequiredString("application_name", "myapp"),
		Interval:  p.PositiveDuration("polling_interval", strategy.DefaultPollingInterval),
		Resolver:  dnsquery.FromParams(p),
	}
	if s.Service != "" && !label.MatchString(s.Service) {
		p.Fail("service", "%q is not a Kubernetes service name (one DNS label: letters, digits and '-', at most 63); give the name only, e.g. myapp, and the namespace in namespace", s.Service)
	}
	if s.Namespace != "" && !label.MatchString(s.Namespace) {
		p.Fail("namespace", "%q is not a Kubernetes namespace name (one DNS label: letters, digits and '-', at most 63), e.g. default", s.Namespace)
	}
	dnsquery.CheckBasenameParam(p, "application_name", s.AppName)
	domain, key := p.String("cluster_domain", ""), "cluster_domain"
	if domain == "" {
		domain, key = os.Getenv(ClusterDomainEnv), "environment variable "+ClusterDomainEnv
	}
	if strings.TrimSpace(domain) == "" {
		domain = DefaultClusterDomain
	}
	s.ClusterDomain = dns.Fqdn(strings.TrimSpace(domain))
	if err := dnsquery.CheckName(s.ClusterDomain); err != nil {
		p.Fail("cluster_domain", "%s: %v", key, err)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// QueryName returns the name asked for SRV records:
// <service>.<namespace>.svc.<cluster domain>, absolute.
func (s *Strategy) QueryName() string {
	d := s.ClusterDomain
	if d == "" {
		d = DefaultClusterDomain
	}
	return s.Service + "." + s.Namespace + ".svc." + dns.Fqdn(d)
}

// Source names the query, e.g. "DNS SRV myapp.default.svc.cluster.local.".
func (s *Strategy) Source() string { return "DNS SRV " + s.QueryName() }

// Discover runs one SRV lookup and returns the complete set. Targets that
// make no valid node name (e.g. "." meaning "no service") are dropped with
// the reason.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	ans, err := dnsquery.OrDefault(s.Resolver).Lookup(ctx, s.QueryName(), dns.TypeSRV)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("%s: %w", s.Source(), err)
	}
	var cands []string
	var dropped []libcluster.Dropped
	for _, rr := range ans.Records {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		target := strings.TrimSuffix(srv.Target, ".")
		if target == "" {
			dropped = append(dropped, libcluster.Dropped{Candidate: srv.String(), Reason: "target \".\" means the service is not available"})
			continue
		}
		cands = append(cands, s.AppName+"@"+target)
	}
	nodes, bad := strategy.NodesFromNames(cands)
	dropped = append(dropped, bad...)
	return libcluster.Complete(nodes).WithDropped(dropped).WithSource(s.Source() + " via " + dnsquery.OrDefault(s.Resolver).Describe()), nil
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends — one timer chain, so once per interval.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := &strategy.Poller{Interval: s.Interval, Discover: s.Discover, Source: s.Source()}
	return p.Run(ctx, r)
}
