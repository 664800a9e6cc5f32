package gossip_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/gossip"
)

// Example runs two gossip strategies on the host loopback (multicast sent
// on 127.0.0.1 only) and prints the node the first one hears.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	heard := make(chan libcluster.Node, 16)
	port := freePort() // every node of a cluster uses the same port; 45892 by default
	newNode := func(name string) *gossip.Strategy {
		cfg := gossip.DefaultConfig()
		cfg.Port = port
		cfg.MulticastIf = "127.0.0.1" // keep multicast on this host
		cfg.Secret = "shared secret"
		cfg.Security = gossip.SecurityAEAD
		cfg.Cluster = "example"
		s, err := gossip.New(cfg, strategy.Options{Self: libcluster.MustParseNode(name)})
		if err != nil {
			log.Fatal(err)
		}
		return s
	}
	a, b := newNode("a@127.0.0.1"), newNode("b@127.0.0.1")
	go func() {
		_ = a.Run(ctx, reporter(func(u libcluster.Update) {
			for _, n := range u.Nodes() {
				heard <- n
			}
		}))
	}()
	go func() { _ = b.Run(ctx, reporter(func(libcluster.Update) {})) }()
	select {
	case n := <-heard:
		fmt.Println("a heard", n)
	case <-ctx.Done():
		log.Fatal("nothing heard")
	}
	// Output: a heard b@127.0.0.1
}

// freePort returns a UDP port that is free now.
func freePort() int {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type reporter func(libcluster.Update)

func (r reporter) Report(u libcluster.Update) { r(u) }
