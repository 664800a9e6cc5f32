package erldist

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// startErl runs a real erl node name (long or short) with cookie on the
// EPMD at epmdPort and evaluates expr.
func startErl(t testing.TB, epmdPort int, name, cookie string, extra []string, expr string) *erltest.Proc {
	t.Helper()
	return erltest.StartErl(t, erltest.ErlOptions{Name: name, Cookie: cookie, EPMDPort: epmdPort, Args: extra, Eval: expr})
}

// startEPMD serves EPMD for one test on a free loopback port.
func startEPMD(t testing.TB) int {
	t.Helper()
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	return port
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestErlPingsGo: net_adm:ping from erl returns pong, the Go node is hidden,
// and a call to a name the Go node lacks fails fast with noproc.
func TestErlPingsGo(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gping@127.0.0.1", EPMDPort: ep})
	ev := watch(t, g)
	p := startErl(t, ep, "eping@127.0.0.1", "testcookie", nil, `
		R = net_adm:ping('gping@127.0.0.1'),
		io:format("ping=~p~n", [R]),
		io:format("hidden=~p visible=~p~n", [nodes(hidden), nodes()]),
		R2 = net_adm:ping('gping@127.0.0.1'),
		io:format("ping2=~p~n", [R2]),
		io:format("monitor=~p~n", [catch gen_server:call({nope, 'gping@127.0.0.1'}, hi, 10000)]),
		halt().`)
	p.WaitOutput(t, 30*time.Second, `ping=pong`)
	p.WaitOutput(t, 10*time.Second, `hidden=\['gping@127.0.0.1'\] visible=\[\]`)
	p.WaitOutput(t, 10*time.Second, `ping2=pong`)
	p.WaitOutput(t, 10*time.Second, `monitor=\{'EXIT',\{noproc,`)
	ev.wait(t, 10*time.Second, "node up", func(e libcluster.NodeEvent) bool { return e.Up && e.Node == "eping@127.0.0.1" })
}

// echoLoop echoes every {ReplyName, Term} sent to the Go node's go_echo
// back to ReplyName on the sender's node.
func echoLoop(t testing.TB, g *Node, ch <-chan Message) {
	go func() {
		for m := range ch {
			tup, ok := m.Body.(etf.Tuple)
			if !ok || len(tup) != 2 {
				continue
			}
			name, ok := tup[0].(etf.Atom)
			if !ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := g.Send(ctx, libcluster.Node(m.From.Node), string(name), tup[1]); err != nil {
				t.Logf("echo: %v", err)
			}
			cancel()
		}
	}()
}

func TestGoConnectsErlEcho(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gecho@127.0.0.1", EPMDPort: ep})
	ch, err := g.Register("go_echo")
	if err != nil {
		t.Fatal(err)
	}
	echoLoop(t, g, ch)
	p := startErl(t, ep, "eecho@127.0.0.1", "testcookie", nil, `
		register(e2e, self()),
		io:format("ready~n"),
		receive start -> ok end,
		Go = 'gecho@127.0.0.1',
		BigMap = maps:from_list([{K, K * K} || K <- lists:seq(1, 40)]),
		Terms = [
			#{a => 1, <<"b">> => [1, 2, 3], {t, 1} => #{nested => true}},
			BigMap,
			<<>>, <<1, 2, 3>>, <<1:3>>, binary:copy(<<"x">>, 1000000),
			1 bsl 100, -(1 bsl 70), 18446744073709551616, -2147483649, 255, 256, -1, 0,
			3.14159, -1.5e300, 1.0e-300,
			[1, [2, [3, [4, []]]], "abc", [a | b]], "hello", [],
			self(), make_ref(), fun lists:map/2,
			list_to_tuple(lists:seq(1, 300)),
			'ünïcödé', list_to_atom(lists:duplicate(255, $a)),
			{self(), [alias | make_ref()]}
		],
		Check = fun(T) ->
			{go_echo, Go} ! {e2e, T},
			receive
				Back when Back =:= T -> ok
			after 10000 -> {mismatch, T}
			end
		end,
		Bad = [B || B <- [Check(T) || T <- Terms], B =/= ok],
		case Bad of
			[] -> io:format("verdict=ok count=~p~n", [length(Terms)]);
			_ -> io:format("verdict=bad ~P~n", [Bad, 20])
		end,
		io:format("hidden=~p~n", [nodes(hidden)]),
		halt().`)
	p.WaitOutput(t, 30*time.Second, `ready`)
	ctx := testCtx(t)
	if err := g.Connect(ctx, "eecho@127.0.0.1"); err != nil {
		t.Fatalf("connect to erl: %v", err)
	}
	if err := g.Send(ctx, "eecho@127.0.0.1", "e2e", etf.Atom("start")); err != nil {
		t.Fatal(err)
	}
	m := p.WaitOutput(t, 60*time.Second, `verdict=(\w+)(.*)`)
	if m[1] != "ok" {
		t.Fatalf("erl verdict: %s%s", m[1], m[2])
	}
	p.WaitOutput(t, 10*time.Second, `hidden=\['gecho@127.0.0.1'\]`)
	t.Logf("erl: verdict=ok%s", m[2])
}

func TestWrongCookieErl(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gcookie@127.0.0.1", EPMDPort: ep, Cookie: "right"})
	ev := watch(t, g)
	// erl with a wrong cookie pings the Go node.
	p := startErl(t, ep, "ecookie1@127.0.0.1", "wrong", nil, `
		io:format("ping=~p~n", [net_adm:ping('gcookie@127.0.0.1')]),
		io:format("ready~n"),
		receive after infinity -> ok end.`)
	p.WaitOutput(t, 30*time.Second, `ping=pang`)
	p.WaitOutput(t, 10*time.Second, `ready`)
	// The Go node (cookie "right") connects to that erl (cookie "wrong").
	err := g.Connect(testCtx(t), "ecookie1@127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "cookie") {
		t.Fatalf("connect with a wrong cookie: %v, want an error mentioning the cookie", err)
	}
	if evs := ev.all(); len(evs) != 0 || len(g.Nodes()) != 0 {
		t.Fatalf("events %v, nodes %v; want none", evs, g.Nodes())
	}
}

func TestErlFrozenNetTickTimeout(t *testing.T) {
	testenv.Short(t)
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gtick@127.0.0.1", EPMDPort: ep, TickTime: 4 * time.Second})
	ev := watch(t, g)
	p := startErl(t, ep, "etick@127.0.0.1", "testcookie", []string{"-kernel", "net_ticktime", "4"}, `
		io:format("ready~n"), receive after infinity -> ok end.`)
	p.WaitOutput(t, 30*time.Second, `ready`)
	if err := g.Connect(testCtx(t), "etick@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// Idle for more than a tick time: ticks keep the connection up.
	idle := time.Now()
	for time.Since(idle) < 6*time.Second {
		if len(g.Nodes()) != 1 {
			t.Fatalf("connection lost while idle: events %v", ev.all())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	e := ev.wait(t, 20*time.Second, "node down", func(e libcluster.NodeEvent) bool { return !e.Up })
	took := time.Since(stopped)
	if e.Reason != "net_tick_timeout" {
		t.Fatalf("down reason %q, want net_tick_timeout", e.Reason)
	}
	// OTP's window is TickTime to TickTime + TickTime/4 after the last packet.
	if took < 2*time.Second || took > 10*time.Second {
		t.Fatalf("node down after %v; want about 4-5 s", took)
	}
	t.Logf("Go reported %s down (%s) %v after SIGSTOP", e.Node, e.Reason, took.Round(100*time.Millisecond))
}

func TestGoPausedErlSeesNodedown(t *testing.T) {
	testenv.Short(t)
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gpause@127.0.0.1", EPMDPort: ep, TickTime: 4 * time.Second})
	ev := watch(t, g)
	p := startErl(t, ep, "epause@127.0.0.1", "testcookie", []string{"-kernel", "net_ticktime", "4"}, `
		ok = net_kernel:monitor_nodes(true, [{node_type, all}, nodedown_reason]),
		io:format("ready~n"),
		Loop = fun L() ->
			receive
				{nodeup, N, _} -> io:format("nodeup ~p~n", [N]), L();
				{nodedown, N, I} -> io:format("nodedown ~p ~p~n", [N, proplists:get_value(nodedown_reason, I)]), L()
			end
		end,
		Loop().`)
	p.WaitOutput(t, 30*time.Second, `ready`)
	if err := g.Connect(testCtx(t), "epause@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, 10*time.Second, `nodeup 'gpause@127.0.0.1'`)
	g.PauseTicks(true)
	paused := time.Now()
	m := p.WaitOutput(t, 20*time.Second, `nodedown 'gpause@127.0.0.1' (\w+)`)
	took := time.Since(paused)
	if m[1] != "net_tick_timeout" {
		t.Fatalf("erl nodedown reason %s, want net_tick_timeout", m[1])
	}
	ev.wait(t, 10*time.Second, "node down on Go", func(e libcluster.NodeEvent) bool { return !e.Up })
	t.Logf("erl saw nodedown (%s) %v after the Go node stopped ticking", m[1], took.Round(100*time.Millisecond))
}

func TestInProcessEPMDWithErl(t *testing.T) {
	t.Parallel()
	ep := clustertest.FreePort(t)
	// g1 finds no EPMD on ep and serves it in-process.
	g1 := startNode(t, Config{Name: "gk1@127.0.0.1", EPMDPort: ep})
	p := startErl(t, ep, "ekeep@127.0.0.1", "testcookie", nil, `
		register(e5, self()),
		io:format("ready~n"),
		Loop = fun L() ->
			receive
				{ping, N} -> io:format("ping ~p=~p~n", [N, net_adm:ping(N)]), L()
			end
		end,
		Loop().`)
	p.WaitOutput(t, 30*time.Second, `ready`)
	g2 := startNode(t, Config{Name: "gk2@127.0.0.1", EPMDPort: ep})
	ctx := testCtx(t)
	names, err := (&epmd.Client{Port: ep}).Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EPMD names served by gk1: %v", names)
	if err := g2.Connect(ctx, "ekeep@127.0.0.1"); err != nil {
		t.Fatalf("g2 connect to erl via gk1's EPMD: %v", err)
	}
	// The node serving EPMD goes away: g2 takes the port over.
	if err := g1.Close(); err != nil {
		t.Fatal(err)
	}
	clustertest.EventuallyWithin(t, 20*time.Second, "g2 re-registered with its own EPMD", func() bool {
		info, err := (&epmd.Client{Port: ep, Timeout: time.Second}).PortPlease(ctx, "gk2")
		return err == nil && info.Port == g2.Port()
	})
	g3 := startNode(t, Config{Name: "gk3@127.0.0.1", EPMDPort: ep})
	if err := g3.Connect(ctx, g2.Self()); err != nil {
		t.Fatalf("fresh lookup and connect after the takeover: %v", err)
	}
	// erl looks up g3 through the EPMD now served by g2.
	if err := g2.Send(ctx, "ekeep@127.0.0.1", "e5", etf.Tuple{etf.Atom("ping"), etf.Atom("gk3@127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, 30*time.Second, `ping 'gk3@127.0.0.1'=pong`)
}
