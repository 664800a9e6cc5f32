package erldist

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// serveEcho serves name on g as a gen_server answering {echo, Req}, and
// forwarding casts to casts.
func serveEcho(t *testing.T, g *Node, name string, casts chan<- etf.Term) {
	t.Helper()
	mb, err := g.NewMailbox(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mb.Serve(ctx, GenServer{
			Call: func(ctx context.Context, from From, req etf.Term) etf.Term {
				if req == etf.Atom("panic") {
					panic("handler bug")
				}
				return etf.Tuple{etf.Atom("echo"), req}
			},
			Cast: func(ctx context.Context, req etf.Term) { casts <- req },
		})
	}()
	t.Cleanup(func() { cancel(); <-done; mb.Close() })
}

// TestErlCallsGoGenServer: gen_server:call and cast from erl reach a Go
// handler (alias tags on OTP 24+), and a handler panic reaches the caller as
// the server's exit.
func TestErlCallsGoGenServer(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "ggs@127.0.0.1", EPMDPort: ep})
	casts := make(chan etf.Term, 4)
	serveEcho(t, g, "go_svc", casts)
	p := startErl(t, ep, "egs@127.0.0.1", "testcookie", nil, `
		G = 'ggs@127.0.0.1',
		io:format("call=~p~n", [gen_server:call({go_svc, G}, hello, 10000)]),
		io:format("call2=~p~n", [gen_server:call({go_svc, G}, [1, <<"two">>], 10000)]),
		ok = gen_server:cast({go_svc, G}, {note, 7}),
		io:format("noproc=~p~n", [catch gen_server:call({nope, G}, hi, 10000)]),
		io:format("panic=~p~n", [catch gen_server:call({go_svc, G}, panic, 10000)]),
		halt().`)
	p.WaitOutput(t, 30*time.Second, `call=\{echo,hello\}`)
	p.WaitOutput(t, 10*time.Second, `call2=\{echo,\[1,<<"two">>\]\}`)
	select {
	case c := <-casts:
		if !etf.Equal(c, etf.Tuple{etf.Atom("note"), int64(7)}) {
			t.Fatalf("cast = %v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no cast")
	}
	p.WaitOutput(t, 10*time.Second, `noproc=\{'EXIT',\{noproc,`)
	p.WaitOutput(t, 10*time.Second, `panic=\{'EXIT',\{\{go_panic,<<"handler bug">>\},`)
}

// erlServer is an erl process registered as esvc that answers gen_server
// calls like a gen_server: {echo, Req}, {sleep, Ms} and crash (exit boom).
const erlServer = `
		register(esvc, spawn(fun L() ->
			receive
				{'$gen_call', From, {sleep, T}} -> timer:sleep(T), gen:reply(From, slept), L();
				{'$gen_call', _From, crash} -> exit(boom);
				{'$gen_call', From, Req} -> gen:reply(From, {echo, Req}), L()
			end
		end)),
		io:format("ready~n"),
		receive never -> ok end.`

// TestGoCallsErlGenServer: Node.Call gets replies, and noproc, timeout, the
// callee's exit and nodedown as distinct errors.
func TestGoCallsErlGenServer(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gcall@127.0.0.1", EPMDPort: ep})
	p := startErl(t, ep, "ecall@127.0.0.1", "testcookie", nil, erlServer)
	p.WaitOutput(t, 30*time.Second, `ready`)
	ctx := testCtx(t)
	e := libcluster.Node("ecall@127.0.0.1")
	got, err := g.Call(ctx, Name{e, "esvc"}, etf.Atom("hi"))
	if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("echo"), etf.Atom("hi")}) {
		t.Fatalf("Call = %v, %v", got, err)
	}
	if _, err := g.Call(ctx, Name{e, "nope"}, etf.Atom("hi")); !errors.Is(err, ErrNoProc) {
		t.Fatalf("Call to a missing name: %v, want ErrNoProc", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = g.Call(tctx, Name{e, "esvc"}, etf.Tuple{etf.Atom("sleep"), int64(2000)})
	cancel()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call that times out: %v", err)
	}
	_, err = g.Call(ctx, Name{e, "esvc"}, etf.Atom("crash"))
	var ce *CallError
	if !errors.Is(err, ErrExited) || !errors.As(err, &ce) || ce.Reason != etf.Atom("boom") {
		t.Fatalf("Call to a crashing server: %v", err)
	}
	t.Logf("errors: %v", err)
	// nodedown: a call in flight when the erl is killed.
	p2 := startErl(t, ep, "ecall2@127.0.0.1", "testcookie", nil, erlServer)
	p2.WaitOutput(t, 30*time.Second, `ready`)
	errc := make(chan error, 1)
	go func() {
		_, err := g.Call(ctx, Name{"ecall2@127.0.0.1", "esvc"}, etf.Tuple{etf.Atom("sleep"), int64(60000)})
		errc <- err
	}()
	waitFor(t, 20*time.Second, "connected to ecall2", func() bool { return g.ConnCount("ecall2@127.0.0.1") == 1 })
	p2.Kill()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNodeDown) {
			t.Fatalf("Call while the node dies: %v, want ErrNodeDown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Call did not return after the node died")
	}
}

