// Package epmdtest runs the project's own EPMD (dist/epmd) for tests and
// registers Go nodes with an EPMD the way a distribution node does. For
// the stock epmd daemon and erl nodes see internal/testkit/erltest.
package epmdtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist/epmd"
)

// Serve serves an epmd.Server on addr (such as "127.0.0.1:0") and returns
// its port and a function that stops it before the test ends. Cleanup
// stops it too and reports Serve errors other than epmd.ErrServerClosed.
func Serve(t testing.TB, addr string) (int, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening for EPMD on %s: %v", addr, err)
	}
	s := &epmd.Server{Logger: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = s.Close()
			if err := <-done; err != nil && !errors.Is(err, epmd.ErrServerClosed) {
				t.Errorf("epmd server: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().(*net.TCPAddr).Port, stop
}

// Register registers name with the EPMD on host:port, as a Go node does,
// with a real listening distribution port on 127.0.0.1 (so a connect to it
// reaches a socket). The registration and the listener are closed at
// cleanup; close the registration earlier to unregister.
func Register(t testing.TB, host string, port int, name string) *epmd.Registration {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &epmd.Client{Host: host, Port: port, Timeout: 5 * time.Second}
	r, err := c.Register(context.Background(), epmd.NodeInfo{Name: name, Port: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
