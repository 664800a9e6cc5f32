package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/tlstest"
)

// TestRunTLSWithErl: libcluster run with node.tls (the docs/cli.md
// example) joins an erl node started with -proto_dist inet_tls, and erl
// sees it in nodes(hidden).
func TestRunTLSWithErl(t *testing.T) {
	epmdPort := startEPMD(t)
	ca := tlstest.NewCA(t, "cluster-ca")
	e := erltest.StartErl(t, erltest.ErlOptions{Name: "etls@127.0.0.1", Cookie: "tlscookie", EPMDPort: epmdPort,
		Args: ca.ErlArgs(t, nil, "etls", "127.0.0.1"),
		Eval: `W = fun W(0) -> io:format("TIMEOUT ~p~n", [nodes(hidden)]);
		          W(N) -> case lists:member('app@127.0.0.1', nodes(hidden)) of
		                    true -> io:format("HIDDEN ~p~n", [nodes(hidden)]);
		                    false -> timer:sleep(100), W(N - 1) end end,
		        W(600).`})
	cert, key := ca.Issue(t, "app", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", clustertest.FreePort(t))
	cfg := fmt.Sprintf(`node:
  name: app@127.0.0.1
  cookie: tlscookie
  epmd: 127.0.0.1:%d
  tls:
    certfile: %s
    keyfile: %s
    cacertfile: %s
    verify: verify_peer
    fail_if_no_peer_cert: true
http:
  listen: %s
topologies:
  erlang:
    strategy: epmd
    config: {hosts: [etls@127.0.0.1]}
`, epmdPort, cert, key, ca.File, addr)
	g := erltest.Start(t, nil, binary, "run", "--config", writeFile(t, "tls.yaml", cfg), "--log-format", "json")
	eventually(t, 30*time.Second, "/members lists etls@127.0.0.1", func() (bool, string) {
		m, err := getMembers(addr)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Nodes) == 1 && m.Nodes[0] == "etls@127.0.0.1", fmt.Sprintf("%+v", m)
	})
	e.WaitOutput(t, 30*time.Second, `HIDDEN \['app@127.0.0.1'\]`)
	if !strings.Contains(g.Output(), `"tls":true`) {
		t.Errorf("the start-up line does not say tls true:\n%s", g.Output())
	}
	stop(t, g)
}

// TestRunTLSBadConfig: a node.tls problem stops run before it starts
// anything, naming the key; verify_none starts with a warning.
func TestRunTLSBadConfig(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster-ca")
	cert, key := ca.Issue(t, "app", "127.0.0.1")
	file := func(tls string) string {
		return writeFile(t, "tls.yaml", fmt.Sprintf("node:\n  name: app@127.0.0.1\n  cookie: c\n  listen: 127.0.0.1:%d\n  epmd: none\n  tls:\n%s", clustertest.FreePort(t), tls)+
			"topologies:\n  one:\n    strategy: epmd\n    config: {hosts: [b@127.0.0.1]}\n")
	}
	code, _, stderr := runCLI(t, 30*time.Second, "run", "--config", file(fmt.Sprintf("    certfile: %s\n    keyfile: %s\n", cert, key)))
	if code == 0 || !strings.Contains(stderr, "node.tls.cacertfile: missing; verify_peer needs") {
		t.Fatalf("run without cacertfile: exit %d, stderr:\n%s", code, stderr)
	}
	t.Logf("stderr: %s", strings.TrimSpace(stderr))
	g := erltest.Start(t, nil, binary, "run", "--config", file(fmt.Sprintf("    certfile: %s\n    keyfile: %s\n    verify: verify_none\n", cert, key)))
	eventually(t, 20*time.Second, "verify_none warning", func() (bool, string) {
		return strings.Contains(g.Output(), "without certificate verification (verify_none)"), g.Output()
	})
	stop(t, g)
}
