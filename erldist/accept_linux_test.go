//go:build linux

package erldist

import (
	"context"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// TestAcceptSurvivesFDExhaustion runs the node out of file descriptors
// (RLIMIT_NOFILE lowered to what is open plus a few, then connections
// until accept fails with EMFILE). The accept loop must back off and keep
// going, log a bounded number of lines, stay healthy, and accept a peer
// once descriptors are free again. Before the fix a string match on the
// error text decided this, and a failure was invisible to readiness.
func TestAcceptSurvivesFDExhaustion(t *testing.T) {
	log, lc := clustertest.CountingLogger()
	port := clustertest.FreePort(t)
	v := startNode(t, Config{Name: "fd@127.0.0.1", EPMD: EPMDNone, ListenAddr: "127.0.0.1:" + strconv.Itoa(port), Logger: log})
	lc.Reset()

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	low := old
	low.Cur = uint64(len(fds) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			clustertest.CloseNow(c)
		}
	}()
	// Each dial takes a descriptor here and, once accepted, one in the node:
	// the node's accept fails with EMFILE when none is left.
	for range 64 {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "the accept loop reports EMFILE", func() bool { return lc.Lines() > 0 })
	// Let it retry for a while with no descriptor to get.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if err := v.Err(); err != nil {
			t.Fatalf("EMFILE made the accept loop give up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	restore()
	for _, c := range conns {
		clustertest.CloseNow(c)
	}
	conns = nil
	peer := startNode(t, Config{Name: "fd-peer@127.0.0.2", EPMD: EPMDNone, ListenAddr: "127.0.0.2:" + strconv.Itoa(port)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := peer.Connect(ctx, v.Self()); err != nil {
		t.Fatalf("connecting after descriptors are free again: %v", err)
	}
	if !v.Healthy() {
		t.Errorf("Err = %v after recovering", v.Err())
	}
	t.Logf("EMFILE for 500 ms: %d log lines, healthy %v", lc.Lines(), v.Healthy())
	if l := lc.Lines(); l > 3 {
		t.Errorf("%d log lines while accept failed; want a rate-limited summary", l)
	}
}
