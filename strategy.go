package libcluster

import (
	"context"
	"errors"
	"strconv"
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

// UpdateKind says what an [Update] means to the topology.
type UpdateKind uint8

const (
	// KindSeen: the nodes were seen alive (gossip heartbeats, static
	// lists). Additive only: nothing is ever removed.
	KindSeen UpdateKind = iota + 1
	// KindComplete: the nodes are the whole current set (polling sources:
	// DNS, the Kubernetes API). Desired nodes missing from it count a miss,
	// and the topology's [Prune] policy decides when they are disconnected.
	KindComplete
	// KindFailed: discovery failed this time. The last good set is kept and
	// a discovery-error [Event] is emitted.
	KindFailed
)

// String returns "seen", "complete" or "failed".
func (k UpdateKind) String() string {
	switch k {
	case KindSeen:
		return "seen"
	case KindComplete:
		return "complete"
	case KindFailed:
		return "failed"
	}
	return "UpdateKind(" + strconv.Itoa(int(k)) + ")"
}

// Update is one report from a strategy. Its fields are private: build one
// with [Complete], [Seen], [SeenExpiring] or [Failed], so a contradictory
// update (a failure carrying nodes, an expiry on a complete set) cannot be
// written. The zero Update has no kind and is ignored by the topology.
type Update struct {
	kind    UpdateKind
	nodes   []Node
	err     error
	expire  time.Duration
	explain Explain
}

// Explain is what an [Update] carries for explain and logs only; it never
// changes what the topology does.
type Explain struct {
	// Source says where the answer came from
	// (e.g. "DNS A app.default.svc.cluster.local").
	Source string
	// Dropped lists candidates the strategy saw but did not report, with
	// the reason (e.g. an address that makes no valid name).
	Dropped []Dropped
}

// Complete reports nodes as the whole current set.
func Complete(nodes []Node) Update { return Update{kind: KindComplete, nodes: nodes} }

// Seen reports nodes seen alive; nothing is removed.
func Seen(nodes []Node) Update { return Update{kind: KindSeen, nodes: nodes} }

// SeenExpiring reports nodes seen alive and lets the topology forget them
// when they are not connected and have not been seen again for after
// (gossip uses a few heartbeat periods, so peers that are gone for good
// stop being retried). Connected nodes are never disconnected by expiry.
// after <= 0 is the same as [Seen]: remembered until a complete set drops
// them, as libcluster does.
func SeenExpiring(nodes []Node, after time.Duration) Update {
	if after < 0 {
		after = 0
	}
	return Update{kind: KindSeen, nodes: nodes, expire: after}
}

// errDiscoveryFailed stands in for a nil error given to [Failed].
var errDiscoveryFailed = errors.New("discovery failed")

// Failed reports that discovery failed this time. A nil err is replaced by
// a generic "discovery failed" error, so [Update.Err] of a failed update is
// never nil.
func Failed(err error) Update {
	if err == nil {
		err = errDiscoveryFailed
	}
	return Update{kind: KindFailed, err: err}
}

// Kind says what the update means; 0 for the zero Update.
func (u Update) Kind() UpdateKind { return u.kind }

// Nodes returns the reported nodes; nil for a failed update.
func (u Update) Nodes() []Node { return u.nodes }

// Err returns the discovery error; nil unless the update is [KindFailed].
func (u Update) Err() error { return u.err }

// Expire returns how long unconnected nodes of a seen update are
// remembered without being seen again; 0 means until a complete set drops
// them.
func (u Update) Expire() time.Duration { return u.expire }

// Explain returns the update's explain data.
func (u Update) Explain() Explain { return u.explain }

// WithSource returns u with its explain source set to src.
func (u Update) WithSource(src string) Update {
	u.explain.Source = src
	return u
}

// WithDropped returns u with its explain dropped candidates set to d.
func (u Update) WithDropped(d []Dropped) Update {
	u.explain.Dropped = d
	return u
}

// Dropped is a discovery candidate that was not turned into a node.
type Dropped struct {
	Candidate string // what was seen: a name, an address, a record
	Reason    string // why it was dropped
}
