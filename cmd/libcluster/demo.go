package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/httpapi"
	"github.com/libcluster-go/libcluster/internal/scale"
)

// demoResult is what --json prints.
type demoResult struct {
	Nodes       int    `json:"nodes"`
	Strategy    string `json:"strategy"`
	Connector   string `json:"connector"`
	ConvergedMS int64  `json:"converged_ms"`
	// LaunchedMS is the part of ConvergedMS spent starting the processes:
	// first start to last start.
	LaunchedMS     int64 `json:"launched_ms"`
	DownDetectedMS int64 `json:"down_detected_ms"`
	HealedMS       int64 `json:"healed_ms"`
	Runs           int   `json:"runs,omitempty"` // with --runs > 1: the figures are medians
	PIDs           []int `json:"pids"`           // every child process started
}

var demoStrategies = []string{"epmd", "gossip"}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "[--nodes 5] [--strategy epmd] [--json] [--runs 1] [--timeout 60s] [--web]", stderr)
	nodes := fs.Int("nodes", 5, "how many node processes to start (2 to 64 with dist, 2 to 256 with memberlist)")
	conn := fs.String("connector", "dist", "the nodes' connector: dist (Erlang distribution, on 127.0.0.1) or memberlist (each node on its own loopback address, 127.1.0.x)")
	strat := fs.String("strategy", "epmd", "discovery strategy: "+strings.Join(demoStrategies, ", "))
	asJSON := fs.Bool("json", false, "print one JSON object with the figures at the end instead of the live table")
	runs := fs.Int("runs", 1, "repeat the whole demo this many times and report the median figures")
	timeout := fs.Duration("timeout", 60*time.Second, "fail when a phase (converge, notice the loss, heal) takes longer")
	keep := fs.Bool("keep", false, "keep the temporary directory with the generated configs and node logs")
	web := fs.Bool("web", false, "serve the live web view of the demo cluster and print its URL; the demo starts when the page is opened and keeps the cluster running until Ctrl-C")
	webAddr := fs.String("web-addr", "127.0.0.1:0", "with --web: host:port to serve the page on")
	webPause := fs.Duration("web-pause", 3*time.Second, "with --web: pause between the phases, so each can be watched")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	maxNodes := 64
	if *conn == "memberlist" {
		maxNodes = 256
	}
	switch {
	case *conn != "dist" && *conn != "memberlist":
		fmt.Fprintf(stderr, "libcluster demo: --connector %q; want dist or memberlist\n", *conn)
		return exitUsage
	case *nodes < 2 || *nodes > maxNodes:
		fmt.Fprintf(stderr, "libcluster demo: --nodes %d is out of range; want 2 to %d with --connector %s\n", *nodes, maxNodes, *conn)
		return exitUsage
	case !slices.Contains(demoStrategies, *strat):
		fmt.Fprintf(stderr, "libcluster demo: --strategy %q is not supported; want one of %s\n", *strat, strings.Join(demoStrategies, ", "))
		return exitUsage
	case *runs < 1:
		fmt.Fprintf(stderr, "libcluster demo: --runs %d; want at least 1\n", *runs)
		return exitUsage
	case *timeout <= 0:
		fmt.Fprintln(stderr, "libcluster demo: --timeout must be positive, e.g. 60s")
		return exitUsage
	case *web && *runs > 1:
		fmt.Fprintln(stderr, "libcluster demo: --web shows one run; drop --runs or --web")
		return exitUsage
	case *webPause < 0:
		fmt.Fprintln(stderr, "libcluster demo: --web-pause must not be negative, e.g. 3s")
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "libcluster demo: cannot find this program's path to start the nodes:", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	out := stdout
	if *asJSON {
		out = stderr // the live view goes to stderr, the JSON alone to stdout
	}
	var dw *demoWeb
	if *web {
		dw, err = startDemoWeb(*webAddr, demoName(*conn, 0))
		if err != nil {
			fmt.Fprintf(stderr, "libcluster demo: --web-addr %s: %v; choose a free address\n", *webAddr, err)
			return exitUsage
		}
		defer dw.close()
	}
	var results []demoResult
	for i := range *runs {
		if *runs > 1 {
			fmt.Fprintf(out, "run %d of %d\n", i+1, *runs)
		}
		d := &demo{n: *nodes, strategy: *strat, connector: *conn, exe: exe, timeout: *timeout, out: out, tty: isTerminal(out), keep: *keep, web: dw, webPause: *webPause}
		res, err := d.run(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "libcluster demo:", err)
			return exitFailure
		}
		results = append(results, res)
	}
	final := results[0]
	if *runs > 1 {
		final.Runs = *runs
		final.ConvergedMS = median(results, func(r demoResult) int64 { return r.ConvergedMS })
		final.LaunchedMS = median(results, func(r demoResult) int64 { return r.LaunchedMS })
		final.DownDetectedMS = median(results, func(r demoResult) int64 { return r.DownDetectedMS })
		final.HealedMS = median(results, func(r demoResult) int64 { return r.HealedMS })
		final.PIDs = nil
		for _, r := range results {
			final.PIDs = append(final.PIDs, r.PIDs...)
		}
	}
	if *asJSON {
		b, _ := json.Marshal(final)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	what := "took"
	if *runs > 1 {
		what = fmt.Sprintf("median of %d runs", *runs)
	}
	fmt.Fprintf(stdout, "\n%d nodes, strategy %s, connector %s (%s): converged in %d ms, loss noticed in %d ms, healed in %d ms\n",
		final.Nodes, final.Strategy, final.Connector, what, final.ConvergedMS, final.DownDetectedMS, final.HealedMS)
	return exitOK
}

