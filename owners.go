package libcluster

import (
	"reflect"
	"sync"
)

// owners counts, per node, the topologies of one connector that want it,
// so that a node is disconnected only when none does. Topologies sharing a
// connector (the same pointer) share one owners.
type owners struct {
	mu    sync.Mutex
	users int // topologies using it, for the registry
	nodes map[Node]*claim
}

type claim struct {
	n    int           // topologies that want the node
	busy chan struct{} // non-nil while a disconnect runs; closed when it ends
}

var ownerRegistry = struct {
	mu sync.Mutex
	m  map[Connector]*owners
}{m: map[Connector]*owners{}}

// ownersFor returns the owners shared by every topology using c, and the
// function that gives it back. A connector that is not a pointer (or map
// or channel) cannot be told apart from a copy, so it gets owners of its
// own.
func ownersFor(c Connector) (*owners, func()) {
	switch reflect.ValueOf(c).Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan:
	default:
		return &owners{nodes: map[Node]*claim{}}, func() {}
	}
	ownerRegistry.mu.Lock()
	defer ownerRegistry.mu.Unlock()
	o := ownerRegistry.m[c]
	if o == nil {
		o = &owners{nodes: map[Node]*claim{}}
		ownerRegistry.m[c] = o
	}
	o.users++
	return o, func() {
		ownerRegistry.mu.Lock()
		defer ownerRegistry.mu.Unlock()
		if o.users--; o.users == 0 {
			delete(ownerRegistry.m, c)
		}
	}
}

// claim records that one more topology wants n. If a disconnect of n is
// running, it waits until it has ended, so no disconnect ever runs while
// a topology that completed its claim wants the node.
func (o *owners) claim(n Node) {
	o.mu.Lock()
	c := o.nodes[n]
	if c == nil {
		c = &claim{}
		o.nodes[n] = c
	}
	c.n++
	busy := c.busy
	o.mu.Unlock()
	if busy != nil {
		<-busy
	}
}

// release records that one topology no longer wants n.
func (o *owners) release(n Node) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.nodes[n]
	if c == nil {
		return
	}
	if c.n--; c.n <= 0 && c.busy == nil {
		delete(o.nodes, n)
	}
}

// disconnect runs fn (the connector's Disconnect) if no topology wants n,
// and reports whether it ran. While another disconnect of n runs, it waits
// for that one and decides again: the connection it asks to drop may have
// come up after the running one looked (a connect that raced it), so it is
// never skipped just because a disconnect is under way.
func (o *owners) disconnect(n Node, fn func()) bool {
	o.mu.Lock()
	c := o.nodes[n]
	for c != nil && c.n <= 0 && c.busy != nil {
		busy := c.busy
		o.mu.Unlock()
		<-busy
		o.mu.Lock()
		c = o.nodes[n]
	}
	if c != nil && c.n > 0 {
		o.mu.Unlock()
		return false
	}
	if c == nil {
		c = &claim{}
		o.nodes[n] = c
	}
	busy := make(chan struct{})
	c.busy = busy
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		c.busy = nil
		if c.n <= 0 {
			delete(o.nodes, n)
		}
		o.mu.Unlock()
		close(busy)
	}()
	fn()
	return true
}
