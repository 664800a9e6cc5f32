package libcluster

import (
	"context"
	"errors"
)

// Connector is the distribution layer a [Topology] drives: libcluster's
// connect / disconnect / list_nodes triple. The erldist package provides the
// default, a native Erlang distribution node; [ConnectorFuncs] adapts plain
// functions.
//
// Implementations must be safe for concurrent use: a topology connects
// several nodes in parallel, and several topologies may share one connector.
type Connector interface {
	// Self returns this node's own name. Topologies never connect to it.
	Self() Node
	// Connect sets up a connection to n and returns nil once it is up (or
	// already was). It must give up when ctx ends. Return an error wrapping
	// [ErrIgnored] when n is not part of this network (libcluster's :ignored).
	Connect(ctx context.Context, n Node) error
	// Disconnect closes the connection to n. Return an error wrapping
	// [ErrNotConnected] when there was none; that is not counted as a failure.
	Disconnect(ctx context.Context, n Node) error
	// Nodes returns the nodes connected now, in any order.
	Nodes() []Node
}

// NodeWatcher is implemented by connectors that report connections coming up
// and going down by themselves (a peer that crashes, a tick timeout). A
// topology uses it to reconnect a lost peer at once instead of at its next
// resync.
type NodeWatcher interface {
	// WatchNodes calls fn for every node up or down event, in the order
	// they happened, until stop is called. fn is called from one
	// goroutine at a time (never concurrently) and never after stop has
	// returned; stop must not be called from fn. fn must not block.
	WatchNodes(fn func(NodeEvent)) (stop func())
}

// NodeEvent is a connection to a node coming up or going down.
type NodeEvent struct {
	Node   Node
	Up     bool
	Reason string // why a node went down, e.g. "net_tick_timeout"; empty on up
}

var (
	// ErrIgnored means the node is not part of the network this connector
	// serves (libcluster's :ignored result, reason :not_part_of_network).
	ErrIgnored = errors.New("node is not part of this network")
	// ErrNotConnected means a disconnect found no connection (libcluster's
	// false result of disconnect, reason :already_disconnected).
	ErrNotConnected = errors.New("node is not connected")
)

// ConnectorFuncs adapts plain functions to a [Connector], as libcluster's
// connect, disconnect and list_nodes overrides do. ConnectFunc and ListFunc
// are required; a nil DisconnectFunc makes Disconnect a no-op that reports
// [ErrNotConnected].
type ConnectorFuncs struct {
	SelfNode       Node
	ConnectFunc    func(ctx context.Context, n Node) error
	DisconnectFunc func(ctx context.Context, n Node) error
	ListFunc       func() []Node
}

// Self returns f.SelfNode.
func (f *ConnectorFuncs) Self() Node { return f.SelfNode }

// Connect calls f.ConnectFunc.
func (f *ConnectorFuncs) Connect(ctx context.Context, n Node) error {
	if f.ConnectFunc == nil {
		return errors.New("libcluster: ConnectorFuncs.ConnectFunc is nil; set it to the function that connects a node")
	}
	return f.ConnectFunc(ctx, n)
}

// Disconnect calls f.DisconnectFunc.
func (f *ConnectorFuncs) Disconnect(ctx context.Context, n Node) error {
	if f.DisconnectFunc == nil {
		return ErrNotConnected
	}
	return f.DisconnectFunc(ctx, n)
}

// Nodes calls f.ListFunc.
func (f *ConnectorFuncs) Nodes() []Node {
	if f.ListFunc == nil {
		return nil
	}
	return f.ListFunc()
}