func median(rs []demoResult, f func(demoResult) int64) int64 {
	v := make([]int64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// demo is one run of the demo.
type demo struct {
	n         int
	strategy  string
	connector string // dist or memberlist
	exe       string
	timeout   time.Duration
	out       io.Writer
	tty       bool
	keep      bool
	web       *demoWeb      // with --web
	webPause  time.Duration // with --web: pause between phases

	dir      string
	epmdAddr string
	cookie   string
	udpPort  int // gossip
	mlPort   int // memberlist: the port every node binds on its own address
	children []*child
	pids     []int
	client   *http.Client

	lastLines int    // lines of the last table drawn (terminal mode)
	lastPlain string // last state printed (plain mode)
	phase     string
	start     time.Time
}

// child is one node process.
type child struct {
	name     libcluster.Node
	http     string // the node's HTTP address, once it has written addrFile
	addrFile string
	config   string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited and was reaped
	state    string        // starting, running, killed, stopped
	view     *httpapi.Members
	sees     map[string]bool // view's nodes
	polled   time.Time       // when view was fetched
}

// setView records a fetched view (nil: none).
func (c *child) setView(m *httpapi.Members) {
	c.view, c.sees = m, nil
	if m != nil {
		c.sees = make(map[string]bool, len(m.Nodes))
		for _, n := range m.Nodes {
			c.sees[n] = true
		}
	}
}

func (d *demo) run(ctx context.Context) (res demoResult, err error) {
	res = demoResult{Nodes: d.n, Strategy: d.strategy, Connector: d.connector}
	d.client = &http.Client{Timeout: time.Second}
	d.dir, err = os.MkdirTemp("", "libcluster-demo-")
	if err != nil {
		return res, fmt.Errorf("cannot create a temporary directory: %w", err)
	}
	defer func() {
		if d.keep || err != nil {
			fmt.Fprintf(d.out, "configs and node logs kept in %s\n", d.dir)
			return
		}
		os.RemoveAll(d.dir)
	}()

	// One EPMD for the demo, on a free port, so the demo never touches
	// port 4369 or an EPMD already running on this machine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("cannot listen on loopback for the demo EPMD: %w", err)
	}
	srv := &epmd.Server{Logger: discardLog()}
	go srv.Serve(ln)
	defer srv.Close()
	d.epmdAddr = ln.Addr().String()

	b := make([]byte, 16)
	rand.Read(b)
	d.cookie = strings.ToUpper(hex.EncodeToString(b))
	if d.strategy == "gossip" {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return res, fmt.Errorf("cannot find a free UDP port for gossip: %w", err)
		}
		d.udpPort = u.LocalAddr().(*net.UDPAddr).Port
		u.Close()
	}
	if d.connector == "memberlist" {
		ips := make([]string, d.n)
		for i := range ips {
			ips[i] = scale.MemberIP(i).String()
		}
		if d.mlPort, err = scale.FreePortOn(ips); err != nil {
			return res, err
		}
	}
	if err := d.prepare(); err != nil {
		return res, err
	}
	defer d.stopAll()
	defer func() { res.PIDs = slices.Clone(d.pids) }()

	if d.web != nil {
		fmt.Fprintf(d.out, "web view: %s\nopen it in a browser; the demo starts when the page is opened (Ctrl-C to stop)\n", d.web.URL())
		select {
		case <-d.web.opened:
		case <-ctx.Done():
			return res, errors.New("interrupted before the page was opened")
		}
	}

	// 1. Start every node and wait until each sees all the others.
	d.start = time.Now()
	d.phase = fmt.Sprintf("starting %d nodes", d.n)
	for _, c := range d.children {
		if err := d.spawn(c); err != nil {
			return res, err
		}
	}
	res.LaunchedMS = time.Since(d.start).Milliseconds()
	took, err := d.waitUntil(ctx, "converging", d.seesAll)
	if err != nil {
		return res, err
	}
	res.ConvergedMS = took.Milliseconds()
	d.note("converged: every node sees the %d others after %d ms (%d ms of it starting the processes)", d.n-1, res.ConvergedMS, res.LaunchedMS)
	d.pause(ctx)

	// 2. Kill one node and wait until every other notices.
	victim := d.children[len(d.children)/2]
	d.start = time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		return res, fmt.Errorf("cannot kill %s (pid %d): %w", victim.name, victim.cmd.Process.Pid, err)
	}
	<-victim.done
	victim.state = "killed"
	victim.setView(nil)
	if d.web != nil {
		d.web.set(victim.name, "")
	}
	took, err = d.waitUntil(ctx, fmt.Sprintf("killed %s (pid %d)", victim.name, victim.cmd.Process.Pid), func(c *child) bool { return d.dropped(c, victim) })
	if err != nil {
		return res, err
	}
	res.DownDetectedMS = took.Milliseconds()
	d.note("node down: every other node dropped %s after %d ms", victim.name, res.DownDetectedMS)
	d.pause(ctx)

	// 3. Restart it and wait until the cluster is whole again.
	d.start = time.Now()
	if err := d.spawn(victim); err != nil {
		return res, err
	}
	took, err = d.waitUntil(ctx, fmt.Sprintf("restarted %s (pid %d)", victim.name, victim.cmd.Process.Pid), d.seesAll)
	if err != nil {
		return res, err
	}
	res.HealedMS = took.Milliseconds()
	d.note("healed: all %d nodes see each other again after %d ms", d.n, res.HealedMS)
	if d.web != nil {
		fmt.Fprintf(d.out, "the cluster keeps running for the web view at %s; press Ctrl-C to stop it\n", d.web.URL())
		<-ctx.Done()
	}

	if err := d.stopAll(); err != nil {
		return res, err
	}
	return res, nil
}

