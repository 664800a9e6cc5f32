package libcluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/libcluster-go/libcluster"
)

// A topology with a static list and a connector made of plain functions.
// Real programs use the erldist package's Erlang distribution connector.
func ExampleTopology() {
	connected := make(chan libcluster.Node, 2)
	conn := &libcluster.ConnectorFuncs{
		SelfNode: "a@127.0.0.1",
		ConnectFunc: func(_ context.Context, n libcluster.Node) error {
			connected <- n
			return nil
		},
		ListFunc: func() []libcluster.Node { return nil },
	}
	static := libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
		r.Report(libcluster.Seen([]libcluster.Node{"b@127.0.0.1"}))
		<-ctx.Done()
		return nil
	})
	topo := &libcluster.Topology{Name: "example", Strategy: static, Connector: conn}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sup := libcluster.NewSupervisor(topo)
	if err := sup.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer sup.Stop()
	fmt.Println("connected to", <-connected)
	// Output: connected to b@127.0.0.1
}

func ExampleParseNode() {
	n, err := libcluster.ParseNode("app@10.0.0.5")
	fmt.Println(n.Name(), n.Host(), n.IsLong(), err)
	_, err = libcluster.ParseNode("app")
	fmt.Println(err)
	// Output:
	// app 10.0.0.5 true <nil>
	// invalid node name "app": no '@' between basename and host (want basename@host, e.g. app@10.0.0.5 or app@host.example.com)
}
