package epmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Keeper back-off between failed rounds.
const (
	keeperMinBackoff = 50 * time.Millisecond
	keeperMaxBackoff = time.Second
)

// Keeper keeps one name registered with the local host's EPMD, whichever
// process serves it. Each round it registers with a running EPMD; when none
// answers, it serves EPMD itself in-process and registers there. When the
// registration is lost (the process serving EPMD died) it starts a new
// round at once: of several processes doing the same, exactly one binds the
// port and the others register with it.
type Keeper struct {
	// NodeInfo is the node to keep registered.
	NodeInfo
	// Port is the EPMD port; 0 means Port(). (It shadows NodeInfo.Port,
	// which is the node's distribution port: set that as k.NodeInfo.Port.)
	Port int
	// ListenAddr is where the in-process server listens; "" means ":<Port>"
	// (all interfaces, like the stock epmd). Registration goes to 127.0.0.1,
	// or to ListenAddr's host when that is another loopback address, so the
	// address must include that one.
	ListenAddr string
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// OnError, when set, is called with the error of every failed
	// registration round (Run retries them), so that a caller waiting for
	// the registration can say what went wrong.
	OnError func(err error)
}

func (k *Keeper) logger() *slog.Logger {
	if k.Logger != nil {
		return k.Logger
	}
	return slog.Default()
}

func (k *Keeper) epmdPort() int {
	if k.Port != 0 {
		return k.Port
	}
	return Port()
}

// Run keeps the registration until ctx ends, calling ready (if not nil) with
// the creation after every (re-)registration. On return it has unregistered
// and closed any server it ran. It returns nil when ctx ends. It returns an
// error at once when the node is invalid, or when the name is already in use
// at the first attempt (a second node of that name is running); later
// refusals are retried.
func (k *Keeper) Run(ctx context.Context, ready func(creation uint32)) error {
	node, err := k.NodeInfo.normalize()
	if err != nil {
		return err
	}
	if p := k.epmdPort(); p <= 0 || p > 65535 {
		return fmt.Errorf("epmd: keeper EPMD port %d out of range 1-65535", p)
	}
	log := k.logger().With("name", node.Name, "epmd_port", k.epmdPort())
	var srv *Server
	var srvDone chan struct{}
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	first := true
	backoff := keeperMinBackoff
	for {
		if ctx.Err() != nil {
			return nil
		}
		// A server we ran has stopped serving: forget it.
		if srv != nil {
			select {
			case <-srvDone:
				srv.Close()
				srv = nil
			default:
			}
		}
		reg, started, err := k.round(ctx, node, srv)
		if started != nil {
			srv, srvDone = started.srv, started.done
			log.Info("epmd: no EPMD was running; serving EPMD in-process", "addr", started.addr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if first && errors.Is(err, ErrNameInUse) {
				return err
			}
			if k.OnError != nil {
				k.OnError(err)
			}
			log.Debug("epmd: registration round failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, keeperMaxBackoff)
			continue
		}
		first = false
		backoff = keeperMinBackoff
		log.Info("epmd: registered", "creation", reg.Creation(), "own_server", srv != nil)
		if ready != nil {
			ready(reg.Creation())
		}
		select {
		case <-ctx.Done():
			reg.Close()
			return nil
		case <-reg.Done():
			log.Warn("epmd: registration lost; registering again", "err", reg.Err())
		}
	}
}

type startedServer struct {
	srv  *Server
	done chan struct{}
	addr string
}

// round makes one registration attempt: with our own server if we run one,
// else with whoever serves the EPMD port, else with a server we start.
func (k *Keeper) round(ctx context.Context, node NodeInfo, own *Server) (*Registration, *startedServer, error) {
	if own != nil {
		reg, err := pipeClient(own).Register(ctx, node)
		return reg, nil, err
	}
	c := &Client{Host: k.dialHost(), Port: k.epmdPort(), Timeout: 2 * time.Second}
	reg, err := c.Register(ctx, node)
	if err == nil || !isDialErr(err) {
		return reg, nil, err
	}
	// Nothing answers: try to serve EPMD ourselves.
	addr := k.ListenAddr
	if addr == "" {
		addr = ":" + strconv.Itoa(k.epmdPort())
	}
	ln, lerr := net.Listen("tcp", addr)
	if lerr != nil {
		// Someone else bound the port first: register with them.
		reg, err = c.Register(ctx, node)
		return reg, nil, err
	}
	srv := &Server{Logger: k.Logger}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
			k.logger().Warn("epmd: in-process EPMD stopped", "err", err)
			srv.Close()
		}
	}()
	started := &startedServer{srv: srv, done: done, addr: ln.Addr().String()}
	reg, err = pipeClient(srv).Register(ctx, node)
	return reg, started, err
}

// dialHost is the address the local EPMD is reached at: the host of
// ListenAddr when it is a specific loopback address (such as "[::1]:4369"),
// else 127.0.0.1.
func (k *Keeper) dialHost() string {
	if host, _, err := net.SplitHostPort(k.ListenAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return host
		}
	}
	return "127.0.0.1"
}

// pipeClient returns a client that registers with srv over an in-memory
// connection treated as local, so the registration does not depend on the
// listen address.
func pipeClient(srv *Server) *Client {
	return &Client{Timeout: 2 * time.Second, dial: func(context.Context) (net.Conn, error) {
		a, b := net.Pipe()
		srv.handleConn(b, true, true)
		return a, nil
	}}
}

// isDialErr reports whether err is a failure to connect (nothing listens),
// as opposed to a refusal or a protocol error from a running EPMD.
func isDialErr(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