func (d *demo) prepare() error {
	var hosts []string
	for i := range d.n {
		hosts = append(hosts, string(demoName(d.connector, i)))
	}
	for i := range d.n {
		c := &child{
			name:     libcluster.Node(hosts[i]),
			addrFile: filepath.Join(d.dir, fmt.Sprintf("demo%d.http", i+1)),
			config:   filepath.Join(d.dir, fmt.Sprintf("demo%d.yaml", i+1)),
			logPath:  filepath.Join(d.dir, fmt.Sprintf("demo%d.log", i+1)),
			state:    "new",
		}
		nodeSection := fmt.Sprintf(`node:
  name: %s
  cookie: %s
  listen: 127.0.0.1:0
  epmd: %s
  tick_time: 2s
`, c.name, d.cookie, d.epmdAddr)
		if d.connector == "memberlist" {
			nodeSection = fmt.Sprintf(`node:
  name: %s
  connector: memberlist
  memberlist:
    bind: %s
    secret_key: %s
    profile: local
    leave_timeout: 1s
`, c.name, net.JoinHostPort(c.name.Host(), fmt.Sprint(d.mlPort)), d.mlKey())
		}
		cfg := fmt.Sprintf(`# generated by libcluster demo
%shttp:
  listen: 127.0.0.1:0
topologies:
  demo:
%s    policy:
      connect_timeout: 1s
      resync: 500ms
      backoff: {initial: 50ms, max: 500ms}
`, nodeSection, d.strategyConfig(hosts))
		if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
			return fmt.Errorf("cannot write the node config: %w", err)
		}
		d.children = append(d.children, c)
	}
	return nil
}

// demoName is the name of node i (from 0): on 127.0.0.1 under dist, on
// an address of its own under memberlist, where every node binds one port.
func demoName(connector string, i int) libcluster.Node {
	host := "127.0.0.1"
	if connector == "memberlist" {
		host = scale.MemberIP(i).String()
	}
	return libcluster.Node(fmt.Sprintf("demo%d@%s", i+1, host))
}

// mlKey is the memberlist secret key of this run: the cookie's 16 random
// bytes, so that two demos never merge.
func (d *demo) mlKey() string {
	b, _ := hex.DecodeString(d.cookie)
	return base64.StdEncoding.EncodeToString(b)
}

