// Package localepmd is libcluster's Cluster.Strategy.LocalEpmd: every node
// registered with the EPMD on this host becomes a peer, named
// <registered name>@<host part of this node's own name>.
//
// Unlike libcluster, which asks EPMD once at start-up, it keeps asking
// every polling_interval, so nodes started later on this host join too.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys:
//
//	polling_interval     default 5s
//	epmd_port            default ERL_EPMD_PORT, else 4369
//	host                 default the host part of this node's name
//	remove_unregistered  default false: a node is never removed (libcluster)
package localepmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "localepmd",
		Aliases: []string{"Cluster.Strategy.LocalEpmd", "local_epmd"},
		Summary: "every node registered with this host's EPMD",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// DefaultQueryTimeout bounds one NAMES request to the local EPMD.
const DefaultQueryTimeout = 2 * time.Second

// Config says which EPMD to ask and how often. A zero field takes its
// default, so a struct literal names only what it changes.
type Config struct {
	// Host, when set, is the host part of the peers' names instead of the
	// host part of this node's own name (strategy.Options.Self). Key
	// "host". Default "".
	Host string
	// EPMDPort is the local EPMD's port. Key "epmd_port". Default 0:
	// epmd.Port() (ERL_EPMD_PORT, else 4369).
	EPMDPort int
	// PollingInterval is the time between queries. Key
	// "polling_interval". Default 0: strategy.DefaultPollingInterval (5s).
	PollingInterval time.Duration
	// RemoveUnregistered makes every answer a complete set, so a node that
	// is no longer registered leaves the desired set (and is disconnected
	// per the topology's prune policy). When false, the default, nodes are
	// only added, as libcluster never disconnects anything. Key
	// "remove_unregistered".
	RemoveUnregistered bool
}

// DefaultConfig returns the defaults with every field spelled out:
// EPMDPort epmd.Port(), PollingInterval strategy.DefaultPollingInterval.
func DefaultConfig() Config {
	return Config{EPMDPort: epmd.Port(), PollingInterval: strategy.DefaultPollingInterval}
}

// withDefaults fills the zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.EPMDPort == 0 {
		c.EPMDPort = d.EPMDPort
	}
	if c.PollingInterval == 0 {
		c.PollingInterval = d.PollingInterval
	}
	return c
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var ps strategy.Problems
	if c.Host != "" {
		if _, err := libcluster.ParseNode("x@" + c.Host); err != nil {
			ps.Add("host", "%q is not a host name or address; use the host part of your node names, e.g. 127.0.0.1", c.Host)
		}
	}
	ps.Port("epmd_port", c.EPMDPort)
	ps.NotNegative("polling_interval", c.PollingInterval, "5s")
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	d := DefaultConfig()
	c := Config{
		Host:               p.String("host", d.Host),
		EPMDPort:           p.IntRange("epmd_port", d.EPMDPort, 1, 65535),
		PollingInterval:    p.PositiveDuration("polling_interval", d.PollingInterval),
		RemoveUnregistered: p.Bool("remove_unregistered", d.RemoveUnregistered),
	}
	return strategy.Checked(p, c)
}

// Strategy asks the local EPMD for its registered names every polling
// interval.
type Strategy struct {
	cfg  Config
	self libcluster.Node
}

// New builds the strategy. opts.Self is this node: its host part is
// appended to every registered name (unless cfg.Host is set), and its own
// name is left out. It fails when cfg is invalid or there is no host to
// name peers with.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" && opts.Self == "" {
		var ps strategy.Problems
		ps.Add("host", "this node has no name to take the host from; give the node a name (e.g. app@127.0.0.1) or set host")
		return nil, ps.Err()
	}
	return &Strategy{cfg: cfg.withDefaults(), self: opts.Self}, nil
}

func (s *Strategy) host() string {
	if s.cfg.Host != "" {
		return s.cfg.Host
	}
	return s.self.Host()
}

func (s *Strategy) client() *epmd.Client {
	return &epmd.Client{Host: "127.0.0.1", Port: s.cfg.EPMDPort, Timeout: DefaultQueryTimeout}
}

func (s *Strategy) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.EPMDPort))
}

// Discover asks the local EPMD once and returns the registered nodes.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	host := s.host()
	if host == "" {
		return libcluster.Update{}, errors.New("localepmd: no host for peer names; give this node a name or set host")
	}
	src := "EPMD NAMES at " + s.addr()
	names, err := s.client().Names(ctx)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return libcluster.Update{}, fmt.Errorf("localepmd: no EPMD at %s: start one (epmd -daemon) or run a node with epmd: auto: %w", s.addr(), err)
		}
		return libcluster.Update{}, fmt.Errorf("localepmd: asking EPMD at %s for names: %w", s.addr(), err)
	}
	cands := make([]string, 0, len(names))
	var dropped []libcluster.Dropped
	for _, n := range names {
		c := n.Name + "@" + host
		if libcluster.Node(c) == s.self {
			dropped = append(dropped, libcluster.Dropped{Candidate: c, Reason: "this node"})
			continue
		}
		cands = append(cands, c)
	}
	nodes, bad := strategy.NodesFromNames(cands)
	return libcluster.Seen(nodes).WithDropped(append(dropped, bad...)).WithSource(src), nil
}

// Run asks EPMD at once and then every polling interval until ctx ends. A
// failed query is reported as an error update and retried at the next
// interval.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := strategy.Poller{Interval: s.cfg.PollingInterval, Discover: s.Discover, Source: "EPMD NAMES at " + s.addr()}
	if s.cfg.RemoveUnregistered {
		return p.Run(ctx, r)
	}
	return p.Run(ctx, strategy.SeenOnly(r))
}
