package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// TestRunMemberlist runs two nodes with the memberlist connector, each on
// its own loopback address with one shared port, whose static hosts lists
// name each other: each lists the other in /members.
func TestRunMemberlist(t *testing.T) {
	port := clustertest.FreeSharedPort(t, "127.0.0.2", "127.0.0.3")
	httpA, httpB := clustertest.FreePort(t), clustertest.FreePort(t)
	cfg := func(base, ip string, httpPort int, peer, policy string) string {
		return fmt.Sprintf(`node:
  name: %[1]s@%[2]s
  connector: memberlist
  memberlist:
    bind: %[2]s:%[3]d
    profile: local
    secret_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
    leave_timeout: 3s
http:
  listen: 127.0.0.1:%[4]d
topologies:
  pair:
    strategy: epmd
    config:
      hosts: [%[5]s]
    policy: {min_nodes: 1, backoff: {initial: 50ms, max: 500ms}%[6]s}
`, base, ip, port, httpPort, peer, policy)
	}
	// a sets a prune policy, which memberlist cannot honour: a warns; b
	// takes the memberlist default (never) and does not.
	a := erltest.Start(t, nil, binary, "run", "--log-format", "json", "--config",
		writeFile(t, "a.yaml", cfg("a", "127.0.0.2", httpA, "b@127.0.0.3", ", prune: immediate")))
	b := erltest.Start(t, nil, binary, "run", "--log-format", "json", "--config",
		writeFile(t, "b.yaml", cfg("b", "127.0.0.3", httpB, "a@127.0.0.2", "")))
	for _, c := range []struct{ addr, self, peer string }{
		{fmt.Sprintf("127.0.0.1:%d", httpA), "a@127.0.0.2", "b@127.0.0.3"},
		{fmt.Sprintf("127.0.0.1:%d", httpB), "b@127.0.0.3", "a@127.0.0.2"},
	} {
		eventually(t, 30*time.Second, c.self+" lists "+c.peer, func() (bool, string) {
			m, err := getMembers(c.addr)
			if err != nil {
				return false, err.Error()
			}
			return m.Self == c.self && len(m.Nodes) == 1 && m.Nodes[0] == c.peer && m.Topologies["pair"].Ready, fmt.Sprintf("%+v", m)
		})
	}
	// b leaves gracefully; a's failure detector is not needed to notice.
	stop(t, b)
	eventually(t, 30*time.Second, "a notices b left", func() (bool, string) {
		m, err := getMembers(fmt.Sprintf("127.0.0.1:%d", httpA))
		if err != nil {
			return false, err.Error()
		}
		return len(m.Nodes) == 0, fmt.Sprintf("%+v", m)
	})
	stop(t, a)
	logA, logB := a.Output(), b.Output()
	for _, w := range []string{`"connector":"memberlist"`, `"msg":"member joined","node":"b@127.0.0.3"`, `"msg":"member left","node":"b@127.0.0.3","reason":"left"`, `prune has no effect with the memberlist connector`, `"msg":"node stopped"`} {
		if !strings.Contains(logA, w) {
			t.Errorf("a's log lacks %s:\n%s", w, logA)
		}
	}
	if strings.Contains(logB, "prune has no effect") {
		t.Errorf("b (default prune) warns about prune:\n%s", logB)
	}
}

