package erldist

import (
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist/etf"
)

// TestTLSErlInterop: with erl -proto_dist inet_tls, erl pings a Go node
// (erl dials: pong) and a message goes there and back, and another Go node
// dials the erl node and exchanges a message with it. Run it with
// LIBCLUSTER_OTP set to test another OTP release.
func TestTLSErlInterop(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca1")
	ep := startEPMD(t)
	g1 := startNode(t, Config{Name: "gtls1@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gtls1", nil, "127.0.0.1")})
	ch, err := g1.Register("go_echo")
	if err != nil {
		t.Fatal(err)
	}
	echoLoop(t, g1, ch)
	g2 := startNode(t, Config{Name: "gtls2@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gtls2", nil, "127.0.0.1")})
	inbox, err := g2.Register("inbox")
	if err != nil {
		t.Fatal(err)
	}
	p := startErl(t, ep, "etls@127.0.0.1", "testcookie", ca.ErlArgs(t, nil, "etls", "127.0.0.1"), `
		register(etls, self()),
		io:format("otp=~s~n", [erlang:system_info(otp_release)]),
		io:format("ping=~p~n", [net_adm:ping('gtls1@127.0.0.1')]),
		{go_echo, 'gtls1@127.0.0.1'} ! {etls, {hello, <<"over tls">>, 42}},
		receive
			{hello, <<"over tls">>, 42} -> io:format("echo=ok~n")
		after 10000 -> io:format("echo=timeout~n")
		end,
		io:format("ready~n"),
		receive {reply_to, Node, M} -> {inbox, Node} ! {echoed, M} end,
		io:format("hidden=~p~n", [lists:sort(nodes(hidden))]),
		receive {ping, N} -> io:format("ping ~p=~p~n", [N, net_adm:ping(N)]) end,
		receive after infinity -> ok end.`)
	t.Logf("erl is OTP %s", p.WaitOutput(t, 30*time.Second, `otp=(\d+)`)[1])
	p.WaitOutput(t, 30*time.Second, `ping=(pong)`)
	p.WaitOutput(t, 15*time.Second, `echo=ok`)
	if got := peerCertName(g1, "etls@127.0.0.1"); got != "etls" {
		t.Fatalf("g1's connection from erl shows peer certificate %q, want etls", got)
	}
	p.WaitOutput(t, 10*time.Second, `ready`)

	ctx := testCtx(t)
	if err := g2.Connect(ctx, "etls@127.0.0.1"); err != nil {
		t.Fatalf("Go -> erl over TLS: %v", err)
	}
	if got := peerCertName(g2, "etls@127.0.0.1"); got != "etls" {
		t.Fatalf("g2's connection to erl shows peer certificate %q, want etls", got)
	}
	if err := g2.Send(ctx, "etls@127.0.0.1", "etls", etf.Tuple{etf.Atom("reply_to"), etf.Atom("gtls2@127.0.0.1"), etf.Atom("hi")}); err != nil {
		t.Fatal(err)
	}
	m := recvMsg(t, inbox, 15*time.Second)
	if tup, ok := m.Body.(etf.Tuple); !ok || len(tup) != 2 || tup[0] != etf.Atom("echoed") || tup[1] != etf.Atom("hi") {
		t.Fatalf("reply from erl: %v, want {echoed, hi}", m.Body)
	}
	p.WaitOutput(t, 10*time.Second, `hidden=\['gtls1@127.0.0.1','gtls2@127.0.0.1'\]`)

	// A Go node with a certificate from another CA (trusting erl's CA):
	// erl refuses it as a client and as a server.
	ca2 := newTestCA(t, "ca2")
	g3 := startNode(t, Config{Name: "gtls3@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca2, "gtls3", ca, "127.0.0.1")})
	err = g3.Connect(ctx, "etls@127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "refused this node's TLS certificate") {
		t.Fatalf("Go with another CA's certificate -> erl: %v; want erl's refusal", err)
	}
	t.Logf("erl refused the Go client: %v", err)
	if err := g2.Send(ctx, "etls@127.0.0.1", "etls", etf.Tuple{etf.Atom("ping"), etf.Atom("gtls3@127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, 20*time.Second, `ping 'gtls3@127.0.0.1'=pang`)
	if len(g3.Nodes()) != 0 {
		t.Fatalf("gtls3 has nodes %v; want none", g3.Nodes())
	}
}

// TestTLSErlRefused: an erl node with a certificate from another CA, and a
// plain TCP erl node, are refused both ways: erl's ping gets pang with the
// Go node logging why, and the Go node's connect fails with an error that
// says why.
func TestTLSErlRefused(t *testing.T) {
	t.Parallel()
	ca1, ca2 := newTestCA(t, "ca1"), newTestCA(t, "ca2")
	ep := startEPMD(t)
	logG, bufG := captureLog()
	g := startNode(t, Config{Name: "gtlsr@127.0.0.1", EPMDPort: ep, Logger: logG, HandshakeTimeout: 2 * time.Second,
		TLS: tlsConfig(t, ca1, "gtlsr", nil, "127.0.0.1")})
	const script = `
		io:format("ping=~p~n", [net_adm:ping('gtlsr@127.0.0.1')]),
		io:format("ready~n"),
		receive after infinity -> ok end.`
	// The CA-2 node trusts CA 1, so only its own certificate is wrong when
	// it dials; as a server it presents that certificate to the Go node.
	other := startErl(t, ep, "etlsca@127.0.0.1", "testcookie", ca2.ErlArgs(t, ca1, "etlsca", "127.0.0.1"), script)
	plain := startErl(t, ep, "eplain@127.0.0.1", "testcookie", nil, script)

	other.WaitOutput(t, 30*time.Second, `ping=pang`)
	t.Logf("acceptor logged: %s", waitLog(t, bufG, "incoming TLS connection refused", "not issued by a CA"))
	plain.WaitOutput(t, 30*time.Second, `ping=pang`)
	t.Logf("acceptor logged: %s", waitLog(t, bufG, "incoming TLS connection refused", "does not speak TLS"))
	other.WaitOutput(t, 10*time.Second, `ready`)
	plain.WaitOutput(t, 10*time.Second, `ready`)

	ctx := testCtx(t)
	err := g.Connect(ctx, "etlsca@127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "not issued by a CA in this node's cacertfile") {
		t.Fatalf("Go -> erl with a certificate from another CA: %v; want an unknown-authority error", err)
	}
	t.Logf("Go -> other-CA erl: %v", err)
	err = g.Connect(ctx, "eplain@127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "plain TCP") {
		t.Fatalf("Go -> plain erl: %v; want a TLS handshake error naming plain TCP", err)
	}
	t.Logf("Go -> plain erl: %v", err)
	if len(g.Nodes()) != 0 {
		t.Fatalf("nodes %v; want none", g.Nodes())
	}
}
