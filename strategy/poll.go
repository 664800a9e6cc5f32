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
	// Discover runs one round. Its Update's nodes are the complete set
	// whatever its kind ([libcluster.Seen] or [libcluster.Complete]); its
	// explain source and dropped candidates are passed through.
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
			r.Report(libcluster.Failed(err).WithSource(p.Source))
		} else {
			c := AsComplete(u)
			if c.Explain().Source == "" {
				c = c.WithSource(p.Source)
			}
			r.Report(c)
		}
		d := interval
		if j := p.Jitter; j > 0 && j <= 1 {
			d += time.Duration(float64(interval) * j * (2*rand.Float64() - 1))
		}
		t.Reset(d)
	}
}

// AsComplete returns u's nodes as a complete set, keeping its explain
// data; a failed or zero u is returned unchanged.
func AsComplete(u libcluster.Update) libcluster.Update {
	if k := u.Kind(); k != libcluster.KindSeen && k != libcluster.KindComplete {
		return u
	}
	return libcluster.Complete(u.Nodes()).WithDropped(u.Explain().Dropped).WithSource(u.Explain().Source)
}

// AsSeen returns u's nodes as seen alive (additive), keeping its explain
// data; a failed or zero u is returned unchanged.
func AsSeen(u libcluster.Update) libcluster.Update {
	if u.Kind() != libcluster.KindComplete {
		return u
	}
	return libcluster.Seen(u.Nodes()).WithDropped(u.Explain().Dropped).WithSource(u.Explain().Source)
}

// SeenOnly returns a Reporter that passes complete sets on to r as seen
// updates, for strategies whose option says never to remove a node
// (localepmd and erlanghosts without remove_unregistered).
func SeenOnly(r libcluster.Reporter) libcluster.Reporter { return seenOnly{r} }

type seenOnly struct{ r libcluster.Reporter }

func (s seenOnly) Report(u libcluster.Update) { s.r.Report(AsSeen(u)) }

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
