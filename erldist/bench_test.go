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
