package erlanghosts

import (
	"net"
	"sync"
	"testing"

	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// startDebianEPMD runs the real epmd daemon on a free port, bound to
// 127.0.0.1 only, and returns the port.
func startDebianEPMD(t *testing.T) int {
	t.Helper()
	port, _ := erltest.StartEpmd(t, "-address", "127.0.0.1")
	return port
}

// startSilent listens on addr and accepts connections without ever
// answering, like a host whose EPMD hangs; connections are held until
// cleanup.
func startSilent(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
}

// startErl runs a real erl node name@127.0.0.1 that registers with the
// EPMD on port.
func startErl(t *testing.T, port int, name string) {
	t.Helper()
	erltest.StartErl(t, erltest.ErlOptions{Name: name + "@127.0.0.1", Cookie: "erlanghoststest", EPMDPort: port})
}

// registerGo registers name with the EPMD on 127.0.0.1:port, as a Go
// node does.
func registerGo(t *testing.T, port int, name string) *epmd.Registration {
	t.Helper()
	return epmdtest.Register(t, "127.0.0.1", port, name)
}
