package memberlist_test

import (
	"context"
	"fmt"
	"time"

	"github.com/libcluster-go/libcluster/memberlist"
)

// Two nodes on one machine: a binds a free port, which b uses as the
// fleet's port to reach a by name. In production every node uses
// DefaultConfig (port 7946) and a topology does the connecting.
func ExampleStart() {
	ctx := context.Background()
	cfgA := memberlist.DefaultConfig("a@127.0.0.1")
	cfgA.BindAddr, cfgA.BindPort = "127.0.0.1", 0 // any free port
	cfgA.Profile = memberlist.ProfileLocal
	a, err := memberlist.Start(ctx, cfgA)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	cfgB := memberlist.DefaultConfig("b@127.0.0.1")
	cfgB.BindAddr, cfgB.BindPort = "127.0.0.1", 0
	cfgB.PeerPort = int(a.Addr().Port()) // where to find nodes by name
	cfgB.Profile = memberlist.ProfileLocal
	b, err := memberlist.Start(ctx, cfgB)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, "a@127.0.0.1"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("b sees", b.Nodes()) // the join gave b a's view at once
	for len(a.Nodes()) == 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // a merges b's state just after answering
	}
	fmt.Println("a sees", a.Nodes())
	// Output:
	// b sees [a@127.0.0.1]
	// a sees [b@127.0.0.1]
}
