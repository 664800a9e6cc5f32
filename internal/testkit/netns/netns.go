// Package netns builds throw-away networks of Linux network namespaces for
// tests: a "switch" namespace holding a bridge, and n "host" namespaces,
// each wired to the bridge by a veth pair and given an address in a private
// /24 and an IPv6 unique-local address in a private /64, both of which exist
// only inside these namespaces. Hosts have no uplink, so
// multicast and broadcast never leave the lab. Everything is deleted by
// t.Cleanup, also when the test fails.
//
// Go code runs inside a host by re-executing the test binary: call
// [RunHelper] from TestMain and start a registered role with
// [Host.StartHelper].
//
// Tests that use a Lab need root; New skips (fails under CI) without it.
package netns

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// Subnet is the address range of every lab. It is used only inside the
// lab's namespaces, never routed anywhere else, so labs may run in
// parallel.
var Subnet = netip.MustParsePrefix("10.213.0.0/24")

// Subnet6 is the IPv6 (unique local) range of every lab, used like Subnet:
// host i has Subnet6's address ::(i+1) on its eth0, next to its automatic
// fe80:: link-local address.
var Subnet6 = netip.MustParsePrefix("fd0d:213::/64")

// Lab is a switch namespace with a bridge and n host namespaces.
type Lab struct {
	t      testing.TB
	id     string
	Switch string // name of the switch namespace
	hosts  []*Host
}

// Host is one namespace of a lab.
type Host struct {
	lab   *Lab
	Index int        // 0-based
	NS    string     // namespace name, for ip netns exec
	Addr  netip.Addr // 10.213.0.(Index+1)
	Addr6 netip.Addr // fd0d:213::(Index+1)
	port  string     // veth name on the switch side
}

