package erldist

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/nodeevents"
	"github.com/libcluster-go/libcluster/internal/ratelog"
)

// EPMD modes for Config.EPMD.
const (
	// EPMDAuto keeps the node registered with the local EPMD, serving EPMD
	// in-process when none runs (see epmd.Keeper). Peers are resolved
	// through the EPMD on their host.
	EPMDAuto = "auto"
	// EPMDNone uses no EPMD: the node listens on the fixed port of
	// Config.ListenAddr and dials every peer on that same port, like erl
	// with -erl_epmd_port / erl_epmd_node_listen_port.
	EPMDNone = "none"
)

// ErrVisible is returned by Start for Config.Visible (node.hidden: false).
var ErrVisible = errors.New("dist: a visible node (hidden: false) is not supported: Erlang nodes expect every visible node to take part in global's name-server and lock protocol (init_connect, lock_set, exchange, resolved), and without it :global.sync() and global:register_name/2 hang on every Erlang node this node connects to; run the node hidden (the default), which messaging, gen_server calls, erpc and pg do not need")

// Defaults for zero Config fields.
const (
	DefaultTickTime         = 60 * time.Second
	DefaultHandshakeTimeout = 7 * time.Second
	DefaultMaxMessageSize   = 128 << 20
	DefaultMailboxSize      = 1024
	// DefaultMaxHandshakes is the default Config.MaxHandshakes.
	DefaultMaxHandshakes = 256
	// DefaultMaxHandshakesPerHost is the default Config.MaxHandshakesPerHost.
	DefaultMaxHandshakesPerHost = 32
)

