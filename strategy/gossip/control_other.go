//go:build !unix

package gossip

import "syscall"

// controlFunc sets nothing where SO_REUSEPORT does not exist; only one node
// per host can then bind the port.
func controlFunc(bool) func(network, address string, rc syscall.RawConn) error {
	return nil
}