// strategyConfig is the topology's strategy and config section.
func (d *demo) strategyConfig(hosts []string) string {
	if d.strategy == "gossip" {
		// Multicast on the loopback interface only, on a port and with a
		// secret of this run, so two demos never hear each other.
		return fmt.Sprintf(`    strategy: gossip
    config:
      port: %d
      if_addr: 0.0.0.0
      multicast_addr: 233.252.1.32
      multicast_if: 127.0.0.1
      security: aead
      secret: %s
      cluster: demo-%d
      interval: 1s
`, d.udpPort, d.cookie, d.udpPort)
	}
	return fmt.Sprintf("    strategy: epmd\n    config:\n      hosts: [%s]\n", strings.Join(hosts, ", "))
}

func (d *demo) spawn(c *child) error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the node log: %w", err)
	}
	os.Remove(c.addrFile)
	c.http = ""
	cmd := exec.Command(d.exe, "run", "--config", c.config, "--log-level", "info", "--http-addr-file", c.addrFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv(os.Environ(), d.n, runtime.NumCPU())
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("cannot start node %s: %w", c.name, err)
	}
	logf.Close()
	if d.n >= runtime.NumCPU() {
		// Nice 10: the demo, which starts the nodes and times them, runs
		// first when the nodes keep every CPU busy. Otherwise it waits
		// behind 200 of them: starting them took 5-10 s instead of under
		// 4, and every poll came late. Best effort; the nodes run anyway.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, childNice)
	}
	c.cmd, c.done, c.state = cmd, make(chan struct{}), "starting"
	c.setView(nil)
	d.pids = append(d.pids, cmd.Process.Pid)
	done := c.done
	go func() {
		cmd.Wait()
		close(done)
	}()
	return nil
}

// childNice is the scheduling priority of the nodes of a demo that runs at
// least as many nodes as CPUs (see spawn).
const childNice = 10

// childEnv is the environment of a node process: the demo's own, plus
// GOMAXPROCS=1 when the demo runs at least as many nodes as the machine
// has CPUs and the caller did not set GOMAXPROCS. With the default (one P
// per CPU) every node's runtime wakes a second thread to look for work at
// each packet it receives; 200 nodes on 2 cores then spend their time
// switching threads (load average above 300), are starved past
// memberlist's suspicion timeout and declare each other failed. With one
// P each, the same run takes a third of the CPU time (docs/benchmarks.md).
func childEnv(env []string, nodes, cpus int) []string {
	if nodes < cpus {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "GOMAXPROCS=1")
}

// stopAll ends every child: SIGTERM, then SIGKILL after a grace period.
// It returns an error if a node did not leave cleanly.
func (d *demo) stopAll() error {
	var errs []error
	for _, c := range d.children {
		if c.cmd == nil || exited(c) {
			continue
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range d.children {
		if c.cmd == nil {
			continue
		}
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, fmt.Errorf("node %s (pid %d) did not stop within 5s of SIGTERM and was killed", c.name, c.cmd.Process.Pid))
		}
		if c.state != "killed" {
			c.state = "stopped"
		}
	}
	return errors.Join(errs...)
}

func exited(c *child) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Polling: a node whose view does not yet satisfy the phase is fetched
// every round; one that does is fetched again after pollRecheck, and
// every node once more before a phase ends, so a view that regressed is
// noticed. A round of k fetches is followed by a pause of pollGap plus
// pollPerFetch·k, and at most pollParallel run at once, so that the demo's
// own polling stays a small share of the machine at a few hundred nodes
// (fetching every node every 20 ms starved 200 nodes on two cores).
const (
	pollGap      = 20 * time.Millisecond
	pollPerFetch = time.Millisecond
	pollRecheck  = 500 * time.Millisecond
	pollParallel = 32
)

// live reports whether c is a running (or starting) node of this phase.
func live(c *child) bool {
	return c.state != "killed" && c.state != "stopped" && c.cmd != nil
}

// poll fetches the /members of every live child that needs it (see
// pollRecheck; all of them when full) and returns how many it fetched.
func (d *demo) poll(ctx context.Context, ok func(*child) bool, full bool) int {
	var wg sync.WaitGroup
	sem := make(chan struct{}, pollParallel)
	now := time.Now()
	n := 0
	for _, c := range d.children {
		if !live(c) {
			continue
		}
		if c.http == "" {
			b, err := os.ReadFile(c.addrFile)
			if err != nil {
				continue // not serving yet
			}
			c.http = strings.TrimSpace(string(b))
			if d.web != nil {
				d.web.set(c.name, c.http)
			}
		}
		if !full && c.view != nil && ok(c) && now.Sub(c.polled) < pollRecheck {
			continue
		}
		n++
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m, _, err := fetchMembers(ctx, d.client, c.http)
			if err != nil {
				c.setView(nil)
				return
			}
			c.setView(&m)
			c.polled = time.Now()
			c.state = "running"
		})
	}
	wg.Wait()
	return n
}