// New creates a lab of n hosts and registers its removal with t.Cleanup.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	testenv.Root(t)
	testenv.Command(t, "ip", "install iproute2")
	if n < 1 || n > 200 {
		t.Fatalf("netns.New: n = %d, want 1..200", n)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	l := &Lab{t: t, id: id, Switch: "lcsw-" + id}
	t.Cleanup(l.destroy)
	l.ip("netns", "add", l.Switch)
	l.ip("-n", l.Switch, "link", "set", "lo", "up")
	l.ip("-n", l.Switch, "link", "add", "br0", "type", "bridge")
	// Let multicast through without a querier, and forward at once.
	l.ip("-n", l.Switch, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0", "forward_delay", "0")
	l.ip("-n", l.Switch, "link", "set", "br0", "up")
	for i := range n {
		h := &Host{lab: l, Index: i, NS: fmt.Sprintf("lch%d-%s", i, id), port: fmt.Sprintf("p%d", i)}
		base := Subnet.Addr().As4()
		base[3] = byte(i + 1)
		h.Addr = netip.AddrFrom4(base)
		base6 := Subnet6.Addr().As16()
		base6[15] = byte(i + 1)
		h.Addr6 = netip.AddrFrom16(base6)
		l.ip("netns", "add", h.NS)
		l.ip("-n", l.Switch, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
		l.ip("-n", l.Switch, "link", "set", h.port, "master", "br0", "up")
		l.ip("-n", h.NS, "link", "set", "lo", "up")
		l.ip("-n", h.NS, "addr", "add", netip.PrefixFrom(h.Addr, Subnet.Bits()).String(), "dev", "eth0")
		// nodad: the address is usable at once instead of after the
		// second or so of duplicate address detection; the lab assigns
		// every address exactly once, so there is nothing to detect.
		l.ip("-n", h.NS, "-6", "addr", "add", netip.PrefixFrom(h.Addr6, Subnet6.Bits()).String(), "dev", "eth0", "nodad")
		l.ip("-n", h.NS, "link", "set", "eth0", "up")
		// The only route out is the lab's bridge: multicast and the
		// default route both go to eth0, and there is no uplink behind it.
		l.ip("-n", h.NS, "route", "add", "default", "dev", "eth0")
		l.hosts = append(l.hosts, h)
	}
	return l
}

// Host returns host i (0-based).
func (l *Lab) Host(i int) *Host { return l.hosts[i] }

// Hosts returns every host.
func (l *Lab) Hosts() []*Host { return l.hosts }

// Broadcast is the subnet's broadcast address, 10.213.0.255.
func (l *Lab) Broadcast() netip.Addr { return netip.MustParseAddr("10.213.0.255") }

func (l *Lab) ip(args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (l *Lab) destroy() {
	for _, h := range l.hosts {
		_ = exec.Command("ip", "netns", "del", h.NS).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.Switch).Run()
}

// Cut disconnects host i from the bridge (its switch port goes down);
// its processes keep running.
func (l *Lab) Cut(i int) { l.ip("-n", l.Switch, "link", "set", l.hosts[i].port, "down") }

// Restore reconnects host i after Cut.
func (l *Lab) Restore(i int) { l.ip("-n", l.Switch, "link", "set", l.hosts[i].port, "up") }

// Command returns a command that runs inside the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command inside the host and returns its combined output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return h.Command(ctx, name, args...).CombinedOutput()
}

// Proc is a process started in a host. Its stdout lines arrive on Lines.
type Proc struct {
	Cmd   *exec.Cmd
	Lines <-chan string // stdout, line by line; closed at EOF
	done  chan struct{}
	once  sync.Once
}

// Start starts cmd (typically from Command) with stdout captured line by
// line, stderr passed to the test log, and a cleanup that kills it by PID.
func (h *Host) Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t, prefix: h.NS + ": "}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", cmd.Args, h.NS, err)
	}
	lines := make(chan string, 1024)
	p := &Proc{Cmd: cmd, Lines: lines, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// PID returns the process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Kill sends SIGKILL to the process (by PID) and waits for it to exit.
func (p *Proc) Kill() {
	p.once.Do(func() {
		_ = syscall.Kill(p.PID(), syscall.SIGCONT) // a paused process must be able to die
		_ = p.Cmd.Process.Kill()
	})
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Pause stops the process with SIGSTOP.
func (p *Proc) Pause() error { return syscall.Kill(p.PID(), syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *Proc) Resume() error { return syscall.Kill(p.PID(), syscall.SIGCONT) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

type testWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

const helperEnv = "LIBCLUSTER_NETNS_HELPER"

var (
	helpersMu sync.Mutex
	helpers   = map[string]func(args []string) int{}
)

// RunHelper is called first thing in a test package's TestMain. When the
// binary was re-executed by [Host.StartHelper], it runs the named role
// with its arguments and exits with its status; otherwise it returns and
// the tests run.
func RunHelper(roles map[string]func(args []string) int) {
	helpersMu.Lock()
	for k, v := range roles {
		helpers[k] = v
	}
	helpersMu.Unlock()
	role := os.Getenv(helperEnv)
	if role == "" {
		return
	}
	fn, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "netns: unknown helper role %q\n", role)
		os.Exit(2)
	}
	os.Exit(fn(os.Args[1:]))
}

// StartHelper re-executes the running test binary inside the host as the
// named role (registered with [RunHelper]) with args, and starts it.
func (h *Host) StartHelper(t testing.TB, ctx context.Context, role string, args ...string) *Proc {
	t.Helper()
	helpersMu.Lock()
	_, ok := helpers[role]
	helpersMu.Unlock()
	if !ok {
		t.Fatalf("netns: helper role %q not registered; call netns.RunHelper from TestMain", role)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(ctx, exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	return h.Start(t, cmd)
}

// Expect reads lines from p until match returns true or the timeout ends;
// it fails the test on timeout or EOF and returns the matching line.
func (p *Proc) Expect(t testing.TB, timeout time.Duration, match func(line string) bool) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-p.Lines:
			if !ok {
				t.Fatalf("process %d ended before the expected output", p.PID())
			}
			if match(l) {
				return l
			}
		case <-deadline.C:
			t.Fatalf("process %d: expected output not seen within %v", p.PID(), timeout)
		}
	}
}

var _ io.Writer = (*testWriter)(nil)
