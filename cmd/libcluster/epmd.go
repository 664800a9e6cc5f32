package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/libcluster-go/libcluster/erldist/epmd"
)

func cmdEPMD(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("epmd", "[--port 4369] [--address 0.0.0.0]", stderr)
	port := fs.Int("port", epmd.Port(), "TCP port to serve on (default: ERL_EPMD_PORT or 4369)")
	address := fs.String("address", "0.0.0.0", "IP address to listen on")
	log, rc, quit := parseLogged(fs, args, stdout, stderr, "")
	if quit {
		return rc
	}
	if *port < 1 || *port > 65535 {
		fmt.Fprintf(stderr, "libcluster epmd: invalid --port %d; want 1 to 65535\n", *port)
		return exitUsage
	}
	addr := net.JoinHostPort(*address, strconv.Itoa(*port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "libcluster epmd: cannot listen on %s: %v; is another EPMD running? pick another --port\n", addr, err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &epmd.Server{Logger: log}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("epmd listening", "address", ln.Addr().String())
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		log.Info("epmd stopped")
		return exitOK
	case err := <-done:
		if errors.Is(err, epmd.ErrServerClosed) {
			return exitOK
		}
		fmt.Fprintln(stderr, "libcluster epmd:", err)
		return exitFailure
	}
}