// holds reports whether every live child satisfies ok.
func (d *demo) holds(ok func(*child) bool) bool {
	for _, c := range d.children {
		if live(c) && (c.view == nil || !ok(c)) {
			return false
		}
	}
	return true
}

// waitUntil polls until every live child satisfies ok, drawing the table,
// and returns how long it took since d.start: until the round in which
// the last child was seen to satisfy it, confirmed by fetching every
// child once more.
func (d *demo) waitUntil(ctx context.Context, phase string, ok func(*child) bool) (time.Duration, error) {
	d.phase = phase
	deadline := time.Now().Add(d.timeout)
	pause := time.NewTimer(0)
	defer pause.Stop()
	<-pause.C
	for {
		fetched := d.poll(ctx, ok, false)
		now := time.Now()
		if d.holds(ok) {
			d.poll(ctx, ok, true)
			if d.holds(ok) {
				d.draw(now)
				return now.Sub(d.start), nil
			}
		}
		d.draw(now)
		for _, c := range d.children {
			if c.state != "killed" && c.cmd != nil && exited(c) {
				return 0, fmt.Errorf("node %s exited unexpectedly (%v) while %s; its log: %s\n%s", c.name, c.cmd.ProcessState, phase, c.logPath, tail(c.logPath, 10))
			}
		}
		if now.After(deadline) {
			return 0, fmt.Errorf("no convergence: still %s after %v; node logs are in %s", phase, d.timeout, d.dir)
		}
		pause.Reset(pollGap + pollPerFetch*time.Duration(fetched))
		select {
		case <-ctx.Done():
			return 0, errors.New("interrupted; stopping every node")
		case <-pause.C:
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// seesAll: c lists every other node.
func (d *demo) seesAll(c *child) bool {
	for _, o := range d.children {
		if o != c && !c.sees[string(o.name)] {
			return false
		}
	}
	return true
}

// dropped: c is the victim, or no longer lists it.
func (d *demo) dropped(c, victim *child) bool {
	return c == victim || !c.sees[string(victim.name)]
}

// pause waits between phases with --web, so a person watching the page
// sees each state; the next phase starts at once without --web.
func (d *demo) pause(ctx context.Context) {
	if d.web == nil || d.webPause == 0 {
		return
	}
	t := time.NewTimer(d.webPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// note prints a milestone below the table.
func (d *demo) note(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
	d.lastLines, d.lastPlain = 0, ""
}

func (d *demo) draw(now time.Time) {
	elapsed := now.Sub(d.start).Truncate(time.Millisecond)
	if !d.tty {
		var parts []string
		for _, c := range d.children {
			parts = append(parts, fmt.Sprintf("%s:%s", c.name.Name(), d.sees(c)))
		}
		line := strings.Join(parts, " ")
		if line != d.lastPlain {
			fmt.Fprintf(d.out, "%8v  %-32s %s\n", elapsed, d.phase, line)
			d.lastPlain = line
		}
		return
	}
	var b strings.Builder
	if d.lastLines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.lastLines)
	}
	lines := []string{
		fmt.Sprintf("%s — %v", d.phase, elapsed),
		fmt.Sprintf("%-22s %-8s %-9s %-6s %s", "NODE", "PID", "STATE", "SEES", "MISSING"),
	}
	for _, c := range d.children {
		pid := "-"
		if c.cmd != nil {
			pid = fmt.Sprint(c.cmd.Process.Pid)
		}
		lines = append(lines, fmt.Sprintf("%-22s %-8s %-9s %-6s %s", c.name, pid, c.state, d.sees(c), strings.Join(d.missing(c), " ")))
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
	}
	fmt.Fprint(d.out, b.String())
	d.lastLines = len(lines)
}

func (d *demo) sees(c *child) string {
	if c.view == nil {
		return "-"
	}
	n := 0
	for _, o := range d.children {
		if o != c && c.sees[string(o.name)] {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, d.n-1)
}

func (d *demo) missing(c *child) []string {
	if c.view == nil {
		return nil
	}
	var out []string
	for _, o := range d.children {
		if o != c && !c.sees[string(o.name)] {
			out = append(out, o.name.Name())
		}
	}
	return out
}
