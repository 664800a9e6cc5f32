package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/config"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/httpapi"
	"github.com/libcluster-go/libcluster/memberlist"
	"github.com/libcluster-go/libcluster/metrics"
)

// loadConfig reads the --config file with the overrides, printing the
// problems on failure.
func loadConfig(cmd, path string, stderr io.Writer, opts ...config.Option) (*config.File, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "libcluster %s: --config is required; pass the path of a YAML or JSON config file\n", cmd)
		return nil, false
	}
	f, err := config.Load(path, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "libcluster %s: invalid configuration:\n%v\n", cmd, err)
		return nil, false
	}
	return f, true
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "--config FILE [--name N] [--cookie C] [--log-format text|json] [--log-level info]", stderr)
	path := fs.String("config", "", "config file (YAML or JSON)")
	name := fs.String("name", "", "node name, overriding node.name, e.g. app@127.0.0.1")
	cookie := fs.String("cookie", "", "distribution cookie, overriding node.cookie and node.cookie_file")
	addrFile := fs.String("http-addr-file", "", "once serving, write the HTTP endpoint's actual host:port to this file (useful with http.listen port 0)")
	log, rc, quit := parseLogged(fs, args, stdout, stderr, "")
	if quit {
		return rc
	}
	var opts []config.Option
	if *name != "" {
		opts = append(opts, config.WithNodeName(*name))
	}
	if *cookie != "" {
		opts = append(opts, config.WithCookie(*cookie))
	}
	f, ok := loadConfig("run", *path, stderr, opts...)
	if !ok {
		return exitUsage
	}
	if *cookie != "" && f.Node.Connector != config.ConnectorDist {
		fmt.Fprintf(stderr, "libcluster run: --cookie is a setting of the dist connector, but %s sets node.connector: %s; drop --cookie (use node.memberlist.secret_key)\n", f.Name, f.Node.Connector)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runNode(ctx, f, log, *addrFile); err != nil {
		fmt.Fprintln(stderr, "libcluster run:", err)
		return exitFailure
	}
	return exitOK
}

