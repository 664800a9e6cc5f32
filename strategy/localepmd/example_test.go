package localepmd_test

import (
	"context"
	"fmt"
	"net"

	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/localepmd"
)

// Example asks an EPMD (here one served in-process on a free port, where
// two nodes registered) which nodes run on this host.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &epmd.Server{}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for i, name := range []string{"app", "worker"} {
		r, err := (&epmd.Client{Port: port}).Register(context.Background(), epmd.NodeInfo{Name: name, Port: 9100 + i})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer r.Close()
	}

	// This node is app@127.0.0.1: its own name is left out, and the host
	// part of the peers' names comes from it.
	s, err := localepmd.New(localepmd.Config{EPMDPort: port}, strategy.Options{Self: "app@127.0.0.1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := s.Discover(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Nodes())
	// Output: [worker@127.0.0.1]
}
