// Package static is the static host list strategy, libcluster's
// Cluster.Strategy.Epmd: it reports a fixed list of node names, and the
// topology connects them and keeps retrying any that are down.
//
// Config keys:
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
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			return FromParams(a.Params)
		},
	})
}

// Strategy reports Hosts as seen. It never removes a node: a static list
// has no notion of a node leaving.
type Strategy struct {
	// Hosts are the nodes to connect.
	Hosts []libcluster.Node
	// Timeout, when positive, re-reports Hosts at that period, like
	// libcluster's timeout. The topology retries failed nodes with
	// back-off whether or not it is set.
	Timeout time.Duration
}

// FromParams builds the strategy from libcluster's config keys.
func FromParams(p *strategy.Params) (*Strategy, error) {
	s := &Strategy{Timeout: p.Duration("timeout", 0)}
	for i, h := range p.StringList("hosts") {
		n, err := libcluster.ParseNode(h)
		if err != nil {
			p.Fail("hosts", "item %d: %v", i+1, err)
			continue
		}
		s.Hosts = append(s.Hosts, n)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Discover returns the host list.
func (s *Strategy) Discover(context.Context) (libcluster.Update, error) {
	return libcluster.Seen(s.Hosts).WithSource("static hosts list"), nil
}

// Run reports the hosts at once and then every Timeout. With no hosts it
// returns nil at once (libcluster's :ignore).
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	if len(s.Hosts) == 0 {
		return nil
	}
	u, _ := s.Discover(ctx)
	r.Report(u)
	if s.Timeout <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.Timeout)
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
