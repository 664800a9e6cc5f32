//go:build unix

package gossip

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// controlFunc sets SO_REUSEADDR and SO_REUSEPORT (with this platform's real
// constants, unlike libcluster on Linux) so several nodes on one host share
// the port, and SO_BROADCAST as libcluster does.
func controlFunc(broadcast bool) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, o := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o, 1); e != nil && serr == nil {
					serr = e
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
