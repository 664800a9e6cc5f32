package dnstest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// Dnsmasq is a real dnsmasq (Debian's dnsmasq-base) serving a hosts file
// on a free port of 127.0.0.1, with no upstream servers (--no-resolv), as
// a small site's DNS server is often set up. It answers A and AAAA for the
// names in the hosts file and REFUSED for what it has no data for, which
// the in-process [Server] does not imitate.
type Dnsmasq struct {
	addr  string
	hosts string

	mu  sync.Mutex
	log []string
}

// dnsmasqPath finds dnsmasq, which Debian installs in /usr/sbin (not on
// every user's PATH).
func dnsmasqPath(t testing.TB) string {
	if p, err := exec.LookPath("dnsmasq"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/dnsmasq"); err == nil {
		return "/usr/sbin/dnsmasq"
	}
	return testenv.Command(t, "dnsmasq", "apt-get install dnsmasq-base")
}

// StartDnsmasq starts dnsmasq as a child of the test process with a hosts
// file mapping each name to its addresses, waits until it answers, and
// kills it (by PID) in t.Cleanup. It skips the test (fails under CI) when
// dnsmasq is not installed.
func StartDnsmasq(t testing.TB, hosts map[string][]string) *Dnsmasq {
	t.Helper()
	bin := dnsmasqPath(t)
	d := &Dnsmasq{hosts: filepath.Join(t.TempDir(), "hosts")}
	d.writeHosts(t, hosts)
	var lastErr error
	for range 5 {
		port, err := freeUDPTCPPort()
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = d.start(t, bin, port); lastErr == nil {
			return d
		}
	}
	t.Fatalf("dnstest: dnsmasq did not start: %v", lastErr)
	return nil
}

func (d *Dnsmasq) writeHosts(t testing.TB, hosts map[string][]string) {
	t.Helper()
	var b strings.Builder
	for name, addrs := range hosts {
		for _, a := range addrs {
			fmt.Fprintf(&b, "%s %s\n", a, name)
		}
	}
	if err := os.WriteFile(d.hosts, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("dnstest: %v", err)
	}
}

func (d *Dnsmasq) start(t testing.TB, bin string, port int) error {
	args := []string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--addn-hosts=" + d.hosts, "--port=" + strconv.Itoa(port), "--listen-address=127.0.0.1",
		"--bind-interfaces", "--pid-file=", "--log-queries", "--log-facility=-", "--cache-size=0",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root") // keep reading the test's private temp dir
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log = append(d.log, sc.Text())
			d.mu.Unlock()
		}
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill() // by PID: this child only
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("dnsmasq exited: %s", strings.Join(d.Log(), "; "))
		default:
		}
		if d.answers() {
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("dnsmasq on port %d did not answer within 10s: %s", port, strings.Join(d.Log(), "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answers reports whether the server answers a query at all.
func (d *Dnsmasq) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("probe.invalid.", dns.TypeA)
	_, _, err := (&dns.Client{}).ExchangeContext(ctx, m, d.addr)
	return err == nil
}

// Addr returns the server's address, "127.0.0.1:port".
func (d *Dnsmasq) Addr() string { return d.addr }

// Log returns dnsmasq's log lines so far.
func (d *Dnsmasq) Log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// Queries counts the queries for name of type qtype ("A", "AAAA") that
// dnsmasq logged.
func (d *Dnsmasq) Queries(name, qtype string) int {
	want := "query[" + qtype + "] " + strings.TrimSuffix(name, ".") + " "
	n := 0
	for _, l := range d.Log() {
		if strings.Contains(l, want) {
			n++
		}
	}
	return n
}

// freeUDPTCPPort returns a port of 127.0.0.1 that was free for both UDP
// and TCP a moment ago.
func freeUDPTCPPort() (int, error) {
	var lastErr error
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if err != nil {
			lastErr = err
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on 127.0.0.1: %w", lastErr)
}
