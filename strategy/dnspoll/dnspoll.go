// Package dnspoll is libcluster's Cluster.Strategy.DNSPoll: it polls a DNS
// name for A and AAAA records and reports basename@ip for every address as
// the complete current set.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys (see the README for details):
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
	"slices"
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
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// The values of the ip_family key.
const (
	FamilyBoth = dnsquery.FamilyBoth // A and AAAA
	FamilyIPv4 = dnsquery.FamilyIPv4 // A only
	FamilyIPv6 = dnsquery.FamilyIPv6 // AAAA only
)

// DefaultTimeout bounds one lookup when Config.Timeout is zero.
const DefaultTimeout = dnsquery.DefaultTimeout

// Config says what to poll. Start from [DefaultConfig]; a zero Interval,
// Family or Timeout takes its default.
type Config struct {
	// Query is the name to resolve, e.g. "app.internal" or "app.internal."
	// (absolute). Key "query". Required.
	Query string
	// Basename is the part of every node name before '@', e.g. "app".
	// Key "node_basename". Required.
	Basename string
	// Interval is the time between the end of one poll and the start of
	// the next. Key "polling_interval" (old spelling "poll_interval").
	// Default strategy.DefaultPollingInterval (5s).
	Interval time.Duration
	// Family says which records are asked: FamilyBoth (A and AAAA),
	// FamilyIPv4 (A) or FamilyIPv6 (AAAA). Key "ip_family". Default
	// FamilyBoth.
	Family string
	// Resolver lists the DNS servers asked, in order, as "ip:port" or an
	// IP (port 53). Key "resolver". Default none: the servers and search
	// list of /etc/resolv.conf, as the system does.
	Resolver []string
	// Timeout bounds one lookup (every server, search name and CNAME hop
	// together). Key "timeout". Default DefaultTimeout (5s).
	Timeout time.Duration
}

// DefaultConfig returns the defaults; Query and Basename are left to set.
func DefaultConfig() Config {
	return Config{Interval: strategy.DefaultPollingInterval, Family: FamilyBoth, Timeout: DefaultTimeout}
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

// Validate reports every invalid field, by its config key; zero fields
// that have a default are valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	return problems(dnsquery.AddrFields{
		NameKey: "query", Name: c.Query, BasenameKey: "node_basename", Basename: c.Basename,
		Interval: c.Interval, Family: c.Family, Resolver: c.Resolver, Timeout: c.Timeout,
	}.Check())
}

// problems turns dnsquery's findings into validation errors.
func problems(found []dnsquery.Problem) error {
	var ps strategy.Problems
	for _, p := range found {
		ps.Add(p.Key, "%s", p.Msg)
	}
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config and
// validates it, naming every invalid or missing key.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	p.Alias("poll_interval", "polling_interval")
	d := DefaultConfig()
	c := Config{
		Query:    p.RequiredString("query", "app.internal"),
		Basename: p.RequiredString("node_basename", "app"),
		Interval: p.PositiveDuration("polling_interval", d.Interval),
		Family:   p.Enum("ip_family", d.Family, FamilyBoth, FamilyIPv4, FamilyIPv6),
		Resolver: p.StringList("resolver"),
		Timeout:  p.PositiveDuration("timeout", d.Timeout),
	}
	return strategy.Checked(p, c)
}

// Strategy polls a name and reports basename@ip for every address.
type Strategy struct {
	cfg   Config
	res   *dnsquery.Resolver
	types []uint16
	state dnsquery.AddrPoll // last good answer per family
}

// New builds the strategy from cfg; it fails when cfg is invalid. It uses
// nothing from opts: failures are reported as error updates, which the
// topology logs.
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
	return &Strategy{
		cfg:   cfg,
		res:   res,
		types: dnsquery.FamilyTypes(cfg.Family, FamilyBoth),
	}, nil
}

// Config returns the strategy's config, defaults filled in.
func (s *Strategy) Config() Config {
	c := s.cfg
	c.Resolver = slices.Clone(c.Resolver)
	return c
}

// Source names the query, e.g. "DNS A+AAAA app.internal".
func (s *Strategy) Source() string { return dnsquery.AddrsSource(s.cfg.Query, s.types) }

// Discover runs one round and returns the complete set. A record type
// whose lookup fails keeps its last good addresses while the other's answer
// is used (libcluster ignores a failing family); the round fails only when
// every type fails.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	u, _, err := s.discover(ctx)
	return u, err
}

func (s *Strategy) discover(ctx context.Context) (u libcluster.Update, warn, err error) {
	addrs, source, warn, err := s.state.Discover(ctx, s.res, s.cfg.Query, s.types)
	if err != nil {
		return libcluster.Update{}, nil, err
	}
	nodes, dropped := strategy.NodesFromAddrs(s.cfg.Basename, addrs)
	return libcluster.Complete(nodes).WithDropped(dropped).WithSource(source), warn, nil
}

// Run polls until ctx ends: the first poll at once, the next Interval after
// each one ends (one timer chain, so once per interval). A record type that
// starts failing, or fails differently, is reported once as an error
// update before the round's complete set; the topology keeps its nodes.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	src := s.Source()
	poller := &strategy.Poller{Interval: s.cfg.Interval, Source: src, Discover: func(ctx context.Context) (libcluster.Update, error) {
		u, warn, err := s.discover(ctx)
		if warn != nil {
			r.Report(libcluster.Failed(warn).WithSource(src))
		}
		return u, err
	}}
	return poller.Run(ctx, r)
}
