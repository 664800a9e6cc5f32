// Package memberlist is a [libcluster.Connector] built on HashiCorp's
// memberlist library: SWIM failure detection with gossip dissemination.
//
// Pick it for large fleets made only of Go nodes. The default connector (the
// erldist package) speaks the Erlang distribution protocol, which keeps one TCP
// connection to every peer: a full mesh whose cost grows with the square of
// the fleet. memberlist instead probes one random member per interval and
// spreads membership changes by gossip, so each node's load stays nearly
// flat as the fleet grows. It cannot talk to Erlang or Elixir nodes.
//
// # Names and addresses
//
// The memberlist member name is the libcluster node name (basename@host).
// To connect a node it has not seen yet, a Node dials host:PeerPort, where
// PeerPort is the port the whole fleet binds (Config.BindPort, 7946 by
// default), as in an EPMD-less Erlang cluster. Once a member has been seen,
// its own advertised address is used instead, so members that advertise
// another port are still reached after they go away and come back.
//
// memberlist merges two clusters as soon as any of their members exchange
// a packet. When the node reached at a name's address turns out to have
// another name, Connect reports a [NameMismatchError], but the merge has
// happened: keep unrelated clusters apart with different SecretKeys (or a
// memberlist Label, set through Config.Tune), not with node names.
//
// # Events and removal
//
// Members that join are reported up through WatchNodes. Members that go
// away are reported down with the reason "left" (the member announced it,
// as [Node.Close] does) or "failed" (memberlist's failure detector declared
// it dead). memberlist has no way to drop one live member from a single
// node's view, so Disconnect of a live member returns [ErrCannotDisconnect]:
// a topology's prune policy has no effect with this connector, and members
// leave only by leaving or failing.
package memberlist

import "github.com/libcluster-go/libcluster"

var (
	_ libcluster.Connector   = (*Node)(nil)
	_ libcluster.NodeWatcher = (*Node)(nil)
)
