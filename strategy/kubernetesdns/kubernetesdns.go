// Package kubernetesdns is libcluster's Cluster.Strategy.Kubernetes.DNS: it
// polls the A records of a headless Kubernetes service (one per ready pod)
// and reports application_name@ip for each as the complete current set.
//
// It is [dnspoll] under Kubernetes' key names with IPv4 as the default
// family, and runs dnspoll's strategy; importing it registers both.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys (see the README for details):
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
	"time"

	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/dnspoll"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "kubernetes_dns",
		Aliases: []string{"Cluster.Strategy.Kubernetes.DNS", "kubernetes.dns"},
		Summary: "poll a headless service's A records: application_name@ip",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// The values of the ip_family key.
const (
	FamilyIPv4 = dnsquery.FamilyIPv4 // A only (default, libcluster's behaviour)
	FamilyIPv6 = dnsquery.FamilyIPv6 // AAAA only, for IPv6-only clusters
	FamilyBoth = dnsquery.FamilyBoth // A and AAAA
)

// Config says which service to poll. Start from [DefaultConfig]; a zero
// Interval, Family or Timeout takes its default.
type Config struct {
	// Service is the DNS name of the headless service, e.g.
	// "myapp-headless.default.svc.cluster.local". Key "service". Required.
	Service string
	// AppName is the part of every node name before '@', e.g. "myapp".
	// Key "application_name". Required.
	AppName string
	// Interval is the time between the end of one poll and the start of
	// the next. Key "polling_interval". Default
	// strategy.DefaultPollingInterval (5s).
	Interval time.Duration
	// Family says which records are asked: FamilyIPv4 (A), FamilyIPv6
	// (AAAA) or FamilyBoth. Key "ip_family". Default FamilyIPv4, as
	// libcluster.
	Family string
	// Resolver lists the DNS servers asked, in order, as "ip:port" or an
	// IP (port 53). Key "resolver". Default none: the servers and search
	// list of /etc/resolv.conf.
	Resolver []string
	// Timeout bounds one lookup. Key "timeout". Default
	// dnspoll.DefaultTimeout (5s).
	Timeout time.Duration
}

// DefaultConfig returns the defaults; Service and AppName are left to set.
func DefaultConfig() Config {
	d := dnspoll.DefaultConfig()
	return Config{Interval: d.Interval, Family: FamilyIPv4, Timeout: d.Timeout}
}

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Family == "" {
		c.Family = d.Family
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	return c
}

// poll is c as dnspoll's Config, with c's defaults filled in.
func (c Config) poll() dnspoll.Config {
	c = c.withDefaults()
	return dnspoll.Config{Query: c.Service, Basename: c.AppName, Interval: c.Interval, Family: c.Family, Resolver: c.Resolver, Timeout: c.Timeout}
}

// Validate reports every invalid field, by its config key.
func (c Config) Validate() error {
	var ps strategy.Problems
	c = c.withDefaults()
	f := dnsquery.AddrFields{
		NameKey: "service", Name: c.Service, BasenameKey: "application_name", Basename: c.AppName,
		Interval: c.Interval, Family: c.Family, Resolver: c.Resolver, Timeout: c.Timeout,
	}
	for _, p := range f.Check() {
		ps.Add(p.Key, "%s", p.Msg)
	}
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config and
// validates it, naming every invalid or missing key.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	d := DefaultConfig()
	c := Config{
		Service:  p.RequiredString("service", "myapp-headless.default.svc.cluster.local"),
		AppName:  p.RequiredString("application_name", "myapp"),
		Interval: p.PositiveDuration("polling_interval", d.Interval),
		Family:   p.Enum("ip_family", d.Family, FamilyIPv4, FamilyIPv6, FamilyBoth),
		Resolver: p.StringList("resolver"),
		Timeout:  p.PositiveDuration("timeout", d.Timeout),
	}
	return strategy.Checked(p, c)
}

// Strategy polls the service's records and reports AppName@ip for each
// address: dnspoll's strategy, whose Source is e.g.
// "DNS A myapp-headless.default.svc.cluster.local".
type Strategy = dnspoll.Strategy

// New builds the strategy from cfg; it fails when cfg is invalid.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return dnspoll.New(cfg.poll(), opts)
}
