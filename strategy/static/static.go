// Package static is the static host list strategy, libcluster's
// Cluster.Strategy.Epmd: it reports a fixed list of node names, and the
// topology connects them and keeps retrying any that are down.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys (strategy name "epmd"):
//
//	hosts    list of node names, e.g. [app@10.0.0.1, app@10.0.0.2]; empty: nothing to do
//	timeout  libcluster's re-connect period (integer ms, Go duration, or
//	         "infinity", the default); see the package README for how it
//	         relates to the topology's back-off
package static

import (
	"context"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "epmd",
		Aliases: []string{"Cluster.Strategy.Epmd", "static"},
		Summary: "a fixed list of node names",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config is what the static strategy reports. The zero value is valid
// and has nothing to report.
type Config struct {
	// Hosts are the nodes to connect. Key "hosts". Default none: Run
	// returns at once (libcluster's :ignore).
	Hosts []libcluster.Node
	// Timeout, when positive, re-reports Hosts at that period, like
	// libcluster's timeout. The topology retries failed nodes with
	// back-off whether or not it is set. Key "timeout". Default 0
	// ("infinity"): reported once.
	Timeout time.Duration
}

// DefaultConfig returns the defaults: no hosts, reported once.
func DefaultConfig() Config { return Config{} }

// Validate reports every invalid field.
func (c Config) Validate() error {
	var ps strategy.Problems
	for i, h := range c.Hosts {
		if _, err := libcluster.ParseNode(string(h)); err != nil {
			ps.Add("hosts", "item %d: %v", i+1, err)
		}
	}
	ps.NotNegative("timeout", c.Timeout, "5s, or infinity")
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	c := DefaultConfig()
	c.Timeout = p.Duration("timeout", c.Timeout)
	for i, h := range p.StringList("hosts") {
		n, err := libcluster.ParseNode(h)
		if err != nil {
			p.Fail("hosts", "item %d: %v", i+1, err)
			continue
		}
		c.Hosts = append(c.Hosts, n)
	}
	return strategy.Checked(p, c)
}

// FromParams decodes libcluster's config keys and builds the strategy.
//
// Deprecated: use [ConfigFromParams] and [New].
func FromParams(p *strategy.Params) (*Strategy, error) {
	c, err := ConfigFromParams(p)
	if err != nil {
		return nil, err
	}
	return New(c, strategy.Options{})
}

// Strategy reports its hosts as seen. It never removes a node: a static
// list has no notion of a node leaving.
type Strategy struct {
	hosts   []libcluster.Node
	timeout time.Duration
}

// New builds the strategy from cfg; it fails when cfg is invalid. It uses
// nothing from opts: a static list needs nothing from the runtime.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Strategy{hosts: append([]libcluster.Node(nil), cfg.Hosts...), timeout: cfg.Timeout}, nil
}

// Discover returns the host list.
func (s *Strategy) Discover(context.Context) (libcluster.Update, error) {
	return libcluster.Seen(s.hosts).WithSource("static hosts list"), nil
}

// Run reports the hosts at once and then every Timeout. With no hosts it
// returns nil at once (libcluster's :ignore).
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	if len(s.hosts) == 0 {
		return nil
	}
	u, _ := s.Discover(ctx)
	r.Report(u)
	if s.timeout <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Report(u)
		}
	}
}