// Config configures a [Node]. Name is required; every other zero field takes
// its documented default.
type Config struct {
	// Name is this node's name, e.g. go1@127.0.0.1 (long) or go1@myhost
	// (short). Peers must dial exactly this name.
	Name libcluster.Node
	// Cookie is the shared secret. Empty means: read ~/.erlang.cookie (or
	// $XDG_CONFIG_HOME/erlang/.erlang.cookie) like erl does, with the
	// checks of [ReadCookieFile] (owner-only permissions, regular file,
	// size limit).
	Cookie string
	// Visible asks for a normal (published) node, listed in nodes() of
	// OTP peers. Start refuses it (ErrVisible): every visible node must
	// run global's name server and locker protocol, or :global.sync()
	// and global name registration hang on all Erlang nodes it joins, and
	// this node does not implement that protocol. Leave it false: the
	// node is hidden, listed in nodes(hidden), and messaging, calls, erpc
	// and pg work the same.
	Visible bool
	// ListenAddr is the distribution listen address; default "0.0.0.0:0"
	// ("[::]:0" when Name's host is an IPv6 address). In EPMDNone mode it
	// must have a fixed port.
	ListenAddr string
	// EPMD selects how the node registers and finds peers: EPMDAuto (the
	// default, also for ""), EPMDNone, or "host:port" of an EPMD to
	// register with; peers are then looked up on their own host at that
	// port.
	EPMD string
	// EPMDPort is the EPMD port in EPMDAuto mode, for registering and for
	// looking up peers; 0 means ERL_EPMD_PORT or 4369.
	EPMDPort int
	// TickTime is net_ticktime: a tick is sent every TickTime/4 when the
	// connection is idle, and a peer that sent nothing for about TickTime
	// is declared down (reason "net_tick_timeout"). Default 60 s, as OTP;
	// use the same value as the rest of the cluster.
	TickTime time.Duration
	// HandshakeTimeout bounds each step of connection setup (OTP's
	// net_setuptime); default 7 s.
	HandshakeTimeout time.Duration
	// MaxMessageSize is the largest distribution packet accepted; a
	// larger one closes the connection. Default 128 MiB.
	MaxMessageSize int
	// MaxInflatedSize is the largest size a compressed message payload may
	// inflate to; a larger one drops that message. Default
	// etf.DefaultMaxInflated (16 MiB). Decoding a payload is also bounded
	// by etf's default allocation budget (Limits.MaxAlloc): a payload whose
	// decoded form would take more memory is dropped too, and counted in
	// DroppedMessages.
	MaxInflatedSize int
	// MaxHandshakes caps the incoming connections in the handshake at a
	// time; at the cap, the one that has waited longest is closed to make
	// room for a new one (a real peer completes in milliseconds). Default
	// DefaultMaxHandshakes (256).
	MaxHandshakes int
	// MaxHandshakesPerHost caps the incoming connections in the handshake
	// from one IP address; more from it are closed at once, before any byte
	// is read. Default DefaultMaxHandshakesPerHost (32).
	MaxHandshakesPerHost int
	// MailboxSize is the channel capacity of a registered name; messages
	// arriving while it is full are dropped and logged. Default 1024.
	MailboxSize int
	// MaxCalls caps the erpc/rpc calls into Go functions running at a
	// time; a spawn request beyond it fails with system_limit, as on an
	// Erlang node out of processes. Default DefaultMaxCalls (1024).
	MaxCalls int
	// TLS, when set, runs every distribution connection over TLS, like
	// erl -proto_dist inet_tls: the TLS handshake first, then the cookie
	// handshake inside it; nil is plain TCP. LoadTLS builds it from
	// Erlang's ssl_dist_optfile options. It serves both roles:
	// Certificates (or GetCertificate) as server and client certificate,
	// ClientAuth and ClientCAs for incoming connections, RootCAs for the
	// nodes dialled, whose certificates are checked against the host part
	// of their node names as OTP does (ServerName, when set, is checked
	// for every peer instead; InsecureSkipVerify checks nothing). A
	// VerifyConnection hook runs after those checks. Do not modify it
	// after Start.
	TLS *tls.Config
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Message is one message delivered to a registered name.
type Message struct {
	// From is the sending process, or the zero Pid when the peer did not
	// say (a plain SEND).
	From etf.Pid
	// Body is the message term.
	Body etf.Term
}

// Node is a native Erlang distribution node. It implements
// [libcluster.Connector] and [libcluster.NodeWatcher]. All methods are safe
// for concurrent use.
type Node struct {
	cfg      Config
	self     libcluster.Node
	cookie   []byte
	creation uint32
	flags    uint64
	log      *slog.Logger
	ln       net.Listener
	port     int
	mode     string // auto, none, explicit
	epmdHost string // explicit mode: EPMD to register with
	epmdPort int
	pid      etf.Pid
	limits   etf.Limits
	gate     handshakeGate // guarded by mu

	acceptErr atomic.Value    // *acceptFailure once the accept loop gave up
	acceptLog ratelog.Limiter // summary log of transient accept errors
	refuseLog ratelog.Limiter // summary log of connections refused before the handshake
	cookieLog ratelog.Limiter // summary log of wrong-cookie handshakes
	dropped   atomic.Uint64   // messages dropped: payload not decodable
	dropLog   ratelog.Limiter // summary log of those drops

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	conns     map[libcluster.Node]*conn
	pending   map[libcluster.Node]*attempt
	handshake map[net.Conn]time.Time // incoming connections in the handshake, by start
	procs     *procs                 // the process layer (process.go)
	funcs     funcTable

	ev nodeevents.Queue

	paused atomic.Bool // test hook: no ticks sent, no tick timeouts
	tlsLog rateLog     // refused TLS handshakes
}

// attempt is an outgoing connection attempt that Connect callers wait on.
type attempt struct {
	done       chan struct{}
	err        error
	finished   bool
	superseded bool // a connection from the peer takes its place
	cancel     context.CancelFunc
	waiters    int    // Connect calls waiting on it; the last to give up cancels it
	stage      string // what it is doing now, for the error of a caller that gives up
}

// Start validates cfg, listens, registers the node (per cfg.EPMD) and
// serves connections until Close. It returns once the node accepts
// connections.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	self, err := libcluster.ParseNode(string(cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("dist: Config.Name: %w", err)
	}
	if cfg.Visible {
		return nil, ErrVisible
	}
	cookie := cfg.Cookie
	if cookie == "" {
		if cookie, err = readCookie(); err != nil {
			return nil, err
		}
	}
	cb, err := cookieBytes(cookie)
	if err != nil {
		return nil, err
	}
	if cfg.TickTime == 0 {
		cfg.TickTime = DefaultTickTime
	}
	if cfg.TickTime < 400*time.Millisecond {
		return nil, fmt.Errorf("dist: Config.TickTime %v is too short; use at least 1s (OTP's net_ticktime is in seconds)", cfg.TickTime)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.HandshakeTimeout < 0 || cfg.MaxMessageSize < 0 || cfg.MaxInflatedSize < 0 || cfg.MaxHandshakes < 0 || cfg.MaxHandshakesPerHost < 0 || cfg.MailboxSize < 0 || cfg.EPMDPort < 0 || cfg.EPMDPort > 65535 {
		return nil, errors.New("dist: Config.HandshakeTimeout, MaxMessageSize, MaxInflatedSize, MaxHandshakes, MaxHandshakesPerHost, MailboxSize and EPMDPort must not be negative (EPMDPort at most 65535)")
	}
	if cfg.MaxHandshakes == 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxHandshakesPerHost == 0 {
		cfg.MaxHandshakesPerHost = DefaultMaxHandshakesPerHost
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MailboxSize == 0 {
		cfg.MailboxSize = DefaultMailboxSize
	}
	if cfg.MaxCalls < 0 {
		return nil, errors.New("dist: Config.MaxCalls must not be negative")
	}
	if cfg.MaxCalls == 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{
		cfg:       cfg,
		self:      self,
		cookie:    cb,
		flags:     ourFlags,
		log:       cfg.Logger.With("node", string(self)),
		conns:     map[libcluster.Node]*conn{},
		pending:   map[libcluster.Node]*attempt{},
		handshake: map[net.Conn]time.Time{},
		limits:    etf.Limits{MaxSize: cfg.MaxMessageSize, MaxInflated: cfg.MaxInflatedSize},
		gate:      newHandshakeGate(cfg.MaxHandshakes, cfg.MaxHandshakesPerHost),
	}
	n.procs = newProcs(n, cfg.MailboxSize)
	if err := n.checkTLS(); err != nil {
		return nil, err
	}
	if cfg.Visible {
		n.flags |= flagPublished
	}
	n.epmdPort = cfg.EPMDPort
	if n.epmdPort == 0 {
		n.epmdPort = epmd.Port()
	}
	switch cfg.EPMD {
	case "", EPMDAuto:
		n.mode = EPMDAuto
	case EPMDNone:
		n.mode = EPMDNone
	default:
		h, p, err := net.SplitHostPort(cfg.EPMD)
		pn, perr := strconv.Atoi(p)
		if err != nil || perr != nil || pn < 1 || pn > 65535 {
			return nil, fmt.Errorf("dist: Config.EPMD %q is not %q, %q or host:port of an EPMD", cfg.EPMD, EPMDAuto, EPMDNone)
		}
		if h == "" {
			h = "127.0.0.1"
		}
		n.mode, n.epmdHost, n.epmdPort = "explicit", h, pn
	}
	addr := cfg.ListenAddr
	if addr == "" {
		addr = "0.0.0.0:0"
		if a, ok := self.Addr(); ok && a.Is6() && !a.Is4In6() {
			addr = "[::]:0"
		}
	}
	if n.mode == EPMDNone {
		if _, p, err := net.SplitHostPort(addr); err != nil || p == "0" || p == "" {
			return nil, fmt.Errorf("dist: EPMD mode %q needs a fixed port in Config.ListenAddr (got %q), e.g. \"0.0.0.0:4370\", the same on every node", EPMDNone, addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dist: listening on %s: %w; pick a free Config.ListenAddr", addr, err)
	}
	n.ln = ln
	n.port = ln.Addr().(*net.TCPAddr).Port
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.ev.Start()

	if err := n.register(ctx); err != nil {
		n.cancel()
		ln.Close()
		n.wg.Wait()
		n.ev.Close()
		return nil, err
	}
	n.pid = etf.Pid{Node: etf.Atom(self), ID: 1, Creation: n.creation}
	n.wg.Add(1)
	go n.acceptLoop()
	n.log.Debug("dist: node started", "port", n.port, "creation", n.creation, "epmd", n.mode)
	return n, nil
}

// register obtains the creation: from EPMD, or at random without one.
func (n *Node) register(ctx context.Context) error {
	hidden := n.flags&flagPublished == 0
	info := epmd.NodeInfo{Name: n.self.Name(), Port: n.port, NodeType: epmd.NodeTypeNormal, Protocol: epmd.ProtocolTCP, HighestVersion: 6, LowestVersion: 6}
	if hidden {
		info.NodeType = epmd.NodeTypeHidden
	}
	switch n.mode {
	case EPMDNone:
		n.creation = randomCreation()
		return nil
	case EPMDAuto:
		var lastMu sync.Mutex
		var lastErr error
		k := &epmd.Keeper{NodeInfo: info, Port: n.epmdPort, Logger: n.cfg.Logger, OnError: func(err error) {
			lastMu.Lock()
			lastErr = err
			lastMu.Unlock()
		}}
		first := make(chan uint32, 1)
		runErr := make(chan error, 1)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			err := k.Run(n.ctx, func(c uint32) {
				select {
				case first <- c:
				default:
				}
			})
			runErr <- err
		}()
		wait := time.NewTimer(n.cfg.HandshakeTimeout + 5*time.Second)
		defer wait.Stop()
		select {
		case c := <-first:
			n.creation = c
			return nil
		case err := <-runErr:
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("dist: registering %s with EPMD on port %d: %w", n.self, n.epmdPort, err)
		case <-wait.C:
			lastMu.Lock()
			last := lastErr
			lastMu.Unlock()
			if last == nil {
				return fmt.Errorf("dist: registering %s with EPMD on port %d timed out: EPMD accepted the connection but never answered", n.self, n.epmdPort)
			}
			return fmt.Errorf("dist: registering %s with EPMD on port %d did not succeed in %v; last attempt: %w", n.self, n.epmdPort, n.cfg.HandshakeTimeout+5*time.Second, last)
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		cl := &epmd.Client{Host: n.epmdHost, Port: n.epmdPort, Timeout: n.cfg.HandshakeTimeout}
		reg, err := registerRetrying(ctx, cl, info, n.cfg.HandshakeTimeout+5*time.Second)
		if err != nil {
			return fmt.Errorf("dist: registering %s with EPMD at %s: %w", n.self, n.cfg.EPMD, err)
		}
		n.creation = reg.Creation()
		n.wg.Add(1)
		go n.keepRegistered(cl, info, reg)
		return nil
	}
}

// registerRetrying registers with an explicit EPMD. An EPMD that closes
// the connection unanswered is busy (many nodes of one host starting at
// once pass its per-address limit on pending requests, and it drops the
// oldest), so that is tried again with back-off for up to patience, as the
// in-process keeper does; any other error is final at once.
func registerRetrying(ctx context.Context, cl *epmd.Client, info epmd.NodeInfo, patience time.Duration) (*epmd.Registration, error) {
	deadline := time.Now().Add(patience)
	delay := 20 * time.Millisecond
	for {
		reg, err := cl.Register(ctx, info)
		if err == nil {
			return reg, nil
		}
		dropped := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
		if !dropped || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return nil, err
		}
		t := time.NewTimer(delay + time.Duration(mrand.Int64N(int64(delay))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// keepRegistered re-registers with an explicit EPMD when the registration
// drops, and unregisters on Close.
func (n *Node) keepRegistered(cl *epmd.Client, info epmd.NodeInfo, reg *epmd.Registration) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			reg.Close()
			return
		case <-reg.Done():
		}
		n.log.Warn("dist: lost the EPMD registration; re-registering", "epmd", n.cfg.EPMD)
		for {
			r, err := cl.Register(n.ctx, info)
			if err == nil {
				reg = r
				break
			}
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func randomCreation() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if c := binary.BigEndian.Uint32(b[:]); c >= 4 {
			return c
		}
	}
}

// Self returns this node's name.
func (n *Node) Self() libcluster.Node { return n.self }

// Port returns the distribution listening port.
func (n *Node) Port() int { return n.port }

// Creation returns the creation this node announces to peers and stamps on
// its pids.
func (n *Node) Creation() uint32 { return n.creation }

// Pid returns the pid this node uses as the sender of the messages it sends
// with Send.
func (n *Node) Pid() etf.Pid { return n.pid }

// Nodes returns the nodes connected now, sorted.
func (n *Node) Nodes() []libcluster.Node {
	n.mu.Lock()
	out := make([]libcluster.Node, 0, len(n.conns))
	for p := range n.conns {
		out = append(out, p)
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WatchNodes calls fn for every connection that comes up or goes down, in
// order, from one goroutine (never concurrently), until stop is called;
// once stop has returned fn is not called again. stop must not be called
// from fn.
func (n *Node) WatchNodes(fn func(libcluster.NodeEvent)) (stop func()) {
	return n.ev.Watch(fn)
}

// Connect sets up a connection to peer (resolving its port through EPMD, or
// the fixed port in EPMDNone mode) and returns once it is up. It is
// idempotent, and concurrent calls for one peer share one attempt.
//
// ctx bounds the call: when it ends first, Connect returns an error that
// wraps ctx.Err() and says which step was under way (EPMD lookup, dial,
// handshake) and where, and the attempt is cancelled once no other caller
// waits on it. Config.HandshakeTimeout bounds each step within that.
func (n *Node) Connect(ctx context.Context, peer libcluster.Node) error {
	_, err := n.connect(ctx, peer)
	return err
}

func (n *Node) connect(ctx context.Context, peer libcluster.Node) (*conn, error) {
	if _, err := libcluster.ParseNode(string(peer)); err != nil {
		return nil, fmt.Errorf("dist: connect: %w", err)
	}
	if peer == n.self {
		return nil, nil
	}
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, ErrClosed
		}
		if c := n.conns[peer]; c != nil {
			n.mu.Unlock()
			if !c.isShut() {
				return c, nil
			}
			// Being torn down: it is no connection to report. Wait
			// until it is gone, then set up a new one.
			select {
			case <-c.gone:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("dist: connecting to %s: %w while the previous connection (%s) was still closing", peer, ctx.Err(), c.reason)
			}
		}
		a := n.pending[peer]
		if a == nil {
			actx, cancel := context.WithCancel(n.ctx)
			a = &attempt{done: make(chan struct{}), cancel: cancel, stage: "starting"}
			n.pending[peer] = a
			n.wg.Add(1)
			go n.dial(actx, peer, a)
		}
		a.waiters++
		n.mu.Unlock()
		select {
		case <-a.done:
			n.mu.Lock()
			a.waiters--
			c := n.conns[peer]
			n.mu.Unlock()
			if a.err != nil {
				return nil, a.err
			}
			if c != nil && !c.isShut() {
				return c, nil
			}
			return nil, fmt.Errorf("dist: connection to %s closed right after it came up", peer)
		case <-ctx.Done():
			n.mu.Lock()
			a.waiters--
			stage := a.stage
			if a.waiters == 0 && !a.finished && !a.superseded {
				// Nobody waits any more: stop it, and let the next
				// Connect start afresh.
				n.finishLocked(peer, a, fmt.Errorf("dist: connecting to %s: %w", peer, ctx.Err()))
			}
			n.mu.Unlock()
			return nil, fmt.Errorf("dist: connecting to %s: %w while %s", peer, ctx.Err(), stage)
		}
	}
}

// route returns the connection to node, setting it up if needed: the
// process layer's way to reach another node.
func (n *Node) route(ctx context.Context, node libcluster.Node) (peerLink, error) {
	c, err := n.connect(ctx, node)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return localLink{n}, nil
	}
	return c, nil
}

// existing returns the connection to node if there is one, without
// connecting.
func (n *Node) existing(node libcluster.Node) peerLink {
	if node == n.self {
		return localLink{n}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.conns[node]; c != nil {
		return c
	}
	return nil
}

// isShut reports whether c is being (or has been) torn down.
func (c *conn) isShut() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// setStage records what attempt a is doing, for the error of a caller
// that gives up waiting.
func (n *Node) setStage(a *attempt, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	n.mu.Lock()
	a.stage = s
	n.mu.Unlock()
}

// finish resolves an attempt once; waiters see err.
func (n *Node) finishLocked(peer libcluster.Node, a *attempt, err error) {
	if a == nil || a.finished {
		return
	}
	a.finished = true
	a.err = err
	close(a.done)
	a.cancel()
	if n.pending[peer] == a {
		delete(n.pending, peer)
	}
}

func (n *Node) finish(peer libcluster.Node, a *attempt, err error) {
	n.mu.Lock()
	n.finishLocked(peer, a, err)
	n.mu.Unlock()
}

// resolve returns the TCP address of peer's distribution port.
// a, when set, records the step for Connect's callers.
func (n *Node) resolve(ctx context.Context, peer libcluster.Node, a *attempt) (string, error) {
	host := peer.Host()
	if n.mode == EPMDNone {
		return net.JoinHostPort(host, strconv.Itoa(n.port)), nil
	}
	cl := &epmd.Client{Host: host, Port: n.epmdPort, Timeout: n.cfg.HandshakeTimeout}
	if a != nil {
		n.setStage(a, "waiting for EPMD at %s to give %s's port (no answer yet)", net.JoinHostPort(host, strconv.Itoa(n.epmdPort)), peer)
	}
	info, err := cl.PortPlease(ctx, peer.Name())
	if err != nil {
		return "", fmt.Errorf("dist: looking up %s in EPMD at %s: %w", peer, net.JoinHostPort(host, strconv.Itoa(n.epmdPort)), err)
	}
	if info.HighestVersion != 0 && info.HighestVersion < 6 {
		return "", fmt.Errorf("dist: %s only speaks distribution version %d; OTP 23 or later is required", peer, info.HighestVersion)
	}
	if info.Port <= 0 || info.Port > 65535 {
		return "", fmt.Errorf("dist: EPMD returned the invalid port %d for %s", info.Port, peer)
	}
	return net.JoinHostPort(host, strconv.Itoa(info.Port)), nil
}

// dial runs one outgoing attempt to peer.
func (n *Node) dial(ctx context.Context, peer libcluster.Node, a *attempt) {
	defer n.wg.Done()
	err := n.dialOnce(ctx, peer, a)
	if errors.Is(err, errNok) {
		// The peer's own attempt wins; it arrives through acceptLoop,
		// which resolves a. Give up if it never comes.
		n.setStage(a, "waiting for %s's own simultaneous connection to this node", peer)
		t := time.NewTimer(2 * n.cfg.HandshakeTimeout)
		defer t.Stop()
		select {
		case <-a.done:
			return
		case <-n.ctx.Done():
			n.finish(peer, a, ErrClosed)
			return
		case <-t.C:
			err = fmt.Errorf("dist: %s is connecting to this node at the same time, but its connection did not arrive", peer)
		}
	}
	if err != nil {
		n.mu.Lock()
		if !a.superseded {
			n.finishLocked(peer, a, err)
		}
		n.mu.Unlock()
		if !a.superseded {
			n.log.Debug("dist: connect failed", "peer", string(peer), "err", err)
		}
	}
}

func (n *Node) dialOnce(ctx context.Context, peer libcluster.Node, a *attempt) error {
	rctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	addr, err := n.resolve(rctx, peer, a)
	cancel()
	if err != nil {
		return err
	}
	n.setStage(a, "dialing %s at %s (no answer yet)", peer, addr)
	d := net.Dialer{Timeout: n.cfg.HandshakeTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dist: connecting to %s at %s: %w", peer, addr, err)
	}
	if nc, err = n.dialTLS(ctx, nc, peer, addr); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	n.setStage(a, "in the handshake with %s at %s (no answer yet to the last message)", peer, addr)
	c := newConn(n, nc)
	h := &hsConn{rw: nc, br: c.br, dl: nc, timeout: n.cfg.HandshakeTimeout, len32: n.cfg.TLS != nil}
	res, err := initiate(h, n.hsConfig(), peer, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.conns[peer] == nil
	})
	if !stop() || err != nil {
		nc.Close()
		if err == nil || ctx.Err() != nil {
			return fmt.Errorf("dist: connecting to %s: attempt cancelled", peer)
		}
		return err
	}
	_ = nc.SetDeadline(time.Time{})
	c.peer, c.flags, c.creation, c.initiator = res.peer, res.flags, res.creation, n.self
	n.up(c, a, res.alive)
	return nil
}

func (n *Node) hsConfig() hsConfig {
	return hsConfig{self: string(n.self), creation: n.creation, flags: n.flags, cookie: n.cookie}
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	var delay time.Duration
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			if n.ctx.Err() != nil {
				return
			}
			if temporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				if ok, sum := n.acceptLog.Note(""); ok {
					n.log.Warn("dist: accept failed; retrying (raise the file descriptor limit, ulimit -n, if it says too many open files)",
						"err", err, "failures", sum.Count, "retry_in", delay)
				}
				select {
				case <-time.After(delay):
				case <-n.ctx.Done():
					return
				}
				continue
			}
			n.acceptErr.Store(&acceptFailure{err})
			n.log.Error("dist: accept failed; the node no longer accepts connections", "err", err)
			return
		}
		delay = 0
		host := hostOf(nc.RemoteAddr())
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			nc.Close()
			return
		}
		now := time.Now()
		reason, evict := n.gate.admit(host, now)
		if reason == "" {
			if evict {
				n.closeOldestHandshakeLocked()
			}
			n.handshake[nc] = now
			n.wg.Add(1)
		}
		n.mu.Unlock()
		if evict {
			n.noteRefused("too_many_handshakes: closed the oldest", host)
		}
		if reason != "" {
			nc.Close()
			n.noteRefused(reason, host)
			continue
		}
		go n.acceptOne(nc, host)
	}
}