func waitFor(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestErpcIntoGo: erpc:call and rpc:call run registered Go functions;
// undef, a Go error and a Go panic come back as Erlang errors; the built-in
// libcluster module answers members/0 and topologies/0.
func TestErpcIntoGo(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "grpc@127.0.0.1", EPMDPort: ep})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.HandleFunc("gomod", "add", 2, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil, &Exception{Class: "error", Reason: etf.Atom("badarith")}
		}
		return x + y, nil
	}))
	must(g.HandleFunc("gomod", "fail", 0, func(context.Context, []etf.Term) (etf.Term, error) {
		return nil, errors.New("disk full")
	}))
	must(g.HandleFunc("gomod", "boom", 0, func(context.Context, []etf.Term) (etf.Term, error) {
		panic("nil map")
	}))
	must(g.HandleFunc("gomod", "throw", 0, func(context.Context, []etf.Term) (etf.Term, error) {
		return nil, &Exception{Class: "throw", Reason: etf.Atom("ball")}
	}))
	must(g.HandleFunc("gomod", "slow", 0, func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
		return etf.Atom("late"), nil
	}))
	g.SetTopologies(func() []libcluster.TopologyStatus {
		return []libcluster.TopologyStatus{{Name: "k8s", Desired: []libcluster.Node{"erpc@127.0.0.1"}, Connected: []libcluster.Node{"erpc@127.0.0.1"}, Ready: true, Running: true}}
	})
	p := startErl(t, ep, "erpc@127.0.0.1", "testcookie", nil, `
		G = 'grpc@127.0.0.1',
		io:format("erpc=~p~n", [erpc:call(G, gomod, add, [1, 2], 10000)]),
		io:format("rpc=~p~n", [rpc:call(G, gomod, add, [40, 2], 10000)]),
		io:format("rpc4=~p~n", [rpc:call(G, gomod, add, [1, 1])]),
		io:format("badarith=~w~n", [catch erpc:call(G, gomod, add, [a, 2], 10000)]),
		io:format("undef=~w~n", [catch erpc:call(G, nomod, nofun, [1], 10000)]),
		io:format("rpcundef=~p~n", [rpc:call(G, nomod, nofun, [1], 10000)]),
		io:format("localundef=~p~n", [rpc:call(node(), nomod, nofun, [1], 10000)]),
		io:format("goerr=~p~n", [try erpc:call(G, gomod, fail, [], 10000) catch error:{exception, {go_error, M}, _} -> {matched, M} end]),
		io:format("rpcgoerr=~p~n", [rpc:call(G, gomod, fail, [], 10000)]),
		io:format("panic=~p~n", [catch erpc:call(G, gomod, boom, [], 10000)]),
		io:format("throw=~p~n", [catch erpc:call(G, gomod, throw, [], 10000)]),
		io:format("rpctimeout=~p~n", [rpc:call(G, gomod, slow, [], 200)]),
		io:format("erpctimeout=~p~n", [catch erpc:call(G, gomod, slow, [], 200)]),
		io:format("after=~p~n", [erpc:call(G, gomod, add, [2, 3], 10000)]),
		io:format("members=~p~n", [erpc:call(G, libcluster, members, [], 10000)]),
		io:format("topologies=~w~n", [erpc:call(G, libcluster, topologies, [], 10000)]),
		halt().`)
	p.WaitOutput(t, 30*time.Second, `erpc=3`)
	p.WaitOutput(t, 10*time.Second, `rpc=42`)
	p.WaitOutput(t, 10*time.Second, `rpc4=2`)
	p.WaitOutput(t, 10*time.Second, `badarith=\{'EXIT',\{\{exception,badarith,\[\{gomod,add,2,\[\]\}\]\}`)
	p.WaitOutput(t, 10*time.Second, `undef=\{'EXIT',\{\{exception,undef,\[\{nomod,nofun,\[1\],\[\]\}\]\}`)
	want := p.WaitOutput(t, 10*time.Second, `localundef=(.*)`)[1]
	got := p.WaitOutput(t, 10*time.Second, `rpcundef=(.*)`)[1]
	if got != want {
		t.Fatalf("rpc:call of a missing function: Go node %s, Erlang node %s", got, want)
	}
	p.WaitOutput(t, 10*time.Second, `goerr=\{matched,<<"disk full">>\}`)
	p.WaitOutput(t, 10*time.Second, `rpcgoerr=\{badrpc,\{'EXIT',\{\{go_error,<<"disk full">>\},`)
	p.WaitOutput(t, 10*time.Second, `panic=\{'EXIT',\{\{exception,\{go_panic,<<"nil map">>\},`)
	p.WaitOutput(t, 10*time.Second, `throw=ball`)
	p.WaitOutput(t, 10*time.Second, `rpctimeout=\{badrpc,timeout\}`)
	p.WaitOutput(t, 10*time.Second, `erpctimeout=\{'EXIT',\{\{erpc,timeout\},`)
	p.WaitOutput(t, 10*time.Second, `after=5`)
	p.WaitOutput(t, 10*time.Second, `members=\['erpc@127.0.0.1'\]`)
	topo := p.WaitOutput(t, 10*time.Second, `topologies=(\[#\{.*\}\])`)[1]
	for _, want := range []string{"name => <<107,56,115>>", "connected => ['erpc@127.0.0.1']", "ready => true", "last_error => nil"} {
		if !strings.Contains(topo, want) {
			t.Errorf("topologies() = %s, want %s in it", topo, want)
		}
	}
	t.Logf("rpc:call of a missing function, both nodes: %s", got)
}

