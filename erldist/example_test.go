package erldist_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// ExampleStart starts two Go nodes that share an EPMD (the first one
// serves it in-process, as none runs), connects them and sends a message
// to a registered name. An erl node started with the same cookie could
// take either side.
func ExampleStart() {
	ctx := context.Background()
	epmdPort := freePort() // normally 4369 or ERL_EPMD_PORT
	start := func(name string) *erldist.Node {
		n, err := erldist.Start(ctx, erldist.Config{
			Name:       libcluster.MustParseNode("example_" + name),
			Cookie:     "secret",
			ListenAddr: "127.0.0.1:0",
			EPMDPort:   epmdPort,
			Logger:     slog.New(slog.DiscardHandler),
		})
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	a, b := start("a@127.0.0.1"), start("b@127.0.0.1")
	defer a.Close()
	defer b.Close()

	inbox, err := b.Register("inbox")
	if err != nil {
		log.Fatal(err)
	}
	if err := a.Connect(ctx, b.Self()); err != nil {
		log.Fatal(err)
	}
	if err := a.Send(ctx, b.Self(), "inbox", etf.Tuple{etf.Atom("hello"), int64(42)}); err != nil {
		log.Fatal(err)
	}
	m := <-inbox
	fmt.Println(a.Nodes(), m.From.Node, m.Body.(etf.Tuple)[0], m.Body.(etf.Tuple)[1])
	// Output: [example_b@127.0.0.1] example_a@127.0.0.1 hello 42
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
