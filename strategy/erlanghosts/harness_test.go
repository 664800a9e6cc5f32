package erlanghosts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/dist/epmd"
	"github.com/libcluster-go/libcluster/internal/testenv"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitNames polls the EPMD on port until its names satisfy cond.
func waitNames(t *testing.T, port int, what string, cond func([]string) bool) {
	t.Helper()
	c := &epmd.Client{Port: port, Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last []string
	var lastErr error
	for time.Now().Before(deadline) {
		ns, err := c.Names(context.Background())
		last, lastErr = nil, err
		for _, n := range ns {
			last = append(last, n.Name)
		}
		if err == nil && cond(last) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("EPMD on port %d: timed out waiting for %s; last names %v, error %v", port, what, last, lastErr)
}

func hasAll(want ...string) func([]string) bool {
	return func(got []string) bool {
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}
}

// startDebianEPMD runs the real epmd daemon in the foreground on a free
// port, bound to 127.0.0.1 only, and returns the port; it is killed by PID
// at cleanup.
func startDebianEPMD(t *testing.T) int {
	t.Helper()
	bin := testenv.Command(t, "epmd", "apt-get install erlang-base")
	for attempt := 1; ; attempt++ {
		port, err := tryDebianEPMD(t, bin)
		if err == nil {
			return port
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
}

// tryDebianEPMD starts epmd on a port that was free a moment ago; it fails
// when another process took the port in between.
func tryDebianEPMD(t *testing.T, bin string) (int, error) {
	port := freePort(t)
	cmd := exec.Command(bin, "-port", strconv.Itoa(port), "-address", "127.0.0.1")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start epmd: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	c := &epmd.Client{Port: port, Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.Names(context.Background()); err == nil {
			return port, nil
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("epmd -port %d exited: %v", port, waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("epmd -port %d did not answer within 15s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startGoEPMD serves the project's EPMD on addr (e.g. "127.0.0.1:0") and
// returns its port and a function that stops it early.
func startGoEPMD(t testing.TB, addr string) (int, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
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
// EPMD on port. It is killed by PID at cleanup.
func startErl(t *testing.T, port int, name string) {
	t.Helper()
	bin := testenv.Command(t, "erl", "apt-get install erlang-base")
	cmd := exec.Command(bin, "-noshell", "-name", name+"@127.0.0.1", "-setcookie", "erlanghoststest", "-start_epmd", "false")
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port), "HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start erl: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
}

// registerGo registers name with the EPMD on 127.0.0.1:port, as a Go
// node does, with a real listening distribution port; closed at cleanup.
func registerGo(t *testing.T, port int, name string) *epmd.Registration {
	t.Helper()
	return registerGoAt(t, "127.0.0.1", port, name)
}

// registerGoAt is registerGo for the EPMD on host:port.
func registerGoAt(t testing.TB, host string, port int, name string) *epmd.Registration {
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
