package dist

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/dist/epmd"
	"github.com/libcluster-go/libcluster/dist/etf"
	"github.com/libcluster-go/libcluster/internal/testenv"
)

const erlHint = "apt-get install erlang-base"

// erlProc is a real erl node started by a test.
type erlProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	exit chan struct{}
}

func (p *erlProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *erlProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitOutput waits until the output matches re and returns the submatches.
func (p *erlProc) waitOutput(t testing.TB, d time.Duration, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	deadline := time.Now().Add(d)
	for {
		if m = rx.FindStringSubmatch(p.output()); m != nil {
			return m
		}
		select {
		case <-p.exit:
			if m = rx.FindStringSubmatch(p.output()); m != nil {
				return m
			}
			t.Fatalf("erl exited before printing %q; output:\n%s", re, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("erl did not print %q within %v; output:\n%s", re, d, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to erl's process group (erl execs the emulator in it).
func (p *erlProc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// startErl runs erl -noshell with the given name, cookie and EPMD port
// (never starting an epmd daemon of its own) and evaluates expr. Cleanup
// kills it by its process group id.
func startErl(t testing.TB, epmdPort int, name, cookie string, extra []string, expr string) *erlProc {
	t.Helper()
	erl := testenv.Command(t, "erl", erlHint)
	args := []string{"-noshell", "-start_epmd", "false", "-setcookie", cookie}
	if strings.Contains(name, ".") {
		args = append(args, "-name", name)
	} else {
		args = append(args, "-sname", name)
	}
	args = append(args, extra...)
	args = append(args, "-eval", expr)
	cmd := exec.Command(erl, args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdPort), "HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &erlProc{cmd: cmd, exit: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting erl: %v", err)
	}
	go func() { _ = cmd.Wait(); close(p.exit) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.signal(syscall.SIGKILL)
		<-p.exit
		if t.Failed() {
			t.Logf("erl %s output:\n%s", name, p.output())
		}
	})
	return p
}

// startEPMD serves EPMD for one test on a free loopback port.
func startEPMD(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &epmd.Server{Logger: testLogger()}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port
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
	p.waitOutput(t, 30*time.Second, `ping=pong`)
	p.waitOutput(t, 10*time.Second, `hidden=\['gping@127.0.0.1'\] visible=\[\]`)
	p.waitOutput(t, 10*time.Second, `ping2=pong`)
	p.waitOutput(t, 10*time.Second, `monitor=\{'EXIT',\{noproc,`)
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
	p.waitOutput(t, 30*time.Second, `ready`)
	ctx := testCtx(t)
	if err := g.Connect(ctx, "eecho@127.0.0.1"); err != nil {
		t.Fatalf("connect to erl: %v", err)
	}
	if err := g.Send(ctx, "eecho@127.0.0.1", "e2e", etf.Atom("start")); err != nil {
		t.Fatal(err)
	}
	m := p.waitOutput(t, 60*time.Second, `verdict=(\w+)(.*)`)
	if m[1] != "ok" {
		t.Fatalf("erl verdict: %s%s", m[1], m[2])
	}
	p.waitOutput(t, 10*time.Second, `hidden=\['gecho@127.0.0.1'\]`)
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
	p.waitOutput(t, 30*time.Second, `ping=pang`)
	p.waitOutput(t, 10*time.Second, `ready`)
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
	p.waitOutput(t, 30*time.Second, `ready`)
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
	p.signal(syscall.SIGSTOP)
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
	p.waitOutput(t, 30*time.Second, `ready`)
	if err := g.Connect(testCtx(t), "epause@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(t, 10*time.Second, `nodeup 'gpause@127.0.0.1'`)
	g.PauseTicks(true)
	paused := time.Now()
	m := p.waitOutput(t, 20*time.Second, `nodedown 'gpause@127.0.0.1' (\w+)`)
	took := time.Since(paused)
	if m[1] != "net_tick_timeout" {
		t.Fatalf("erl nodedown reason %s, want net_tick_timeout", m[1])
	}
	ev.wait(t, 10*time.Second, "node down on Go", func(e libcluster.NodeEvent) bool { return !e.Up })
	t.Logf("erl saw nodedown (%s) %v after the Go node stopped ticking", m[1], took.Round(100*time.Millisecond))
}

func TestInProcessEPMDWithErl(t *testing.T) {
	t.Parallel()
	ep := freePort(t)
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
	p.waitOutput(t, 30*time.Second, `ready`)
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
	eventually(t, 20*time.Second, "g2 re-registered with its own EPMD", func() bool {
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
	p.waitOutput(t, 30*time.Second, `ping 'gk3@127.0.0.1'=pong`)
}
