package pg_test

import (
	"context"
	"log"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/erldist/pg"
)

// A Go mailbox joins the group workers of the default scope; every Erlang
// node of the cluster lists it in pg:get_members(workers).
func ExampleScope() {
	ctx := context.Background()
	n, err := erldist.Start(ctx, erldist.Config{Name: "gosvc@127.0.0.1", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	scope, err := pg.Start(n, pg.DefaultScope, pg.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer scope.Close()
	if err := n.Connect(ctx, "app@127.0.0.1"); err != nil {
		log.Fatal(err)
	}
	mb, _ := n.NewMailbox("")
	if err := scope.Join(ctx, etf.Atom("workers"), mb); err != nil {
		log.Fatal(err)
	}
	log.Printf("workers: %v", scope.Members(etf.Atom("workers")))
	if _, err := scope.Send(ctx, etf.Atom("workers"), etf.Atom("reload")); err != nil {
		log.Print(err)
	}
}

// Go subscribes to a topic of the Elixir application's MyApp.PubSub and
// publishes on it.
func ExamplePubSub() {
	ctx := context.Background()
	n, err := erldist.Start(ctx, erldist.Config{Name: "gosvc@127.0.0.1", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	scope, err := pg.Start(n, pg.PubSubScope, pg.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer scope.Close()
	ps, err := pg.NewPubSub(ctx, scope, "MyApp.PubSub", pg.PubSubOptions{PoolSize: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	sub, _ := ps.Subscribe("room:lobby")
	go func() {
		for b := range sub.C() {
			log.Printf("%s: %v", b.Topic, b.Message)
		}
	}()
	msg := etf.Tuple{etf.Atom("new_msg"), etf.Map{{Key: etf.Atom("body"), Value: etf.Binary("hi")}}}
	if err := ps.Broadcast(ctx, "room:lobby", msg); err != nil {
		log.Print(err)
	}
}
