package pg

import (
	"context"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

const fanout = 1000

// BenchmarkFanoutGoMembers: Scope.Send to a group of 1,000 Go mailboxes
// and every mailbox receiving the message; one op is one broadcast.
func BenchmarkFanoutGoMembers(b *testing.B) {
	ep := startEPMD(b)
	g := startGo(b, "benchgo@127.0.0.1", ep)
	s := startScope(b, g, DefaultScope)
	ctx := context.Background()
	mbs := make([]*erldist.Mailbox, fanout)
	for i := range mbs {
		mbs[i] = newMailbox(b, g)
	}
	if err := s.Join(ctx, etf.Atom("fan"), mbs...); err != nil {
		b.Fatal(err)
	}
	msg := etf.Tuple{etf.Atom("news"), etf.Binary("hello")}
	b.ResetTimer()
	for b.Loop() {
		if n, err := s.Send(ctx, etf.Atom("fan"), msg); err != nil || n != fanout {
			b.Fatalf("sent to %d (%v)", n, err)
		}
		for _, mb := range mbs {
			if _, err := mb.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fanout, "ns/delivery")
}

// BenchmarkFanoutErlMembers: Scope.Send from Go to a group of 1,000 erl
// processes on one erl node; each member tells a counter, which answers Go
// once all 1,000 got the message. One op is one broadcast, end to end.
func BenchmarkFanoutErlMembers(b *testing.B) {
	ep := startEPMD(b)
	g := startGo(b, "benchpg@127.0.0.1", ep)
	s := startScope(b, g, DefaultScope)
	e := startErl(b, g, ep, "benchpgerl@127.0.0.1")
	done, err := g.NewMailbox("bench_done")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(done.Close)
	v := e.eval(b, `
		C = fun L(N) -> receive hit when N =:= 1 -> {bench_done, 'benchpg@127.0.0.1'} ! done, L(1000);
		                        hit -> L(N - 1) end end,
		Counter = spawn(fun() -> C(1000) end),
		Ms = [spawn(fun L() -> receive _ -> Counter ! hit, L() end end) || _ <- lists:seq(1, 1000)],
		ok = pg:join(fan, Ms), ok.`)
	if v != etf.Atom("ok") {
		b.Fatalf("erl setup: %v", v)
	}
	eventually(b, 30*time.Second, "Go sees the 1,000 erl members", func() (bool, string) {
		return len(s.Members(etf.Atom("fan"))) == fanout, ""
	})
	ctx := context.Background()
	msg := etf.Tuple{etf.Atom("news"), etf.Binary("hello")}
	b.ResetTimer()
	for b.Loop() {
		if n, err := s.Send(ctx, etf.Atom("fan"), msg); err != nil || n != fanout {
			b.Fatalf("sent to %d (%v)", n, err)
		}
		if _, err := done.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fanout, "ns/delivery")
}
