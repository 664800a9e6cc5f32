package memberlist

import "time"

// SetCoolDown sets the back-off of a failed address for a test.
func SetCoolDown(base, most time.Duration) (restore func()) {
	b, m := coolBase, coolMax
	coolBase, coolMax = base, most
	return func() { coolBase, coolMax = b, m }
}

// Waiting returns how many peers have goroutines waiting for their entry
// to change.
func (n *Node) Waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waits)
}
