package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/httpapi"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

var binary string // the libcluster binary built once for all tests

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "libcluster-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "libcluster")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building libcluster: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the binary to completion and returns exit code, stdout, stderr.
func runCLI(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	// Temporary files (the demo's configs and logs, kept when it fails) go
	// where the test removes them.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running libcluster %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("libcluster %v did not finish within %v; stderr:\n%s", args, timeout, stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

// stop sends SIGTERM to a process started by erltest.Start and waits for
// a clean exit.
func stop(t *testing.T, p *erltest.Proc) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("process %d did not exit within 15s of SIGTERM", p.Pid())
	}
	if err := p.Err(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want exit code 0; output:\n%s", err, p.Output())
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last state: %s", what, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getMembers(addr string) (httpapi.Members, error) {
	var m httpapi.Members
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/members")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

func TestHelp(t *testing.T) {
	for _, c := range commands {
		code, out, _ := runCLI(t, 30*time.Second, c.name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: libcluster "+c.name) {
			t.Errorf("%s --help: exit %d, output %q", c.name, code, out)
		}
	}
	code, out, _ := runCLI(t, 30*time.Second, "--help")
	if code != 0 || !strings.Contains(out, "explain") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	code, _, errOut := runCLI(t, 30*time.Second, "rn")
	if code == 0 || !strings.Contains(errOut, `did you mean "run"`) {
		t.Errorf("typo: exit %d, %q", code, errOut)
	}
	code, out, _ = runCLI(t, 30*time.Second, "version")
	if code != 0 || !strings.HasPrefix(out, "libcluster ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestDemo(t *testing.T) {
	testenv.Short(t)
	cases := []struct {
		conn string
		n    int
	}{{"dist", 3}, {"dist", 5}, {"memberlist", 4}}
	for _, c := range cases {
		n := c.n
		t.Run(fmt.Sprintf("%s/%d", c.conn, n), func(t *testing.T) {
			code, out, errOut := runCLI(t, 5*time.Minute, "demo", "--json", "--connector", c.conn, "--nodes", fmt.Sprint(n), "--timeout", "60s")
			if code != 0 {
				t.Fatalf("demo exit %d; stderr:\n%s", code, errOut)
			}
			var r demoResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("demo output %q is not JSON: %v", out, err)
			}
			if r.Nodes != n || r.Strategy != "epmd" || r.Connector != c.conn || r.ConvergedMS <= 0 || r.HealedMS <= 0 || r.DownDetectedMS < 0 ||
				r.LaunchedMS < 0 || r.LaunchedMS > r.ConvergedMS {
				t.Errorf("demo result = %+v", r)
			}
			if len(r.PIDs) != n+1 { // every node plus the restarted one
				t.Errorf("demo started %d processes, want %d: %v", len(r.PIDs), n+1, r.PIDs)
			}
			for _, pid := range r.PIDs {
				if !processGone(pid) {
					t.Errorf("child process %d still runs after demo exited", pid)
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	epmdPort := clustertest.FreePort(t) // nothing listens: the node never gets that far
	base := func(extra string) string {
		return "node:\n  name: a@127.0.0.1\n  cookie: c\n  epmd: 127.0.0.1:" + fmt.Sprint(epmdPort) + "\n" + extra
	}
	topo := "topologies:\n  t:\n    strategy: epmd\n    config: {hosts: [b@127.0.0.1]}\n"
	cases := []struct {
		name   string
		config string // file content; "" means the file does not exist
		want   []string
	}{
		{"missing file", "", []string{"does not exist"}},
		{"yaml syntax", "node: [a\n", []string{"YAML syntax error"}},
		{"unknown key", base("  tick_tme: 2s\n") + topo, []string{":5: node.tick_tme: unknown key", `did you mean "tick_time"`}},
		{"unknown strategy", base("") + "topologies:\n  t:\n    strategy: gosip2000\n", []string{`unknown strategy "gosip2000"`, "allowed: ", "epmd"}},
		{"invalid node name", "node: {name: nohost, cookie: c}\n" + topo, []string{"node.name", `invalid node name "nohost"`}},
		{"bad duration", base("  tick_time: 5 minutes\n") + topo, []string{"node.tick_time", "invalid duration"}},
		{"http port in use", base("http:\n  listen: "+busyAddr+"\n") + topo, []string{"http.listen " + busyAddr, "address already in use"}},
		{"node port in use", base("  listen: "+busyAddr+"\n") + topo, []string{"listening on " + busyAddr, "address already in use"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.yaml")
			if c.config != "" {
				path = writeFile(t, "cluster.yaml", c.config)
			}
			code, _, errOut := runCLI(t, 30*time.Second, "run", "--config", path)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; stderr:\n%s", errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestExplain(t *testing.T) {
	path := writeFile(t, "cluster.yaml", `node: {name: a@127.0.0.1, cookie: c}
topologies:
  good:
    strategy: epmd
    config: {hosts: [a@127.0.0.1, b@127.0.0.1, c@127.0.0.1]}
`)
	code, out, errOut := runCLI(t, 30*time.Second, "explain", "--config", path)
	if code != 0 {
		t.Fatalf("explain exit %d: %s%s", code, out, errOut)
	}
	for _, w := range []string{"topology good (strategy epmd)", "dropped  a@127.0.0.1", "this node itself", "kept     b@127.0.0.1", "connect            c@127.0.0.1"} {
		if !strings.Contains(out, w) {
			t.Errorf("explain output lacks %q:\n%s", w, out)
		}
	}
	empty := writeFile(t, "empty.yaml", "node: {name: a@127.0.0.1, cookie: c}\ntopologies: {none: {strategy: epmd, config: {hosts: [a@127.0.0.1]}}}\n")
	code, out, _ = runCLI(t, 30*time.Second, "explain", "--config", empty)
	if code == 0 || !strings.Contains(out, "found no peer") {
		t.Errorf("explain of an empty topology: exit %d, %s", code, out)
	}
}

// startEPMD runs `libcluster epmd` on a free port and returns the port.
func startEPMD(t *testing.T) int {
	t.Helper()
	port := clustertest.FreePort(t)
	p := erltest.Start(t, nil, binary, "epmd", "--port", fmt.Sprint(port), "--address", "127.0.0.1")
	eventually(t, 20*time.Second, "epmd listening", func() (bool, string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	t.Cleanup(func() { stop(t, p) })
	return port
}

func TestRunTwoNodes(t *testing.T) {
	epmdPort := startEPMD(t)
	httpA, httpB := clustertest.FreePort(t), clustertest.FreePort(t)
	cfg := func(name string, httpPort int, peer string) string {
		return fmt.Sprintf(`node:
  name: %s
  cookie: twonodes
  listen: 127.0.0.1:0
  epmd: 127.0.0.1:%d
  tick_time: 2s
http:
  listen: 127.0.0.1:%d
topologies:
  pair:
    strategy: Cluster.Strategy.Epmd
    config:
      hosts: [%s]
    policy: {min_nodes: 1, backoff: {initial: 50ms, max: 500ms}}
`, name, epmdPort, httpPort, peer)
	}
	a := erltest.Start(t, nil, binary, "run", "--config", writeFile(t, "a.yaml", cfg("a@127.0.0.1", httpA, "b@127.0.0.1")), "--log-format", "json")
	addrA := fmt.Sprintf("127.0.0.1:%d", httpA)
	eventually(t, 20*time.Second, "a serves /readyz", func() (bool, string) {
		resp, err := http.Get("http://" + addrA + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 503, resp.Status
	})
	code, body := httpGet(t, "http://"+addrA+"/readyz")
	if code != 503 || !strings.Contains(body, "pair (0 of 1") {
		t.Errorf("readyz alone = %d %q, want 503 naming topology pair", code, body)
	}
	b := erltest.Start(t, nil, binary, "run", "--config", writeFile(t, "b.yaml", cfg("b@127.0.0.1", httpB, "a@127.0.0.1")))
	eventually(t, 30*time.Second, "a and b connected", func() (bool, string) {
		m, err := getMembers(addrA)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Nodes) == 1 && m.Nodes[0] == "b@127.0.0.1" && m.Topologies["pair"].Ready, fmt.Sprintf("%+v", m)
	})
	if code, body := httpGet(t, "http://"+addrA+"/readyz"); code != 200 {
		t.Errorf("readyz = %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+addrA+"/healthz"); code != 200 {
		t.Errorf("healthz = %d %q", code, body)
	}
	_, metrics := httpGet(t, "http://"+addrA+"/metrics")
	for _, w := range []string{`libcluster_connected_nodes{topology="pair"} 1`, `libcluster_topology_ready{topology="pair"} 1`, `libcluster_desired_nodes{topology="pair"} 1`} {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	code, out, errOut := runCLI(t, 30*time.Second, "members", "--http", addrA)
	if code != 0 || !strings.Contains(out, "self: a@127.0.0.1") || !strings.Contains(out, "b@127.0.0.1") || !strings.Contains(out, "topology pair: ready") {
		t.Errorf("members: exit %d\n%s%s", code, out, errOut)
	}
	// Stopping b: a notices, logs it, and is no longer ready.
	stop(t, b)
	eventually(t, 30*time.Second, "a notices b left", func() (bool, string) {
		m, err := getMembers(addrA)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Nodes) == 0, fmt.Sprintf("%+v", m)
	})
	stop(t, a)
	log := a.Output()
	for _, w := range []string{`"msg":"member joined","node":"b@127.0.0.1"`, `"msg":"member left","node":"b@127.0.0.1"`, `"msg":"node stopped"`} {
		if !strings.Contains(log, w) {
			t.Errorf("a's log lacks %s:\n%s", w, log)
		}
	}
}

func TestErlInterop(t *testing.T) {
	epmdPort := startEPMD(t)
	// erl waits for the Go node to show in nodes(hidden), prints the list
	// and stays up until the test ends.
	script := `W = fun W(0) -> io:format("TIMEOUT ~p~n", [nodes(hidden)]);
	          W(N) -> case lists:member('go1@127.0.0.1', nodes(hidden)) of
	                    true -> io:format("HIDDEN ~p~n", [nodes(hidden)]);
	                    false -> timer:sleep(100), W(N - 1) end end,
	        W(600).`
	e := erltest.StartErl(t, erltest.ErlOptions{Name: "e1@127.0.0.1", Cookie: "interopcookie", EPMDPort: epmdPort, Eval: script})
	eventually(t, 30*time.Second, "erl registered with EPMD", func() (bool, string) {
		out := e.Output()
		if strings.Contains(out, "rror") {
			return false, out
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", epmdPort))
		if err != nil {
			return false, err.Error()
		}
		defer c.Close()
		c.Write([]byte{0, 1, 110}) // NAMES_REQ
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		return bytes.Contains(b, []byte("name e1 ")), string(b)
	})
	httpPort := clustertest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg := fmt.Sprintf(`node:
  name: go1@127.0.0.1
  cookie: interopcookie
  epmd: 127.0.0.1:%d
http:
  listen: %s
topologies:
  erlang:
    strategy: epmd
    config: {hosts: [e1@127.0.0.1]}
`, epmdPort, addr)
	g := erltest.Start(t, nil, binary, "run", "--config", writeFile(t, "go1.yaml", cfg))
	eventually(t, 30*time.Second, "/members lists e1@127.0.0.1", func() (bool, string) {
		m, err := getMembers(addr)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Nodes) == 1 && m.Nodes[0] == "e1@127.0.0.1", fmt.Sprintf("%+v", m)
	})
	eventually(t, 30*time.Second, "erl lists go1 in nodes(hidden)", func() (bool, string) {
		sc := bufio.NewScanner(strings.NewReader(e.Output()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "HIDDEN ") && strings.Contains(sc.Text(), "'go1@127.0.0.1'") {
				t.Logf("erl printed: %s", sc.Text())
				return true, ""
			}
		}
		return false, e.Output()
	})
	stop(t, g)
}

func TestDemoBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--connector", "grpc"}, `--connector "grpc"; want dist or memberlist`},
		{[]string{"--nodes", "65"}, "want 2 to 64 with --connector dist"},
		{[]string{"--connector", "memberlist", "--nodes", "257"}, "want 2 to 256 with --connector memberlist"},
	} {
		code, _, errOut := runCLI(t, 30*time.Second, append([]string{"demo"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("demo %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, exitUsage, c.want)
		}
	}
}

func TestChildEnv(t *testing.T) {
	base := []string{"HOME=/h", "PATH=/bin"}
	for _, c := range []struct {
		env         []string
		nodes, cpus int
		want        string // the GOMAXPROCS entry the child gets; "" for none
	}{
		{base, 3, 4, ""},
		{base, 4, 4, "GOMAXPROCS=1"},
		{base, 200, 2, "GOMAXPROCS=1"},
		{append(base, "GOMAXPROCS=2"), 200, 2, "GOMAXPROCS=2"}, // the caller's choice wins
	} {
		got := childEnv(slices.Clip(c.env), c.nodes, c.cpus)
		var set []string
		for _, kv := range got {
			if strings.HasPrefix(kv, "GOMAXPROCS=") {
				set = append(set, kv)
			}
		}
		if want := []string{c.want}; (c.want == "" && len(set) != 0) || (c.want != "" && !slices.Equal(set, want)) {
			t.Errorf("childEnv(%q, %d nodes, %d CPUs) sets %q; want %q", c.env, c.nodes, c.cpus, set, c.want)
		}
		if !slices.Equal(got[:2], base) {
			t.Errorf("childEnv dropped the caller's environment: %q", got)
		}
	}
	// The caller's slice is never written to.
	env := make([]string, 2, 8)
	copy(env, base)
	childEnv(env, 10, 2)
	if full := env[:3]; full[2] != "" {
		t.Errorf("childEnv wrote into the caller's spare capacity: %q", full)
	}
}
