package strategy

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/libcluster-go/libcluster"
)

// DefaultPollingInterval is libcluster's polling_interval default.
const DefaultPollingInterval = 5 * time.Second

// Poller runs a discovery function at an interval and reports each answer
// as the complete current set. Every poll-based strategy (DNS, Kubernetes
// without watch, Rancher) uses it:
//
//   - the first poll runs at once;
//   - the next starts Interval (± Jitter) after the previous one ended;
//   - an error is reported as an error update, so the topology keeps the
//     last good set and emits a discovery-error event.
type Poller struct {
	Interval time.Duration // default DefaultPollingInterval
	Jitter   float64       // fraction of Interval, 0..1; default 0 (libcluster has none)
	// Discover runs one round. Its Update's Nodes are the complete set;
	// Source and Dropped are passed through.
	Discover func(ctx context.Context) (libcluster.Update, error)
	// Source names the query in error updates, e.g. "DNS A app.local".
	Source string
}

// Run polls until ctx ends and returns nil then.
func (p *Poller) Run(ctx context.Context, r libcluster.Reporter) error {
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultPollingInterval
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		u, err := p.Discover(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Report(libcluster.Update{Err: err, Source: p.Source})
		} else {
			u.Complete = true
			if u.Source == "" {
				u.Source = p.Source
			}
			r.Report(u)
		}
		d := interval
		if j := p.Jitter; j > 0 && j <= 1 {
			d += time.Duration(float64(interval) * j * (2*rand.Float64() - 1))
		}
		t.Reset(d)
	}
}

// NodesFromNames parses candidate names, keeping the valid ones and
// dropping the rest with the reason. Duplicates are reported once.
func NodesFromNames(cands []string) ([]libcluster.Node, []libcluster.Dropped) {
	var nodes []libcluster.Node
	var dropped []libcluster.Dropped
	seen := map[libcluster.Node]bool{}
	for _, c := range cands {
		n, err := libcluster.ParseNode(c)
		if err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: c, Reason: err.Error()})
			continue
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		nodes = append(nodes, n)
	}
	return nodes, dropped
}

// NodesFromAddrs builds basename@addr for each address (IPv6 in canonical
// compressed form), skipping duplicates.
func NodesFromAddrs(basename string, addrs []netip.Addr) ([]libcluster.Node, []libcluster.Dropped) {
	var nodes []libcluster.Node
	var dropped []libcluster.Dropped
	seen := map[libcluster.Node]bool{}
	for _, a := range addrs {
		n, err := libcluster.NodeFromAddr(basename, a)
		if err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: a.String(), Reason: err.Error()})
			continue
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		nodes = append(nodes, n)
	}
	return nodes, dropped
}