// TestMonitorsLinks: monitors and links both ways, with the exit reasons,
// noproc for a mailbox that is gone, and noconnection on node loss.
func TestMonitorsLinks(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gml@127.0.0.1", EPMDPort: ep})
	ctl, err := g.NewMailbox("go_ctl")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := g.NewMailbox("")
	b, _ := g.NewMailbox("")
	p := startErl(t, ep, "eml@127.0.0.1", "testcookie", nil, `
		G = 'gml@127.0.0.1',
		process_flag(trap_exit, true),
		register(ectl, self()),
		io:format("ready~n"),
		{A, B} = receive {pids, A0, B0} -> {A0, B0} end,
		R = erlang:monitor(process, A),
		link(B),
		W1 = spawn(fun() -> receive {stop, Why} -> exit(Why) end end),
		W2 = spawn(fun() -> receive {stop, Why} -> exit(Why) end end),
		{go_ctl, G} ! {workers, W1, W2},
		receive go -> ok end,
		receive {'DOWN', R, process, _, Reason} -> io:format("down=~p~n", [Reason]) after 10000 -> io:format("down=none~n") end,
		receive {'EXIT', B, Reason2} -> io:format("exit=~p~n", [Reason2]) after 10000 -> io:format("exit=none~n") end,
		R2 = erlang:monitor(process, A),
		receive {'DOWN', R2, process, _, Reason3} -> io:format("down2=~p~n", [Reason3]) after 10000 -> io:format("down2=none~n") end,
		W1 ! {stop, bye1},
		W2 ! {stop, bye2},
		receive {kill_me, K} -> exit(K, kill) end,
		receive never -> ok end.`)
	p.WaitOutput(t, 30*time.Second, `ready`)
	ctx := testCtx(t)
	e := libcluster.Node("eml@127.0.0.1")
	if err := ctl.SendName(ctx, e, "ectl", etf.Tuple{etf.Atom("pids"), a.Pid(), b.Pid()}); err != nil {
		t.Fatal(err)
	}
	m, err := ctl.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := m.Body.(etf.Tuple)
	if !ok || len(w) != 3 {
		t.Fatalf("workers message: %v", m.Body)
	}
	w1, w2 := w[1].(etf.Pid), w[2].(etf.Pid)
	ref, err := ctl.Monitor(ctx, w1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Link(ctx, w2); err != nil {
		t.Fatal(err)
	}
	// A second watcher: monitors and links that end with the node.
	nl, _ := g.NewMailbox("")
	ref2, _ := nl.MonitorName(ctx, e, "ectl")
	a.Exit(etf.Atom("shutdown_a"))
	b.Exit(etf.Tuple{etf.Atom("custom"), int64(1)})
	if err := ctl.SendName(ctx, e, "ectl", etf.Atom("go")); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, 20*time.Second, `down=shutdown_a`)
	p.WaitOutput(t, 10*time.Second, `exit=\{custom,1\}`)
	p.WaitOutput(t, 10*time.Second, `down2=noproc`)
	var gotDown, gotExit bool
	for !gotDown || !gotExit {
		m, err := ctl.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for DOWN/EXIT: %v (down %v exit %v)", err, gotDown, gotExit)
		}
		switch b := m.Body.(type) {
		case Down:
			if !etf.Equal(b.Ref, ref) || b.Reason != etf.Atom("bye1") {
				t.Fatalf("Down = %+v", b)
			}
			gotDown = true
		case Exit:
			if b.From != w2 || b.Reason != etf.Atom("bye2") {
				t.Fatalf("Exit = %+v", b)
			}
			gotExit = true
		}
	}
	// exit/2 from erl reaches a Go mailbox as an Exit; it stays open.
	k, _ := g.NewMailbox("")
	if err := ctl.SendName(ctx, e, "ectl", etf.Tuple{etf.Atom("kill_me"), k.Pid()}); err != nil {
		t.Fatal(err)
	}
	if m, err := k.Recv(ctx); err != nil {
		t.Fatal(err)
	} else if x, ok := m.Body.(Exit); !ok || x.Reason != etf.Atom("kill") || libcluster.Node(x.From.Node) != e {
		t.Fatalf("exit/2: %+v", m.Body)
	}
	// Node loss: the remaining monitor ends with noconnection.
	p.Kill()
	m, err = nl.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := m.Body.(Down); !ok || !etf.Equal(d.Ref, ref2) || d.Reason != etf.Atom("noconnection") {
		t.Fatalf("after node loss: %+v", m.Body)
	}
}

