package erldist

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// BenchmarkHandshake measures one complete version-6 handshake (TCP
// connect over loopback, name, status, both challenges, cookie digests)
// from a Go initiator to a Go node, without the EPMD lookup.
func BenchmarkHandshake(b *testing.B) {
	ep := clustertest.FreePort(b)
	acc := startNode(b, Config{Name: "hb@127.0.0.1", EPMDPort: ep})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(acc.Port()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c := newConn(nil, nc)
		h := &hsConn{rw: nc, br: c.br, dl: nc, timeout: 5 * time.Second}
		cfg := hsConfig{self: "hi" + strconv.Itoa(i) + "@127.0.0.1", creation: 9, flags: ourFlags, cookie: []byte("testcookie")}
		if _, err := initiate(h, cfg, acc.Self(), func() bool { return true }); err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}

// BenchmarkSendReceive measures a REG_SEND round trip between two Go
// nodes: a sends to b's registered name, b sends the body back to a's.
func BenchmarkSendReceive(b *testing.B) {
	ep := clustertest.FreePort(b)
	na := startNode(b, Config{Name: "ba@127.0.0.1", EPMDPort: ep})
	nb := startNode(b, Config{Name: "bb@127.0.0.1", EPMDPort: ep})
	back, err := na.Register("back")
	if err != nil {
		b.Fatal(err)
	}
	in, err := nb.Register("echo")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	go func() {
		for m := range in {
			_ = nb.Send(ctx, libcluster.Node(m.From.Node), "back", m.Body)
		}
	}()
	body := etf.Tuple{etf.Atom("msg"), int64(42), etf.Binary("a short payload of some bytes"), etf.Map{{Key: etf.Atom("k"), Value: 1.5}}}
	if err := na.Connect(ctx, nb.Self()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := na.Send(ctx, nb.Self(), "echo", body); err != nil {
			b.Fatal(err)
		}
		select {
		case <-back:
		case <-time.After(10 * time.Second):
			b.Fatal(fmt.Errorf("no reply"))
		}
	}
}

// BenchmarkCallGoToErl measures Node.Call round trips from Go to a
// gen_server-like erl process (monitor, call, reply, demonitor).
func BenchmarkCallGoToErl(b *testing.B) {
	ep := clustertest.FreePort(b)
	g := startNode(b, Config{Name: "gbc@127.0.0.1", EPMDPort: ep})
	p := startErl(b, ep, "ebc@127.0.0.1", "testcookie", nil, erlServer)
	p.WaitOutput(b, 30*time.Second, `ready`)
	ctx := testCtx(b)
	to := Name{"ebc@127.0.0.1", "esvc"}
	if _, err := g.Call(ctx, to, etf.Atom("warm")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Call(ctx, to, etf.Atom("hi")); err != nil {
			b.Fatal(err)
		}
	}
}

// benchErlBatch runs batches of 100 calls from erl into g (expr makes one
// call with G bound to g's name), one batch per iteration, and reports
// ns/call.
func benchErlBatch(b *testing.B, g *Node, ep int, expr string) {
	done, err := g.NewMailbox("bench_done")
	if err != nil {
		b.Fatal(err)
	}
	p := startErl(b, ep, "e"+g.Self().Name()+"@127.0.0.1", "testcookie", nil, `
		G = '`+string(g.Self())+`',
		register(ebench, self()),
		One = fun() -> `+expr+` end,
		One(),
		io:format("ready~n"),
		Loop = fun L() ->
			receive run ->
				[One() || _ <- lists:seq(1, 100)],
				{bench_done, G} ! done,
				L()
			end
		end,
		Loop().`)
	p.WaitOutput(b, 30*time.Second, `ready`)
	ctx := testCtx(b)
	b.ResetTimer()
	for b.Loop() {
		if err := g.Send(ctx, libcluster.Node("e"+g.Self().Name()+"@127.0.0.1"), "ebench", etf.Atom("run")); err != nil {
			b.Fatal(err)
		}
		if _, err := done.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/call")
}

// BenchmarkCallErlToGo measures gen_server:call from erl to a Go
// GenServer, in batches of 100 (see ns/call).
func BenchmarkCallErlToGo(b *testing.B) {
	ep := clustertest.FreePort(b)
	g := startNode(b, Config{Name: "gbe@127.0.0.1", EPMDPort: ep})
	serveEchoB(b, g, "go_svc")
	benchErlBatch(b, g, ep, `{echo, hi} = gen_server:call({go_svc, G}, hi, 10000)`)
}

// BenchmarkErpcErlToGo measures erpc:call from erl into a Go function, in
// batches of 100 (see ns/call).
func BenchmarkErpcErlToGo(b *testing.B) {
	ep := clustertest.FreePort(b)
	g := startNode(b, Config{Name: "gbr@127.0.0.1", EPMDPort: ep})
	if err := g.HandleFunc("gomod", "id", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return a[0], nil }); err != nil {
		b.Fatal(err)
	}
	benchErlBatch(b, g, ep, `x = erpc:call(G, gomod, id, [x], 10000)`)
}

func serveEchoB(b *testing.B, g *Node, name string) {
	mb, err := g.NewMailbox(name)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = mb.Serve(ctx, GenServer{Call: func(_ context.Context, _ From, req etf.Term) etf.Term {
			return etf.Tuple{etf.Atom("echo"), req}
		}})
	}()
	b.Cleanup(cancel)
}
