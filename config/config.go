// Package config reads a libcluster config file (YAML, or JSON, which YAML
// accepts) and turns it into topologies ready to run.
//
// A file names this node, how it joins the Erlang distribution, an optional
// HTTP endpoint, and any number of topologies. Each topology picks a
// strategy by name ("epmd" or libcluster's "Cluster.Strategy.Epmd") and
// passes it libcluster's config keys unchanged:
//
//	node:
//	  name: app@${POD_IP}      # required; ${VAR} and ${VAR:-default} expand
//	  cookie: secret           # or cookie_file; default ~/.erlang.cookie, else $XDG_CONFIG_HOME/erlang/.erlang.cookie
//	  hidden: true
//	  listen: 0.0.0.0:0
//	  epmd: auto               # auto | none | host:port
//	  tick_time: 60s
//	  connector: dist          # dist | memberlist
//	  tls:                     # optional: distribution over TLS (erl -proto_dist inet_tls)
//	    certfile: /etc/app/node.pem
//	    keyfile: /etc/app/node-key.pem
//	    cacertfile: /etc/app/ca.pem
//	    verify: verify_peer    # verify_peer | verify_none
//	    fail_if_no_peer_cert: true
//	http:
//	  listen: 127.0.0.1:4000
//	topologies:
//	  example:
//	    strategy: epmd
//	    config:
//	      hosts: [b@127.0.0.1]
//	    policy: {prune: immediate, connect_timeout: 5s, min_nodes: 0}
//
// With node.connector: memberlist the node joins a hashicorp/memberlist
// cluster of Go nodes instead of the Erlang distribution; its settings go in
// node.memberlist, and the distribution keys (cookie, cookie_file, hidden,
// listen, epmd, tick_time, tls) are rejected there:
//
//	node:
//	  name: app@10.0.0.5
//	  connector: memberlist
//	  memberlist:
//	    bind: 0.0.0.0:7946       # IP:port, UDP and TCP
//	    peer_port: 7946          # port dialled to join a peer; default the bind port
//	    secret_key: ${KEY}       # base64 of 16, 24 or 32 bytes
//	    profile: lan             # lan | wan | local
//	    push_pull_interval: 15s  # memberlist's own keys override the profile:
//	    gossip_interval: 200ms   # gossip_nodes, probe_interval, probe_timeout,
//	                             # suspicion_mult, retransmit_mult, tcp_timeout,
//	                             # dead_node_reclaim_time, handoff_queue_depth,
//	                             # compression (true | false)
//
// Under memberlist a topology's prune defaults to never, since memberlist
// cannot drop a live member (see [Node.Prunes]).
//
// A strategy name resolves through the strategy registry, which holds the
// strategies the program imports: import
// github.com/libcluster-go/libcluster/strategy/install for all of them.
// This package imports none, so it compiles no strategy's client library.
// Defaults of the connectors (listen and bind addresses, ports, timing
// profile) are theirs: this package leaves those fields empty or copies
// them from the connector's exported defaults.
//
// Every problem is reported with the file, line and key path, what is
// allowed, and for a misspelt key the nearest known one. Unknown keys are
// errors at every level. Parsing opens no socket, so a program can validate
// its whole config before it starts anything.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/memberlist"
	"github.com/libcluster-go/libcluster/strategy"
)

// MaxFileSize bounds the config files Load reads.
const MaxFileSize = 1 << 20

// Defaults of the node section. node.listen has none here: an empty
// [Node.Listen] leaves the choice to erldist (any port on 0.0.0.0, or on
// :: for an IPv6 node name).
const (
	DefaultEPMD     = "auto"
	DefaultTickTime = 60 * time.Second
)

// The connectors node.connector can name.
const (
	// ConnectorDist is the Erlang distribution (package erldist), the default.
	ConnectorDist = "dist"
	// ConnectorMemberlist is hashicorp/memberlist (package memberlist), for
	// clusters of Go nodes only.
	ConnectorMemberlist = "memberlist"
)

// Connectors lists the values node.connector accepts.
var Connectors = []string{ConnectorDist, ConnectorMemberlist}

