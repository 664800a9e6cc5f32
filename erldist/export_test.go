package erldist

import "github.com/libcluster-go/libcluster"

type libclusterNode = libcluster.Node

// PauseTicks stops (true) or resumes (false) tick sending and tick-timeout
// checks on every connection of n, so that a test can make peers see this
// node as unresponsive.
func (n *Node) PauseTicks(pause bool) { n.paused.Store(pause) }

// ConnCount returns how many established connections n holds to peer.
func (n *Node) ConnCount(peer string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[libclusterNode(peer)] != nil {
		return 1
	}
	return 0
}

// ConnAddrs returns the local and remote TCP addresses of the connection
// to peer, or empty strings.
func (n *Node) ConnAddrs(peer string) (local, remote string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.conns[libclusterNode(peer)]
	if c == nil {
		return "", ""
	}
	return c.nc.LocalAddr().String(), c.nc.RemoteAddr().String()
}

// ConnInitiator returns the node that initiated the connection to peer.
func (n *Node) ConnInitiator(peer string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.conns[libclusterNode(peer)]; c != nil {
		return string(c.initiator)
	}
	return ""
}