// TestMonitorLocal: monitors and links between two Go mailboxes.
func TestMonitorLocal(t *testing.T) {
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gloc@127.0.0.1", EPMDPort: ep})
	ctx := testCtx(t)
	a, _ := g.NewMailbox("")
	b, _ := g.NewMailbox("")
	ref, _ := a.Monitor(ctx, b.Pid())
	if err := a.Link(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	b.Exit(etf.Atom("gone"))
	seen := map[string]bool{}
	for len(seen) < 2 {
		m, err := a.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch x := m.Body.(type) {
		case Down:
			if !etf.Equal(x.Ref, ref) || x.Reason != etf.Atom("gone") {
				t.Fatalf("Down %+v", x)
			}
			seen["down"] = true
		case Exit:
			if x.From != b.Pid() || x.Reason != etf.Atom("gone") {
				t.Fatalf("Exit %+v", x)
			}
			seen["exit"] = true
		}
	}
	ref, _ = a.Monitor(ctx, b.Pid())
	m, _ := a.Recv(ctx)
	if d, ok := m.Body.(Down); !ok || !etf.Equal(d.Ref, ref) || d.Reason != atomNoproc {
		t.Fatalf("monitor of a closed mailbox: %+v", m.Body)
	}
	if _, err := g.Call(ctx, Name{g.Self(), "nobody"}, etf.Atom("x")); !errors.Is(err, ErrNoProc) {
		t.Fatalf("local Call to a missing name: %v", err)
	}
}

// TestVisibleRefused: Start refuses a visible node, saying why.
func TestVisibleRefused(t *testing.T) {
	_, err := Start(context.Background(), Config{Name: "gvis@127.0.0.1", Cookie: "c", Visible: true})
	if !errors.Is(err, ErrVisible) {
		t.Fatalf("Start with Visible: %v, want ErrVisible", err)
	}
}

// TestUndecodableExitReason: an exit reason (payload) this node cannot
// decode still delivers the Down, and the packet is no protocol error.
func TestUndecodableExitReason(t *testing.T) {
	ep := startEPMD(t)
	g := startNode(t, Config{Name: "gund@127.0.0.1", EPMDPort: ep})
	mb, _ := g.NewMailbox("")
	ctx := testCtx(t)
	// Record a monitor on a remote pid as Monitor does, then feed the
	// node the 'DOWN' packet with a reason it cannot decode.
	far := etf.Pid{Node: "far@127.0.0.1", ID: 7, Creation: 1}
	ref := g.MakeRef()
	g.procs.mu.Lock()
	mb.mb.out = append(mb.mb.out, outMon{node: "far@127.0.0.1", target: far, ref: ref})
	g.procs.mu.Unlock()
	ctrl, err := etf.Encode(etf.Tuple{int64(opPayloadMonExit), far, mb.Pid(), ref})
	if err != nil {
		t.Fatal(err)
	}
	pkt := append([]byte{112}, ctrl...)
	pkt = append(pkt, 131, 255, 1, 2) // tag 255: no such term
	fake := newConn(g, nil)
	fake.peer = "far@127.0.0.1"
	if err := g.handlePacket(fake, pkt); err != nil {
		t.Fatalf("handlePacket: %v", err)
	}
	m, err := mb.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := m.Body.(Down)
	if !ok || !etf.Equal(d.Ref, ref) {
		t.Fatalf("got %+v", m.Body)
	}
	if _, ok := d.Reason.(Undecodable); !ok {
		t.Fatalf("reason %T %v, want Undecodable", d.Reason, d.Reason)
	}
	if g.DroppedMessages() != 1 {
		t.Fatalf("DroppedMessages = %d", g.DroppedMessages())
	}
}
