package memberlist

// Kill stops the node without leaving, as a crash would: peers must find it
// dead through their failure detector.
func (n *Node) Kill() { n.closeOnce.Do(n.shutdown) }