// File is a parsed and validated config file.
type File struct {
	// Name is the file name used in messages.
	Name string
	// Node is this node's identity and distribution settings.
	Node Node
	// HTTP is the optional HTTP endpoint (members, health, metrics).
	HTTP HTTP
	// Topologies in the order the file lists them.
	Topologies []Topology
}

// Node is the node section.
type Node struct {
	Name       libcluster.Node
	Cookie     string        // the cookie itself, after reading cookie_file if set
	CookieFile string        // where the cookie came from, if from a file
	Hidden     bool          // connect as a hidden node; default true
	Listen     string        // distribution listen address; empty: erldist's default
	EPMD       string        // "auto", "none" or host:port; default DefaultEPMD
	TickTime   time.Duration // net_ticktime; default DefaultTickTime
	// TLS holds node.tls, Erlang's ssl_dist_optfile options (certfile,
	// keyfile, cacertfile, verify, fail_if_no_peer_cert); nil means
	// plain TCP distribution. Parse checks that the files load; build
	// erldist.Config.TLS from it with erldist.LoadTLS.
	TLS *erldist.TLSOptions
	// Connector is ConnectorDist (the default) or ConnectorMemberlist.
	// Under memberlist the fields above, except Name, are unused and
	// Cookie is empty.
	Connector string
	// Memberlist holds node.memberlist, used when Connector is
	// ConnectorMemberlist.
	Memberlist Memberlist
}

// Memberlist is the node.memberlist section, the settings of the
// memberlist connector.
type Memberlist struct {
	BindAddr      string        // IP address from bind; empty: memberlist's default (0.0.0.0, or :: for an IPv6 name)
	BindPort      int           // port from bind; default memberlist.DefaultPort, 0 = any free port
	AdvertiseAddr string        // IP address from advertise; empty: memberlist's default
	AdvertisePort int           // port from advertise; 0: the bound port
	PeerPort      int           // port dialled to join a peer; 0: the bind port
	SecretKey     []byte        // decoded secret_key: 16, 24 or 32 bytes, or none
	Profile       string        // lan (memberlist's default), wan or local
	LeaveTimeout  time.Duration // how long leaving may take; 0: the package default
	// Tuning holds memberlist's timing and gossip keys (push_pull_interval,
	// gossip_interval, gossip_nodes, probe_interval, probe_timeout,
	// suspicion_mult, retransmit_mult, tcp_timeout, dead_node_reclaim_time,
	// handoff_queue_depth);
	// zero fields keep the profile's values.
	Tuning memberlist.Tuning
}

// Prunes reports whether the node's connector can drop a member, so that
// a topology's prune policy means anything. memberlist cannot drop a live
// member: under it every prune would fail, so prune defaults to never.
func (n *Node) Prunes() bool { return connectorPrunes(n.Connector) }

func connectorPrunes(connector string) bool { return connector != ConnectorMemberlist }

// MemberlistConfig returns the memberlist connector's configuration for
// this node, with logger (nil: slog.Default()).
func (n *Node) MemberlistConfig(logger *slog.Logger) memberlist.Config {
	m := n.Memberlist
	return memberlist.Config{
		Name:          n.Name,
		BindAddr:      m.BindAddr,
		BindPort:      m.BindPort,
		AdvertiseAddr: m.AdvertiseAddr,
		AdvertisePort: m.AdvertisePort,
		PeerPort:      m.PeerPort,
		SecretKey:     append([]byte(nil), m.SecretKey...),
		Profile:       memberlist.Profile(m.Profile),
		LeaveTimeout:  m.LeaveTimeout,
		Tuning:        m.Tuning,
		Logger:        logger,
	}
}

// HTTP is the http section.
type HTTP struct {
	Listen string // host:port; empty: no HTTP endpoint
}

// Topology is one entry of the topologies section.
type Topology struct {
	Name     string
	Strategy strategy.Info  // the registered strategy, resolved from its name or alias
	Params   map[string]any // the strategy's config keys as written
	Policy   libcluster.Policy
	Line     int // line of the topology's name in the file
}

// Option changes how a file is read.
type Option func(*options)

