package libcluster

import (
	"context"
	"time"
)

// Strategy discovers peer nodes. It does not connect anything itself: it
// reports what it sees, and the [Topology] that runs it decides what to
// connect and disconnect.
//
// Run blocks until ctx ends (returning nil or ctx.Err()) or the strategy
// fails (returning the error; the supervisor restarts it with back-off). A
// panic in Run is recovered and treated as a failure.
type Strategy interface {
	Run(ctx context.Context, r Reporter) error
}

// StrategyFunc adapts a function to a [Strategy].
type StrategyFunc func(ctx context.Context, r Reporter) error

// Run calls f(ctx, r).
func (f StrategyFunc) Run(ctx context.Context, r Reporter) error { return f(ctx, r) }

// Reporter receives what a strategy discovers. Report may block briefly
// while the topology catches up, and returns at once after the topology has
// stopped. It is safe for concurrent use.
type Reporter interface {
	Report(u Update)
}

// Update is one report from a strategy.
//
//   - Complete: Nodes is the whole current set (polling sources: DNS, the
//     Kubernetes API). Desired nodes missing from it count a miss, and the
//     topology's [Prune] policy decides when they are disconnected.
//   - Seen (Complete false, Err nil): Nodes were seen alive (gossip
//     heartbeats, static lists). Additive only: nothing is ever removed.
//   - Error (Err set): discovery failed this time. The last good set is kept
//     and a discovery-error [Event] is emitted; Nodes is ignored.
type Update struct {
	Nodes    []Node
	Complete bool
	Err      error

	// Expire, on a Seen update, lets the topology forget these nodes when
	// they are not connected and have not been seen again for this long
	// (gossip sets it to a few heartbeat periods, so peers that are gone for
	// good stop being retried). Zero: remembered until a complete set drops
	// them, as libcluster does. Connected nodes are never disconnected by
	// expiry.
	Expire time.Duration

	// Source says where the answer came from, for explain and logs
	// (e.g. "DNS A app.default.svc.cluster.local").
	Source string
	// Dropped lists candidates the strategy saw but did not report, with
	// the reason, for explain (e.g. an address that makes no valid name).
	Dropped []Dropped
}

// Dropped is a discovery candidate that was not turned into a node.
type Dropped struct {
	Candidate string // what was seen: a name, an address, a record
	Reason    string // why it was dropped
}