func TestRunMemberlistBadInputs(t *testing.T) {
	busy := clustertest.FreeSharedPort(t, "127.0.0.1")
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", busy))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	topo := "topologies:\n  t:\n    strategy: epmd\n    config: {hosts: [b@127.0.0.1]}\n"
	ml := "node:\n  name: a@127.0.0.1\n  connector: memberlist\n"
	cases := []struct {
		name, config string
		args         []string
		code         int
		want         []string
	}{
		{"cookie key", ml + "  cookie: c\n" + topo, nil, exitUsage, []string{":4: node.cookie", "dist connector"}},
		{"typo in block", ml + "  memberlist:\n    secret_kee: x\n" + topo, nil, exitUsage, []string{":5: node.memberlist.secret_kee", `did you mean "secret_key"`}},
		{"short key", ml + "  memberlist:\n    secret_key: c2hvcnQ=\n" + topo, nil, exitUsage, []string{":5: node.memberlist.secret_key", "decodes to 5 bytes"}},
		{"connector typo", "node:\n  name: a@127.0.0.1\n  connector: dst\n  cookie: c\n" + topo, nil, exitUsage, []string{":3: node.connector", `did you mean "dist"`}},
		{"cookie flag", ml + topo, []string{"--cookie", "x"}, exitUsage, []string{"--cookie is a setting of the dist connector"}},
		{"port in use", ml + fmt.Sprintf("  memberlist:\n    bind: 127.0.0.1:%d\n", busy) + topo, nil, exitFailure,
			[]string{fmt.Sprintf("starting the memberlist node (node.memberlist.bind 127.0.0.1:%d)", busy)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--config", writeFile(t, "ml.yaml", c.config)}, c.args...)
			code, _, errOut := runCLI(t, 30*time.Second, args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// gossipConfig is a gossip topology on the loopback interface only.
func gossipConfig(name string, port int, extra string) string {
	return fmt.Sprintf(`node:
  name: %s
  cookie: gossiptest
  listen: 127.0.0.1:0
%s
topologies:
  lan:
    strategy: gossip
    config:
      port: %d
      if_addr: 0.0.0.0
      multicast_addr: 233.252.1.33
      multicast_if: 127.0.0.1
      cluster: explain-%d
      interval: 200ms
`, name, extra, port, port)
}

// TestExplainGossip: gossip cannot answer on demand, so explain runs it
// for --timeout and reports the running node it hears.
func TestExplainGossip(t *testing.T) {
	epmdPort := startEPMD(t)
	port := clustertest.FreeUDPPort(t)
	g := erltest.Start(t, nil, binary, "run", "--config",
		writeFile(t, "g1.yaml", gossipConfig("g1@127.0.0.1", port, fmt.Sprintf("  epmd: 127.0.0.1:%d", epmdPort))))
	t.Cleanup(func() { stop(t, g) })
	g.WaitOutput(t, 30*time.Second, `msg="node started"`)
	cfg := writeFile(t, "g2.yaml", gossipConfig("g2@127.0.0.1", port, ""))
	code, out, errOut := runCLI(t, 60*time.Second, "explain", "--config", cfg, "--timeout", "5s")
	if code != 0 {
		t.Fatalf("explain exit %d, want 0:\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"topology lan (strategy gossip)", "strategy run for up to 5s", "kept     g1@127.0.0.1", "connect            g1@127.0.0.1"} {
		if !strings.Contains(out, w) {
			t.Errorf("explain output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "kept     g2@127.0.0.1") {
		t.Errorf("explain kept its own name:\n%s", out)
	}

	// Nobody gossips on another free port: explain fails and says why.
	empty := writeFile(t, "g3.yaml", gossipConfig("g3@127.0.0.1", clustertest.FreeUDPPort(t), ""))
	code, out, errOut = runCLI(t, 60*time.Second, "explain", "--config", empty, "--timeout", "2s")
	if code == 0 || !strings.Contains(out, "nothing to connect: discovery found no peer") || !strings.Contains(out, "(none)") {
		t.Errorf("explain on an empty gossip network: exit %d, want non-zero with a message:\n%s%s", code, out, errOut)
	}
}

func TestDemoGossip(t *testing.T) {
	testenv.Short(t)
	code, out, errOut := runCLI(t, 5*time.Minute, "demo", "--strategy", "gossip", "--json", "--nodes", "3", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("demo exit %d; stderr:\n%s", code, errOut)
	}
	var r demoResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("demo output %q is not JSON: %v", out, err)
	}
	if r.Nodes != 3 || r.Strategy != "gossip" || r.ConvergedMS <= 0 || r.HealedMS <= 0 || r.DownDetectedMS < 0 {
		t.Errorf("demo result = %+v", r)
	}
	if len(r.PIDs) != 4 {
		t.Errorf("demo started %d processes, want 4: %v", len(r.PIDs), r.PIDs)
	}
	for _, pid := range r.PIDs {
		if !processGone(pid) {
			t.Errorf("child process %d still runs after demo exited", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