// runNode runs the node of f until ctx ends, then leaves cleanly.
func runNode(ctx context.Context, f *config.File, log *slog.Logger, addrFile string) error {
	if addrFile != "" && f.HTTP.Listen == "" {
		return fmt.Errorf("--http-addr-file needs http.listen in the config file")
	}
	var httpLn net.Listener
	if f.HTTP.Listen != "" {
		ln, err := net.Listen("tcp", f.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http.listen %s: %v; choose a free address or stop what uses it", f.HTTP.Listen, err)
		}
		httpLn = ln
		defer ln.Close()
	}
	node, startAttrs, err := startConnector(ctx, f, log)
	if err != nil {
		return err
	}
	defer node.Close()
	if !f.Node.Prunes() {
		for _, t := range f.Topologies {
			if t.Policy.Prune != libcluster.PruneNever {
				log.Warn("prune has no effect with the memberlist connector: it cannot drop a live member, so every prune fails; set policy.prune: never",
					"topology", t.Name, "prune", t.Policy.Prune.String())
			}
		}
	}

	defer logMembers(node, log)()

	m := metrics.New()
	m.TrackProcess() // go_goroutines, process_resident_memory_bytes, ...
	web := newWeb(f, httpLn)
	tops, err := f.NewTopologies(node, log, m.Observe, web.Events.Observe)
	if err != nil {
		return err
	}
	for _, t := range tops {
		web.Discovery.Wrap(t)
	}
	sup := libcluster.NewSupervisor(tops...)
	m.Track(sup.Status)
	if en, ok := node.(*erldist.Node); ok {
		en.SetTopologies(sup.Status) // libcluster:topologies() over erpc
	}
	m.TrackDrops(tops...)
	if err := sup.Start(ctx); err != nil {
		return err
	}
	log.Info("node started", append(append([]any{"node", string(node.Self()), "connector", f.Node.Connector}, startAttrs...),
		"topologies", len(tops), "http", addrOf(httpLn))...)

	var srv *httpapi.Server
	srvDone := make(chan error, 1)
	if httpLn != nil {
		src := httpapi.Source{Connector: node, Status: sup.Status, Metrics: m, Web: web}
		if h, ok := node.(interface{ Err() error }); ok {
			src.Health = h.Err // dist: its listener failed for good
		}
		srv = httpapi.NewServer(httpapi.Handler(src), httpapi.ServerConfig{Logger: log})
		srv.RegisterOnShutdown(web.Events.Close)
		go func() { srvDone <- srv.Serve(httpLn) }()
		if addrFile != "" {
			if err := writeAtomic(addrFile, httpLn.Addr().String()+"\n"); err != nil {
				sup.Stop()
				return fmt.Errorf("--http-addr-file: %w", err)
			}
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvDone:
		runErr = fmt.Errorf("http server on %s stopped: %w", f.HTTP.Listen, err)
	}
	log.Info("leaving the cluster", "members", len(node.Nodes()))
	sup.Stop()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	if f.Node.Connector == config.ConnectorDist {
		peers := node.Nodes()
		slices.Sort(peers)
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for _, p := range peers {
			if err := node.Disconnect(dctx, p); err != nil && !errors.Is(err, libcluster.ErrNotConnected) {
				log.Debug("disconnect on leave failed", "node", string(p), "error", err.Error())
			}
		}
		cancel()
	}
	// memberlist leaves in Close: it gossips the leave to the members.
	if err := node.Close(); err != nil {
		log.Warn("closing the connector", "error", err.Error())
	}
	log.Info("node stopped")
	return runErr
}

// logMembers logs "member joined" and "member left" for node's members
// until stop is called. A member that joined before the watcher was
// attached (a peer can join the moment the connector listens) is logged
// as joined when the watch starts; each member's joins are logged once
// until it leaves.
func logMembers(node runConnector, log *slog.Logger) (stop func()) {
	var mu sync.Mutex
	up := map[libcluster.Node]bool{}
	note := func(ev libcluster.NodeEvent) {
		mu.Lock()
		defer mu.Unlock()
		n := len(node.Nodes())
		switch {
		case ev.Up && up[ev.Node]:
		case ev.Up:
			up[ev.Node] = true
			log.Info("member joined", "node", string(ev.Node), "members", n)
		default:
			delete(up, ev.Node)
			log.Info("member left", "node", string(ev.Node), "reason", ev.Reason, "members", n)
		}
	}
	stop = node.WatchNodes(note)
	for _, p := range node.Nodes() {
		note(libcluster.NodeEvent{Node: p, Up: true})
	}
	return stop
}

// runConnector is what run needs of a connector: erldist.Node and
// memberlist.Node both provide it.
type runConnector interface {
	libcluster.Connector
	WatchNodes(fn func(libcluster.NodeEvent)) (stop func())
	Close() error
}

// startConnector starts the connector the config file names and returns
// it with attributes for the "node started" log line.
func startConnector(ctx context.Context, f *config.File, log *slog.Logger) (runConnector, []any, error) {
	if f.Node.Connector == config.ConnectorMemberlist {
		m := f.Node.Memberlist
		node, err := memberlist.Start(ctx, f.Node.MemberlistConfig(log))
		if err != nil {
			return nil, nil, fmt.Errorf("starting the memberlist node (node.memberlist.bind %s): %w",
				net.JoinHostPort(m.BindAddr, fmt.Sprint(m.BindPort)), err)
		}
		return node, []any{"addr", node.Addr().String(), "peer_port", node.PeerPort()}, nil
	}
	cfg := erldist.Config{
		Name:       f.Node.Name,
		Cookie:     f.Node.Cookie,
		Visible:    !f.Node.Hidden,
		ListenAddr: f.Node.Listen,
		EPMD:       f.Node.EPMD,
		TickTime:   f.Node.TickTime,
		Logger:     log,
	}
	if f.Node.TLS != nil {
		tc, err := erldist.LoadTLS(*f.Node.TLS)
		if err != nil {
			return nil, nil, fmt.Errorf("node.tls: %w", err)
		}
		cfg.TLS = tc
	}
	node, err := erldist.Start(ctx, cfg)
	if err != nil {
		listen := f.Node.Listen
		if listen == "" {
			listen = "default"
		}
		return nil, nil, fmt.Errorf("starting the distribution node (node.listen %s, node.epmd %s): %w", listen, f.Node.EPMD, err)
	}
	return node, []any{"port", node.Port(), "epmd", f.Node.EPMD, "tls", cfg.TLS != nil}, nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// writeAtomic writes content to path through a temporary file and a
// rename, so a reader never sees a partial file.
func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
