// Package kubernetesdnssrv is libcluster's
// Cluster.Strategy.Kubernetes.DNSSRV: it polls the SRV records of a
// StatefulSet's headless service,
// <service>.<namespace>.svc.<cluster domain>, and reports
// application_name@<target> for each record's target host (trailing dot
// removed), e.g. myapp@myapp-0.myapp.default.svc.cluster.local.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// (and the CLUSTER_DOMAIN variable) with [ConfigFromParams]. Config keys
// (see the README for details):
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
	"slices"
	"strings"
	"sync"
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
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// DefaultClusterDomain is the cluster domain when neither the
// cluster_domain key nor the CLUSTER_DOMAIN variable is set.
const DefaultClusterDomain = "cluster.local."

// ClusterDomainEnv is the environment variable read for the cluster domain.
const ClusterDomainEnv = "CLUSTER_DOMAIN"

// Config says which StatefulSet service to poll. Start from
// [DefaultConfig]; a zero ClusterDomain, Interval or Timeout takes its
// default.
type Config struct {
	// Service is the headless service's name, one DNS label, e.g.
	// "myapp". Key "service". Required.
	Service string
	// Namespace is the service's namespace, e.g. "default". Key
	// "namespace". Required.
	Namespace string
	// AppName is the part of every node name before '@', e.g. "myapp".
	// Key "application_name". Required.
	AppName string
	// ClusterDomain is the cluster's DNS domain, e.g. "cluster.local.".
	// Key "cluster_domain"; [ConfigFromParams] falls back to the
	// CLUSTER_DOMAIN variable. Default DefaultClusterDomain.
	ClusterDomain string
	// Interval is the time between the end of one poll and the start of
	// the next. Key "polling_interval". Default
	// strategy.DefaultPollingInterval (5s).
	Interval time.Duration
	// Resolver lists the DNS servers asked, in order, as "ip:port" or an
	// IP (port 53). Key "resolver". Default none: the servers and search
	// list of /etc/resolv.conf.
	Resolver []string
	// Timeout bounds one lookup. Key "timeout". Default
	// dnsquery's 5s.
	Timeout time.Duration
}

// DefaultConfig returns the defaults; Service, Namespace and AppName are
// left to set.
func DefaultConfig() Config {
	return Config{ClusterDomain: DefaultClusterDomain, Interval: strategy.DefaultPollingInterval, Timeout: dnsquery.DefaultTimeout}
}

// withDefaults fills the zero fields that have a default and makes the
// cluster domain absolute.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if strings.TrimSpace(c.ClusterDomain) == "" {
		c.ClusterDomain = d.ClusterDomain
	}
	c.ClusterDomain = dns.Fqdn(strings.TrimSpace(c.ClusterDomain))
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	return c
}

// A Kubernetes service name is a DNS-1035 label; a namespace a DNS-1123
// label. Both are lower case; upper case is accepted as DNS ignores case.
var label = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$`) }) // compiled on first use, not at init

// Validate reports every invalid field, by its config key; zero fields
// that have a default are valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	var ps strategy.Problems
	switch {
	case c.Service == "":
		ps.Add("service", "required; set it, e.g. service: myapp")
	case !label().MatchString(c.Service):
		ps.Add("service", "%q is not a Kubernetes service name (one DNS label: letters, digits and '-', at most 63); give the name only, e.g. myapp, and the namespace in namespace", c.Service)
	}
	switch {
	case c.Namespace == "":
		ps.Add("namespace", "required; set it, e.g. namespace: default")
	case !label().MatchString(c.Namespace):
		ps.Add("namespace", "%q is not a Kubernetes namespace name (one DNS label: letters, digits and '-', at most 63), e.g. default", c.Namespace)
	}
	switch {
	case strings.TrimSpace(c.AppName) == "":
		ps.Add("application_name", "required; set it, e.g. application_name: myapp")
	case dnsquery.CheckBasename(c.AppName) != nil:
		ps.Add("application_name", "%v", dnsquery.CheckBasename(c.AppName))
	}
	if err := dnsquery.CheckName(c.ClusterDomain); err != nil {
		ps.Add("cluster_domain", "%v", err)
	}
	if c.Interval <= 0 {
		ps.Add("polling_interval", "want a positive duration such as 5s or 5000 (milliseconds)")
	}
	for _, p := range dnsquery.CheckResolver(c.Resolver, c.Timeout) {
		ps.Add(p.Key, "%s", p.Msg)
	}
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys (and the
// CLUSTER_DOMAIN variable) into a Config and validates it, naming every
// invalid or missing key.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	d := DefaultConfig()
	c := Config{
		Service:   p.RequiredString("service", "myapp"),
		Namespace: p.RequiredString("namespace", "default"),
		AppName:   p.RequiredString("application_name", "myapp"),
		Interval:  p.PositiveDuration("polling_interval", d.Interval),
		Resolver:  p.StringList("resolver"),
		Timeout:   p.PositiveDuration("timeout", d.Timeout),
	}
	domain := p.String("cluster_domain", "")
	if domain == "" {
		domain = os.Getenv(ClusterDomainEnv)
		if strings.TrimSpace(domain) != "" {
			if err := dnsquery.CheckName(dns.Fqdn(strings.TrimSpace(domain))); err != nil {
				p.Fail("cluster_domain", "environment variable %s: %v", ClusterDomainEnv, err)
			}
		}
	}
	c.ClusterDomain = domain
	return strategy.Checked(p, c)
}

// Strategy polls the SRV records of [Strategy.QueryName] and reports
// AppName@target.
type Strategy struct {
	cfg Config
	res *dnsquery.Resolver
}

// New builds the strategy from cfg; it fails when cfg is invalid. It uses
// nothing from opts: failures are reported as error updates.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, err := dnsquery.NewResolver(cfg.Resolver, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	cfg.Resolver = slices.Clone(cfg.Resolver)
	return &Strategy{cfg: cfg, res: res}, nil
}

// Config returns the strategy's config, defaults filled in.
func (s *Strategy) Config() Config {
	c := s.cfg
	c.Resolver = slices.Clone(c.Resolver)
	return c
}

// QueryName returns the name asked for SRV records:
// <service>.<namespace>.svc.<cluster domain>, absolute.
func (s *Strategy) QueryName() string {
	return s.cfg.Service + "." + s.cfg.Namespace + ".svc." + s.cfg.ClusterDomain
}

// Source names the query, e.g. "DNS SRV myapp.default.svc.cluster.local.".
func (s *Strategy) Source() string { return "DNS SRV " + s.QueryName() }

// Discover runs one SRV lookup and returns the complete set. Targets that
// make no valid node name (e.g. "." meaning "no service") are dropped with
// the reason.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	ans, err := s.res.Lookup(ctx, s.QueryName(), dns.TypeSRV)
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
		cands = append(cands, s.cfg.AppName+"@"+target)
	}
	nodes, bad := strategy.NodesFromNames(cands)
	dropped = append(dropped, bad...)
	return libcluster.Complete(nodes).WithDropped(dropped).WithSource(s.Source() + " via " + s.res.Describe()), nil
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends — one timer chain, so once per interval.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := &strategy.Poller{Interval: s.cfg.Interval, Discover: s.Discover, Source: s.Source()}
	return p.Run(ctx, r)
}
