package epmd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/libcluster-go/libcluster/erldist/epmd"
)

// A node registers with an EPMD, and a client looks it up and lists names.
func ExampleClient() {
	// An EPMD server on a random loopback port (normally: epmd.Port()).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &epmd.Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	c := &epmd.Client{Port: ln.Addr().(*net.TCPAddr).Port}
	reg, err := c.Register(ctx, epmd.NodeInfo{Name: "app", Port: 40001})
	if err != nil {
		panic(err)
	}
	fmt.Println("creation is nonzero:", reg.Creation() != 0)

	info, err := c.PortPlease(ctx, "app")
	if err != nil {
		panic(err)
	}
	fmt.Println("app listens on", info.Port, "handshake versions", info.LowestVersion, "to", info.HighestVersion)

	names, _ := c.Names(ctx)
	fmt.Println("names:", names)

	reg.Close() // unregisters
	// Output:
	// creation is nonzero: true
	// app listens on 40001 handshake versions 6 to 6
	// names: [{app 40001}]
}

// A Keeper keeps a name registered, serving EPMD itself when none runs.
func ExampleKeeper() {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // find a free port for the demo
	if err != nil {
		panic(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	k := &epmd.Keeper{
		NodeInfo:   epmd.NodeInfo{Name: "app", Port: 40001},
		Port:       port,
		ListenAddr: fmt.Sprintf("127.0.0.1:%d", port),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	registered := make(chan uint32, 1)
	done := make(chan error)
	go func() {
		done <- k.Run(ctx, func(creation uint32) { registered <- creation })
	}()
	<-registered

	names, _ := (&epmd.Client{Port: port}).Names(ctx)
	fmt.Println("names:", names)
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// names: [{app 40001}]
	// run: <nil>
}
