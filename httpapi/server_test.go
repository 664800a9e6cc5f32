package httpapi

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

var idleConns = flag.Int("httpapi.idle-conns", 1500, "idle connections the keep-alive attack opens (the report used 20000)")

// dialFrom connects to addr from the loopback source address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// TestServerSurvivesIdleConnections opens many keep-alive connections from
// 127.0.0.2 that each send one request and then sit idle, plus as many that
// never send anything. /healthz from 127.0.0.1 must keep answering, the
// idle connections must be closed by the server's timeouts, the goroutines
// held must stay under the connection cap, and the refusals must be logged
// as a bounded number of lines.
func TestServerSurvivesIdleConnections(t *testing.T) {
	log, logged := clustertest.CountingLogger()
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@127.0.0.1", ListFunc: func() []libcluster.Node { return []libcluster.Node{"b@127.0.0.1"} }}
	srv := NewServer(Handler(Source{Connector: conn}), ServerConfig{
		ReadHeaderTimeout: time.Second, IdleTimeout: time.Second,
		MaxConns: 256, MaxConnsPerHost: 64, Logger: log,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	addr := ln.Addr().String()
	healthy := func() error {
		c, err := dialFrom("127.0.0.1", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
			return fmt.Errorf("/healthz: %d %q", resp.StatusCode, b)
		}
		return nil
	}
	if err := healthy(); err != nil {
		t.Fatal(err)
	}
	baseG := runtime.NumGoroutine()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			clustertest.CloseNow(c)
		}
	}()
	for i := range *idleConns {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatalf("attack connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%2 == 0 { // one request, then idle keep-alive
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	peakG := runtime.NumGoroutine()
	if err := healthy(); err != nil {
		t.Fatalf("/healthz while %d idle connections are open: %v", len(conns), err)
	}
	// The server closes every idle connection: each attacker read ends.
	var wg sync.WaitGroup
	closed := make(chan struct{}, len(conns))
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			// EOF, or a reset when the server closed with the request unread.
			var ne net.Error
			if _, err := io.Copy(io.Discard, c); !errors.As(err, &ne) || !ne.Timeout() {
				closed <- struct{}{}
			}
		}()
	}
	wg.Wait()
	if n := len(closed); n != len(conns) {
		t.Errorf("%d of %d idle connections were closed by the server; the rest were held 20 s", n, len(conns))
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "the server's goroutines back to their number before the attack", func() bool {
		return runtime.NumGoroutine() <= baseG+4
	})
	t.Logf("%d idle connections: server goroutines at peak +%d (cap 64 per host), %d log lines", len(conns), peakG-baseG, logged.Lines())
	if peakG-baseG > 64+8 {
		t.Errorf("the attack added %d goroutines; the per-host cap of 64 should bound them", peakG-baseG)
	}
	if l := logged.Lines(); l > 5 {
		t.Errorf("%d log lines for one attack; want a rate-limited summary", l)
	}
	if err := healthy(); err != nil {
		t.Fatal(err)
	}
}

func TestServerHeaderLimit(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), ServerConfig{MaxHeaderBytes: 1 << 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: status %d, want 431", resp.StatusCode)
	}
}
