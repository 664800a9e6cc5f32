// Package localepmd is libcluster's Cluster.Strategy.LocalEpmd: every node
// registered with the EPMD on this host becomes a peer, named
// <registered name>@<host part of this node's own name>.
//
// Unlike libcluster, which asks EPMD once at start-up, it keeps asking
// every polling_interval, so nodes started later on this host join too.
//
// Config keys:
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
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			return FromParams(a.Params, a.Self)
		},
	})
}

// DefaultQueryTimeout bounds one NAMES request to the local EPMD.
const DefaultQueryTimeout = 2 * time.Second

// Strategy asks the local EPMD for its registered names every
// PollingInterval.
type Strategy struct {
	// Self is this node; its host part is appended to every registered
	// name, and its own name is left out.
	Self libcluster.Node
	// Host, when set, is used instead of Self's host part.
	Host string
	// EPMDPort is the local EPMD's port; 0 means epmd.Port().
	EPMDPort int
	// PollingInterval is the time between queries; default
	// strategy.DefaultPollingInterval.
	PollingInterval time.Duration
	// RemoveUnregistered makes every answer a complete set, so a node that
	// is no longer registered leaves the desired set (and is disconnected
	// per the topology's prune policy). When false, the default, nodes are
	// only added, as libcluster never disconnects anything.
	RemoveUnregistered bool
}

// FromParams builds the strategy from its config keys. self is this
// node's name, which gives the host part of the peers' names.
func FromParams(p *strategy.Params, self libcluster.Node) (*Strategy, error) {
	s := &Strategy{
		Self:               self,
		Host:               p.String("host", ""),
		EPMDPort:           p.IntRange("epmd_port", epmd.Port(), 1, 65535),
		PollingInterval:    p.PositiveDuration("polling_interval", strategy.DefaultPollingInterval),
		RemoveUnregistered: p.Bool("remove_unregistered", false),
	}
	switch {
	case s.Host != "":
		if _, err := libcluster.ParseNode("x@" + s.Host); err != nil {
			p.Fail("host", "%q is not a host name or address; use the host part of your node names, e.g. 127.0.0.1", s.Host)
		}
	case self == "":
		p.Fail("host", "this node has no name to take the host from; give the node a name (e.g. app@127.0.0.1) or set host")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Strategy) host() string {
	if s.Host != "" {
		return s.Host
	}
	return s.Self.Host()
}

func (s *Strategy) client() *epmd.Client {
	return &epmd.Client{Host: "127.0.0.1", Port: s.EPMDPort, Timeout: DefaultQueryTimeout}
}

func (s *Strategy) addr() string {
	port := s.EPMDPort
	if port == 0 {
		port = epmd.Port()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
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
		if libcluster.Node(c) == s.Self {
			dropped = append(dropped, libcluster.Dropped{Candidate: c, Reason: "this node"})
			continue
		}
		cands = append(cands, c)
	}
	nodes, bad := strategy.NodesFromNames(cands)
	return libcluster.Seen(nodes).WithDropped(append(dropped, bad...)).WithSource(src), nil
}

// Run asks EPMD at once and then every PollingInterval until ctx ends. A
// failed query is reported as an error update and retried at the next
// interval.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := strategy.Poller{Interval: s.PollingInterval, Discover: s.Discover, Source: "EPMD NAMES at " + s.addr()}
	if s.RemoveUnregistered {
		return p.Run(ctx, r)
	}
	return p.Run(ctx, strategy.SeenOnly(r))
}