// noteRefused logs connections refused or closed before the handshake, as a
// rate-limited summary.
func (n *Node) noteRefused(reason, host string) {
	if ok, sum := n.refuseLog.Note(host); ok {
		n.log.Warn("dist: refusing incoming connections before the handshake",
			"reason", reason, "refused_or_closed", sum.Count, "sources", sum.Sources,
			"max_handshakes", n.gate.max, "max_handshakes_per_host", n.gate.perHost)
	}
}

// closeOldestHandshakeLocked closes the incoming connection that has been
// in the handshake longest; its acceptOne then fails and frees its slot.
func (n *Node) closeOldestHandshakeLocked() {
	var oldest net.Conn
	var since time.Time
	for nc, t := range n.handshake {
		if oldest == nil || t.Before(since) {
			oldest, since = nc, t
		}
	}
	if oldest != nil {
		oldest.Close()
	}
}

// temporaryAcceptError reports whether an Accept error is worth retrying:
// the process or system is out of descriptors or buffers, or one pending
// connection failed. Anything else means the listener is broken.
func temporaryAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptFailure wraps the error that stopped the accept loop (atomic.Value
// needs one concrete type).
type acceptFailure struct{ err error }

// Err returns nil while the node accepts connections, and otherwise the
// error that stopped it from accepting: its listener failed for good, and
// peers can no longer connect to it (it may still connect to them). A
// readiness check should report the node not ready then.
func (n *Node) Err() error {
	if f, ok := n.acceptErr.Load().(*acceptFailure); ok {
		return fmt.Errorf("dist: the distribution listener on port %d failed, peers cannot connect: %w", n.port, f.err)
	}
	return nil
}

// Healthy reports whether the node still accepts connections (Err is nil).
func (n *Node) Healthy() bool { return n.Err() == nil }

// hostOf returns the IP address of a remote address, for per-source limits.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// acceptOne runs the handshake of one incoming connection from host. Until
// the peer is authenticated it holds only a small read buffer; the
// connection's buffers and queues are allocated after the handshake.
func (n *Node) acceptOne(nc net.Conn, host string) {
	defer n.wg.Done()
	tnc, ok := n.acceptTLS(nc)
	if !ok {
		// A peer that fails the TLS handshake failed to authenticate, as
		// one with a wrong cookie: it counts toward its back-off.
		n.mu.Lock()
		n.gate.done(host, time.Now(), false, true)
		n.mu.Unlock()
		return
	}
	nc = tnc
	hsbr := bufio.NewReaderSize(nc, handshakeBufferSize)
	h := &hsConn{rw: nc, br: hsbr, dl: nc, timeout: n.cfg.HandshakeTimeout, len32: n.cfg.TLS != nil}
	var superseded *attempt
	res, err := accept(h, n.hsConfig(), func(peer libcluster.Node) string {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.closed || peer == n.self {
			return "not_allowed"
		}
		if n.conns[peer] != nil {
			return "alive"
		}
		if a := n.pending[peer]; a != nil && !a.finished && !a.superseded {
			n.log.Debug("dist: simultaneous connect", "peer", string(peer), "winner", string(max(n.self, peer)))
			if n.self > peer {
				return "nok"
			}
			a.superseded = true
			a.cancel()
			superseded = a
			return "ok_simultaneous"
		}
		return "ok"
	})
	n.mu.Lock()
	delete(n.handshake, nc)
	n.gate.done(host, time.Now(), err == nil, errors.Is(err, ErrBadCookie))
	n.mu.Unlock()
	if err != nil {
		nc.Close()
		if superseded != nil {
			n.finish(res.peer, superseded, err)
		}
		switch {
		case errors.Is(err, errNok):
		case errors.Is(err, ErrBadCookie):
			// Each attempt of a wrong-cookie flood would log a line; log a
			// summary instead.
			if ok, sum := n.cookieLog.Note(host); ok {
				n.log.Warn("dist: incoming connections refused: wrong cookie",
					"attempts", sum.Count, "sources", sum.Sources, "last_remote", nc.RemoteAddr().String(), "last_err", err)
			}
		default:
			n.log.Debug("dist: incoming connection refused", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := newConnAfterHandshake(n, nc, hsbr)
	c.peer, c.flags, c.creation, c.initiator = res.peer, res.flags, res.creation, res.peer
	n.up(c, superseded, res.alive)
}

// up registers an established connection, keeping one per peer: a
// connection the peer confirmed as a replacement ("alive") always wins;
// otherwise the one initiated by the greater node name wins, as both
// sides decide the same way.
func (n *Node) up(c *conn, a *attempt, alive bool) {
	n.mu.Lock()
	if n.closed {
		n.finishLocked(c.peer, a, ErrClosed)
		n.mu.Unlock()
		c.nc.Close()
		return
	}
	old := n.conns[c.peer]
	if old != nil && !alive && old.initiator > c.initiator {
		// Keep the old one.
		n.finishLocked(c.peer, a, nil)
		n.finishLocked(c.peer, n.pending[c.peer], nil)
		n.mu.Unlock()
		c.nc.Close()
		return
	}
	if old != nil {
		delete(n.conns, c.peer)
		old.shut("connection_replaced")
		n.ev.Push(libcluster.NodeEvent{Node: c.peer, Reason: "connection_replaced"})
	}
	n.conns[c.peer] = c
	n.finishLocked(c.peer, a, nil)
	n.finishLocked(c.peer, n.pending[c.peer], nil)
	n.ev.Push(libcluster.NodeEvent{Node: c.peer, Up: true})
	n.wg.Add(2)
	n.mu.Unlock()
	n.log.Debug("dist: node up", "peer", string(c.peer), "flags", fmt.Sprintf("%#x", c.flags), "initiator", string(c.initiator))
	go c.readLoop()
	go c.writeLoop()
}

// down removes c and reports the peer down, if c is still the registered
// connection.
func (n *Node) down(c *conn, reason string) {
	n.mu.Lock()
	if n.conns[c.peer] == c {
		delete(n.conns, c.peer)
		n.ev.Push(libcluster.NodeEvent{Node: c.peer, Reason: reason})
		n.mu.Unlock()
		n.procs.connDown(c)
		n.log.Info("dist: node down", "peer", string(c.peer), "reason", reason)
		return
	}
	n.mu.Unlock()
	n.procs.connDown(c)
}

// Disconnect closes the connection to peer. It returns an error wrapping
// libcluster.ErrNotConnected when there is none.
func (n *Node) Disconnect(ctx context.Context, peer libcluster.Node) error {
	n.mu.Lock()
	c := n.conns[peer]
	n.mu.Unlock()
	if c == nil {
		return fmt.Errorf("dist: disconnect %s: %w", peer, libcluster.ErrNotConnected)
	}
	c.shut("disconnect")
	select {
	case <-c.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes all connections, unregisters the node from EPMD, closes
// every registered name's channel and stops all goroutines.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	conns := make([]*conn, 0, len(n.conns))
	for _, c := range n.conns {
		conns = append(conns, c)
	}
	for nc := range n.handshake {
		nc.Close()
	}
	for p, a := range n.pending {
		n.finishLocked(p, a, ErrClosed)
	}
	n.mu.Unlock()
	n.cancel()
	err := n.ln.Close()
	for _, c := range conns {
		c.shut("shutdown")
	}
	n.wg.Wait()
	n.procs.closeAll()
	n.ev.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("dist: closing the listener: %w", err)
	}
	return nil
}