type options struct {
	name   string
	cookie string
	home   string
}

// WithNodeName overrides node.name (the run command's --name flag). The
// file then need not set node.name.
func WithNodeName(n string) Option { return func(o *options) { o.name = n } }

// WithCookie overrides node.cookie and node.cookie_file.
func WithCookie(c string) Option { return func(o *options) { o.cookie = c } }

// Load reads and parses the config file at path.
//
// The path must name a regular file (or a symbolic link to one): a FIFO,
// device or socket is refused before it is opened, since opening or reading
// one can block forever or never end.
func Load(path string, opts ...Option) (*File, error) {
	// Check what the path is before opening it: opening a FIFO blocks until
	// a writer appears.
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist; pass an existing file with --config", path)
		}
		return nil, fmt.Errorf("cannot open config file: %w", err)
	}
	if err := checkRegular(path, st); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open config file: %w", err)
	}
	defer fh.Close()
	// Check again what was opened: the path may have been replaced since.
	if st, err = fh.Stat(); err != nil {
		return nil, fmt.Errorf("cannot read config file: %w", err)
	}
	if err := checkRegular(path, st); err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("config file %s is %d bytes, more than the %d allowed; is it the right file?", path, st.Size(), MaxFileSize)
	}
	data := make([]byte, st.Size())
	if _, err := readFull(fh, data); err != nil {
		return nil, fmt.Errorf("cannot read config file: %w", err)
	}
	return Parse(data, path, opts...)
}

// checkRegular refuses anything but a regular file, naming what it is.
func checkRegular(path string, st os.FileInfo) error {
	m := st.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file (mode " + m.String() + ")"
	}
	return fmt.Errorf("config file %s is %s; pass a regular YAML or JSON file (write the config to a file first instead of piping it)", path, what)
}

func readFull(fh *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := fh.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Parse parses and validates a config file's contents; name is used in
// messages. The error, if any, is an [*Error] listing every problem found.
func Parse(data []byte, name string, opts ...Option) (*File, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", name, len(data), MaxFileSize)
	}
	d, err := newDoc(data, name)
	if err != nil {
		return nil, err
	}
	f := &File{Name: name}
	p := &parser{doc: d, opts: o, errs: Error{File: name}}
	p.file(f)
	if len(p.errs.Problems) > 0 {
		return nil, &p.errs
	}
	return f, nil
}

// NewStrategy builds the topology's strategy for a node named self. It
// opens no socket; the strategy starts working when it runs.
func (t *Topology) NewStrategy(self libcluster.Node, logger *slog.Logger) (libcluster.Strategy, error) {
	if logger == nil {
		logger = slog.Default()
	}
	return t.Strategy.Build(strategy.Args{ // Build decodes the keys into the strategy's Config and calls its New
		Topology: t.Name,
		Self:     self,
		Params:   strategy.NewParams(cloneMap(t.Params)),
		Logger:   logger.With("topology", t.Name),
	})
}

// NewTopologies builds every topology of the file on conn, with the given
// logger and observers. Nothing runs until the topologies are started, e.g.
// by a [libcluster.Supervisor].
func (f *File) NewTopologies(conn libcluster.Connector, logger *slog.Logger, observers ...libcluster.Observer) ([]*libcluster.Topology, error) {
	if logger == nil {
		logger = slog.Default()
	}
	out := make([]*libcluster.Topology, 0, len(f.Topologies))
	for i := range f.Topologies {
		tc := &f.Topologies[i]
		s, err := tc.NewStrategy(conn.Self(), logger)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: topology %q: %w", f.Name, tc.Line, tc.Name, err)
		}
		out = append(out, &libcluster.Topology{
			Name:      tc.Name,
			Strategy:  s,
			Connector: conn,
			Policy:    tc.Policy,
			Logger:    logger,
			Observers: slices.Clone(observers),
		})
	}
	return out, nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Problem is one thing wrong in a config file.
type Problem struct {
	Path string // key path, e.g. "topologies.example.config.hosts"
	Line int    // 1-based line, 0 if unknown
	Msg  string // what is wrong and what is allowed
}

// Error lists every problem found in a config file.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}
