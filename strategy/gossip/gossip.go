// Package gossip is libcluster's Cluster.Strategy.Gossip: every node sends
// a small UDP heartbeat carrying its node name to a multicast group (or a
// broadcast address) and reports every other node it hears as seen.
//
// The datagrams are byte-compatible with libcluster 3.x, plain or encrypted
// with its shared secret (AES-256-CBC, key SHA-256(secret)), so Go nodes and
// Elixir nodes find each other on one group. An authenticated mode
// (security: aead) adds what the CBC format lacks: packets cannot be forged
// or replayed, and a cluster name keeps clusters that share a secret apart.
//
// Beyond libcluster, a node that hears a node for the first time answers
// with a heartbeat at once (rate limited), so a new node is known to all
// within milliseconds instead of up to five seconds. Every datagram is
// untrusted: it is read into a bounded buffer, decoded by a small bounded
// decoder, and dropped and counted ([Stats]) when invalid; a bad packet never
// stops the strategy.
//
// Config keys (libcluster's names and defaults, then ours):
//
//	port            UDP port to bind and send to (45892)
//	if_addr         local address to bind ("0.0.0.0"; "::" for an IPv6 group)
//	multicast_addr  group, or the broadcast address with broadcast_only ("233.252.1.32")
//	multicast_if    interface (name or address) to send on and join the group on (unset: the kernel picks, i.e. the default route)
//	multicast_ttl   multicast hop limit (1: this link only)
//	broadcast_only  send to multicast_addr as a broadcast, no multicast options (false)
//	secret          shared secret; enables encryption (unset)
//	security        "cbc" (libcluster compatible, default with a secret) or "aead"
//	cluster         aead: cluster name bound into every packet ("")
//	replay_window   aead: accepted clock distance and duplicate memory (30s)
//	interval        longest random delay between heartbeats (5s)
package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// Defaults, as in libcluster 3.5.
const (
	DefaultPort         = 45892
	DefaultMulticastTTL = 1
	DefaultInterval     = 5 * time.Second
	DefaultReplayWindow = 30 * time.Second
)

// DefaultMulticastAddr is libcluster's default group (since 3.3.0).
var DefaultMulticastAddr = netip.MustParseAddr("233.252.1.32")

// Security selects the datagram format used with a secret.
type Security string

// The formats.
const (
	// SecurityPlain is the unencrypted libcluster heartbeat (no secret).
	SecurityPlain Security = "plain"
	// SecurityCBC is libcluster's encrypted heartbeat: AES-256-CBC with
	// key SHA-256(secret), unauthenticated. It interoperates with Elixir
	// nodes that set the same secret.
	SecurityCBC Security = "cbc"
	// SecurityAEAD is authenticated: AES-256-GCM with a key derived by
	// HKDF-SHA256 from the secret, the cluster name as associated data and
	// a timestamp checked against a replay window. Go nodes only.
	SecurityAEAD Security = "aead"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "gossip",
		Aliases: []string{"Cluster.Strategy.Gossip"},
		Summary: "UDP multicast or broadcast heartbeats (libcluster compatible)",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config says how heartbeats are sent and received. Zero fields take the
// defaults named on them (see [DefaultConfig]); each field's config key is
// in the package documentation.
type Config struct {
	// Port is the UDP port bound and sent to. Default DefaultPort.
	Port int
	// IfAddr is the local address bound. Default 0.0.0.0 (:: for an IPv6
	// group). A unicast address here receives no group traffic on Linux.
	IfAddr netip.Addr
	// MulticastAddr is the group joined and sent to, or the broadcast
	// address when BroadcastOnly. Default DefaultMulticastAddr.
	MulticastAddr netip.Addr
	// MulticastIf is the interface, by name ("eth0") or by one of its
	// addresses ("10.0.0.5", "127.0.0.1"), that multicast is sent on and
	// the group joined on. Empty: the kernel picks (the default route's
	// interface), like libcluster. Required for an IPv6 link-local group.
	MulticastIf string
	// MulticastTTL is the multicast hop limit. 0 means
	// DefaultMulticastTTL (1: the local link only).
	MulticastTTL int
	// BroadcastOnly sends to MulticastAddr as a broadcast and sets no
	// multicast option.
	BroadcastOnly bool
	// Secret, when non-empty, encrypts heartbeats (see Security).
	Secret string
	// Security is the format used with a secret. Default SecurityCBC
	// with a secret, SecurityPlain without.
	Security Security
	// Cluster is bound into every aead packet; nodes with another cluster
	// name drop ours as other_cluster. Default "".
	Cluster string
	// ReplayWindow (aead) is how far a packet's timestamp may be from this
	// node's clock, and how long accepted packets are remembered to drop
	// duplicates. Default DefaultReplayWindow.
	ReplayWindow time.Duration
	// Interval is the longest delay between two heartbeats: the first is
	// sent at once, each next one after a uniformly random 1ms..Interval,
	// like libcluster's 1..5000 ms. Default DefaultInterval.
	Interval time.Duration
}

// DefaultConfig returns the defaults, libcluster's: port 45892, group
// 233.252.1.32, hop limit 1, plain heartbeats at most 5s
// apart (with a secret: cbc, and a 30s replay window for aead).
func DefaultConfig() Config {
	return Config{
		Port: DefaultPort, MulticastAddr: DefaultMulticastAddr,
		MulticastTTL: DefaultMulticastTTL, ReplayWindow: DefaultReplayWindow, Interval: DefaultInterval,
	}
}

// Validate reports the first invalid field, naming its config key; zero
// fields that have a default are valid.
func (c Config) Validate() error {
	_, err := c.settings(libcluster.Node(""), nil)
	return err
}

// Strategy sends heartbeats and reports the nodes it hears as seen. Build
// it with [New].
type Strategy struct {
	c   settings // the config with defaults applied, self and logger
	ctr counters
}

// New builds the strategy from cfg; it fails when cfg is invalid or
// opts.Self is no node name. opts.Self is sent in every heartbeat, and
// heartbeats that carry it (our own, looped back) are ignored;
// opts.Logger receives debug and rate-limited warning records.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	c, err := cfg.settings(opts.Self, opts.Log())
	if err != nil {
		return nil, err
	}
	if _, err := libcluster.ParseNode(string(c.self)); err != nil {
		return nil, fmt.Errorf("gossip: Self is not set to this node's name: %w", err)
	}
	return &Strategy{c: c}, nil
}

// ConfigFromParams decodes libcluster's config keys plus security,
// cluster, replay_window and interval into a Config and validates it.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	s := Config{
		Port:          p.IntRange("port", DefaultPort, 1, 65535),
		MulticastIf:   strings.TrimSpace(p.String("multicast_if", "")),
		MulticastTTL:  p.IntRange("multicast_ttl", DefaultMulticastTTL, 0, 255),
		BroadcastOnly: p.Bool("broadcast_only", false),
		Cluster:       p.String("cluster", ""),
		ReplayWindow:  p.PositiveDuration("replay_window", DefaultReplayWindow),
		Interval:      p.PositiveDuration("interval", DefaultInterval),
	}
	addr := func(key string) netip.Addr {
		v := strings.TrimSpace(p.String(key, ""))
		if v == "" {
			return netip.Addr{}
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			p.Fail(key, "%q is not an IPv4 or IPv6 address; write it as text, e.g. \"233.252.1.32\" or \"ff02::1:32\"", v)
		}
		return a
	}
	s.IfAddr = addr("if_addr")
	s.MulticastAddr = addr("multicast_addr")
	if p.Has("secret") {
		sec := p.String("secret", "")
		if sec == "" {
			p.Fail("secret", "empty; remove the key for plain heartbeats or set the shared secret")
		}
		s.Secret = sec
	}
	if p.Has("security") {
		s.Security = Security(p.Enum("security", string(SecurityCBC), string(SecurityCBC), string(SecurityAEAD)))
	}
	if s.MulticastTTL == 0 && p.Has("multicast_ttl") {
		p.Fail("multicast_ttl", "0 keeps heartbeats on this host; use 1 for the local link")
	}
	return strategy.Checked(p, s)
}

// settings is a Config with defaults applied, and what the runtime gave.
type settings struct {
	self         libcluster.Node
	port         int
	ifAddr       netip.Addr
	group        netip.Addr
	mcIf         string
	ttl          int
	broadcast    bool
	secret       []byte
	security     Security
	cluster      string
	replayWindow time.Duration
	interval     time.Duration
	log          *slog.Logger
	destination  netip.AddrPort
}

// settings applies the defaults to s and checks it: the one place both
// are written.
func (s Config) settings(self libcluster.Node, log *slog.Logger) (settings, error) {
	d := DefaultConfig()
	c := settings{
		self: self, port: s.Port, ifAddr: s.IfAddr, group: s.MulticastAddr,
		mcIf: s.MulticastIf, ttl: s.MulticastTTL, broadcast: s.BroadcastOnly,
		secret: []byte(s.Secret), security: s.Security, cluster: s.Cluster,
		replayWindow: s.ReplayWindow, interval: s.Interval, log: log,
	}
	if c.port == 0 {
		c.port = d.Port
	}
	if !c.group.IsValid() {
		c.group = d.MulticastAddr
	}
	c.group = c.group.Unmap()
	if !c.ifAddr.IsValid() {
		c.ifAddr = netip.IPv4Unspecified()
		if c.group.Is6() {
			c.ifAddr = netip.IPv6Unspecified()
		}
	}
	c.ifAddr = c.ifAddr.Unmap()
	if c.ttl == 0 {
		c.ttl = d.MulticastTTL
	}
	if c.security == "" {
		c.security = SecurityPlain
		if len(c.secret) > 0 {
			c.security = SecurityCBC
		}
	}
	if c.replayWindow <= 0 {
		c.replayWindow = d.ReplayWindow
	}
	if c.interval <= 0 {
		c.interval = d.Interval
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	switch {
	case c.port < 1 || c.port > 65535:
		return c, fmt.Errorf("gossip: port %d out of range; use 1..65535", c.port)
	case c.ttl < 0 || c.ttl > 255:
		return c, fmt.Errorf("gossip: multicast_ttl %d out of range; use 1..255", c.ttl)
	case c.interval < time.Millisecond:
		return c, fmt.Errorf("gossip: interval %v is shorter than 1ms; use e.g. 5s", c.interval)
	case c.ifAddr.Is4() != c.group.Is4():
		return c, fmt.Errorf("gossip: if_addr %s and multicast_addr %s are of different IP families; use both IPv4 or both IPv6", c.ifAddr, c.group)
	case c.group.IsUnspecified():
		return c, fmt.Errorf("gossip: multicast_addr %s is unspecified; use a multicast group such as 233.252.1.32 or a broadcast address", c.group)
	case !c.broadcast && !c.group.IsMulticast():
		return c, fmt.Errorf("gossip: multicast_addr %s is not a multicast group; use one (e.g. 233.252.1.32) or set broadcast_only: true to broadcast to it", c.group)
	case c.broadcast && c.group.Is6():
		return c, fmt.Errorf("gossip: broadcast_only with IPv6 address %s; IPv6 has no broadcast, use a multicast group such as ff02::1:32 with multicast_if", c.group)
	case c.group.Is6() && c.group.IsLinkLocalMulticast() && c.mcIf == "":
		return c, fmt.Errorf("gossip: IPv6 link-local group %s needs multicast_if naming the interface (e.g. eth0) or one of its addresses", c.group)
	case c.security != SecurityPlain && c.security != SecurityCBC && c.security != SecurityAEAD:
		return c, fmt.Errorf("gossip: security %q unknown; use cbc or aead", c.security)
	case c.security != SecurityPlain && len(c.secret) == 0:
		return c, fmt.Errorf("gossip: security %s needs a secret; set secret", c.security)
	case c.security == SecurityPlain && len(c.secret) > 0:
		return c, errors.New("gossip: a secret is set with security plain; use cbc or aead")
	}
	if c.mcIf != "" {
		if _, err := netip.ParseAddr(c.mcIf); err != nil && !validIfName(c.mcIf) {
			return c, fmt.Errorf("gossip: multicast_if %q is neither an IP address nor an interface name", c.mcIf)
		}
	}
	c.destination = netip.AddrPortFrom(c.group, uint16(c.port))
	return c, nil
}

func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r > '~' {
			return false
		}
	}
	return true
}

// Stats returns a snapshot of the strategy's counters.
func (s *Strategy) Stats() Stats { return s.ctr.snapshot() }

// Run opens the socket, sends heartbeats and reports the nodes heard until
// ctx ends. It returns an error at once when the socket cannot be opened; bad datagrams are dropped and counted.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	c := s.c
	plain, err := EncodeHeartbeat(c.self)
	if err != nil {
		return err
	}
	var aead *aeadCodec
	if c.security == SecurityAEAD {
		if aead, err = newAEAD(c.secret, c.cluster); err != nil {
			return fmt.Errorf("gossip: aead setup: %w", err)
		}
	}
	conn, err := openSocket(ctx, c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := &runner{
		s: s, c: c, r: r, conn: conn, plain: plain, aead: aead,
		seen: map[libcluster.Node]time.Time{}, logged: map[netip.Addr]time.Time{},
		replay: map[string]time.Time{}, reply: make(chan struct{}, 1),
	}
	var wg sync.WaitGroup
	wg.Go(func() { run.read(ctx) })
	go func() { <-ctx.Done(); conn.Close() }()
	run.send(ctx)
	cancel()
	wg.Wait()
	return nil
}

type runner struct {
	s     *Strategy
	c     settings
	r     libcluster.Reporter
	conn  *net.UDPConn
	plain []byte
	aead  *aeadCodec
	reply chan struct{}

	mu     sync.Mutex // guards the maps below (reader goroutine only, but kept simple)
	seen   map[libcluster.Node]time.Time
	logged map[netip.Addr]time.Time
	replay map[string]time.Time
}

// Immediate replies are rate limited by a token bucket: a burst of
// replyBurst, then one per replyEvery, so a flood of new (or forged) names
// cannot turn a node into an amplifier.
const (
	replyBurst = 4
	replyEvery = 100 * time.Millisecond
)

// Bounds on per-sender memory, so a flood of forged names cannot grow it.
const (
	maxSeen   = 4096
	maxLogged = 1024
	maxReplay = 1 << 16
)

func (x *runner) packet() ([]byte, error) {
	switch x.c.security {
	case SecurityCBC:
		return SealCBC(x.c.secret, x.plain)
	case SecurityAEAD:
		return x.aead.seal(x.plain, time.Now())
	}
	return x.plain, nil
}

func (x *runner) sendOne(reply bool) {
	pkt, err := x.packet()
	if err == nil {
		_, err = x.conn.WriteToUDPAddrPort(pkt, x.c.destination)
	}
	x.s.ctr.add(func(st *Stats) {
		if err != nil {
			st.SendErrors++
			return
		}
		st.Sent++
		if reply {
			st.Replies++
		}
	})
	if err != nil {
		x.warn(netip.Addr{}, "gossip heartbeat not sent", "to", x.c.destination.String(), "error", err.Error())
		return
	}
	x.c.log.Debug("heartbeat", "to", x.c.destination.String(), "reply", reply)
}

// send runs the heartbeat schedule: one at once, then one after each
// random 1ms..interval delay, plus rate-limited immediate replies.
func (x *runner) send(ctx context.Context) {
	x.sendOne(false)
	next := time.NewTimer(x.nextDelay())
	defer next.Stop()
	tokens, refilled := float64(replyBurst), time.Now()
	var later *time.Timer // a reply waiting for a token
	var laterC <-chan time.Time
	defer func() {
		if later != nil {
			later.Stop()
		}
	}()
	take := func() time.Duration { // 0: a token was taken; else wait that long
		now := time.Now()
		tokens = min(replyBurst, tokens+float64(now.Sub(refilled))/float64(replyEvery))
		refilled = now
		if tokens >= 1 {
			tokens--
			return 0
		}
		return time.Duration((1 - tokens) * float64(replyEvery))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
			x.sendOne(false)
			next.Reset(x.nextDelay())
		case <-x.reply:
			if laterC != nil {
				continue // a reply is already scheduled; it will answer this node too
			}
			if wait := take(); wait > 0 {
				later = time.NewTimer(wait)
				laterC = later.C
				continue
			}
			x.sendOne(true)
		case <-laterC:
			laterC = nil
			if wait := take(); wait > 0 {
				later.Reset(wait)
				laterC = later.C
				continue
			}
			x.sendOne(true)
		}
	}
}

func (x *runner) nextDelay() time.Duration {
	ms := int64(x.c.interval / time.Millisecond)
	return time.Duration(rand.Int64N(ms)+1) * time.Millisecond
}

func (x *runner) read(ctx context.Context) {
	buf := make([]byte, MaxDatagram+1)
	for {
		n, from, err := x.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			x.warn(netip.Addr{}, "gossip read failed", "error", err.Error())
			// A transient error (e.g. ICMP feedback): go on, but do not spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		x.s.ctr.add(func(s *Stats) { s.Received++ })
		if n > MaxDatagram {
			x.dropped(from, dropf(DropOversize, "datagram larger than %d bytes", MaxDatagram))
			continue
		}
		x.handle(ctx, buf[:n], from)
	}
}

func (x *runner) handle(ctx context.Context, pkt []byte, from netip.AddrPort) {
	node, err := x.decode(pkt, time.Now())
	if err != nil {
		x.dropped(from, err)
		return
	}
	if node == x.c.self {
		x.s.ctr.add(func(s *Stats) { s.Own++ })
		return
	}
	x.s.ctr.add(func(s *Stats) { s.Accepted++ })
	now := time.Now()
	x.mu.Lock()
	prev, known := x.seen[node]
	if len(x.seen) >= maxSeen && !known {
		clear(x.seen)
	}
	x.seen[node] = now
	x.mu.Unlock()
	// New, or silent for longer than three heartbeat periods (it was cut
	// off or restarted): answer at once so it learns about us quickly.
	if !known || now.Sub(prev) > 3*x.c.interval {
		select {
		case x.reply <- struct{}{}:
		default:
		}
	}
	x.c.log.Debug("received heartbeat", "node", string(node), "from", from.String())
	if ctx.Err() == nil {
		// A peer that stopped heartbeating and is not connected is
		// forgotten after a few periods instead of being retried forever.
		x.r.Report(libcluster.SeenExpiring([]libcluster.Node{node}, expireAfter(x.c.interval)).
			WithSource("gossip heartbeat from " + from.Addr().String()))
	}
}

// decode turns a datagram into a node name according to the security mode.
func (x *runner) decode(pkt []byte, now time.Time) (libcluster.Node, error) {
	switch x.c.security {
	case SecurityPlain:
		if isAEAD(pkt) {
			return "", dropf(DropFormat, "authenticated heartbeat received without a secret configured")
		}
		return DecodeHeartbeat(pkt)
	case SecurityCBC:
		if isAEAD(pkt) {
			return "", dropf(DropFormat, "aead heartbeat received in cbc mode")
		}
		plain, err := OpenCBC(x.c.secret, pkt)
		if err != nil {
			if strings.HasPrefix(string(pkt), Prefix) {
				return "", dropf(DropFormat, "plain heartbeat received with a secret configured")
			}
			return "", err
		}
		return DecodeHeartbeat(plain)
	default:
		if !isAEAD(pkt) && strings.HasPrefix(string(pkt), Prefix) {
			return "", dropf(DropFormat, "plain heartbeat received in aead mode")
		}
		ts, nonce, plain, err := x.aead.open(pkt)
		if err != nil {
			return "", err
		}
		if d := now.Sub(ts); d > x.c.replayWindow || d < -x.c.replayWindow {
			return "", dropf(DropStale, "timestamp %v away from this node's clock, outside replay_window %v", d.Round(time.Millisecond), x.c.replayWindow)
		}
		node, err := DecodeHeartbeat(plain)
		if err != nil {
			return "", err
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		if _, dup := x.replay[nonce]; dup {
			return "", dropf(DropReplay, "packet already accepted")
		}
		if len(x.replay) >= maxReplay {
			for k, exp := range x.replay {
				if now.After(exp) {
					delete(x.replay, k)
				}
			}
			if len(x.replay) >= maxReplay {
				return "", dropf(DropReplay, "replay memory full")
			}
		}
		// Remember it until its timestamp leaves the window.
		x.replay[nonce] = ts.Add(x.c.replayWindow)
		return node, nil
	}
}

func (x *runner) dropped(from netip.AddrPort, err error) {
	r := reasonOf(err)
	x.s.ctr.drop(r)
	x.warn(from.Addr(), "gossip datagram dropped", "from", from.String(), "reason", string(r), "detail", err.Error())
}

// warn logs at most once per interval per sender address.
func (x *runner) warn(sender netip.Addr, msg string, args ...any) {
	now := time.Now()
	x.mu.Lock()
	last, ok := x.logged[sender]
	if ok && now.Sub(last) < x.c.interval {
		x.mu.Unlock()
		return
	}
	if len(x.logged) >= maxLogged {
		clear(x.logged)
	}
	x.logged[sender] = now
	x.mu.Unlock()
	x.c.log.Warn(msg, args...)
}

// openSocket binds the shared UDP port and applies the multicast or
// broadcast options.
func openSocket(ctx context.Context, c settings) (*net.UDPConn, error) {
	network := "udp4"
	if c.ifAddr.Is6() {
		network = "udp6"
	}
	bind := netip.AddrPortFrom(c.ifAddr, uint16(c.port))
	lc := net.ListenConfig{Control: controlFunc(c.broadcast)}
	pc, err := lc.ListenPacket(ctx, network, bind.String())
	if err != nil {
		return nil, bindError(bind, err)
	}
	conn := pc.(*net.UDPConn)
	if !c.broadcast {
		if err := setupMulticast(conn, c); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func bindError(bind netip.AddrPort, err error) error {
	hint := "check if_addr and port"
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "another program holds the port without SO_REUSEPORT; stop it or choose another port (every node of the cluster must use the same port)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = "if_addr is not an address of this host; use 0.0.0.0 (the default) or one of its addresses"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint = "permission denied; use a port above 1023 or run with the needed privilege"
	}
	return fmt.Errorf("gossip: cannot open UDP socket on %s: %w; %s", bind, err, hint)
}

// findInterface resolves multicast_if, an interface name or one of an
// interface's addresses.
func findInterface(name string) (*net.Interface, error) {
	a, err := netip.ParseAddr(name)
	if err != nil {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("gossip: multicast_if %q: no such interface; use the name of an interface (see ip link) or one of its addresses", name)
		}
		return ifi, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("gossip: multicast_if %q: listing interfaces: %w", name, err)
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Unmap() == a.Unmap() {
				return &ifs[i], nil
			}
		}
	}
	return nil, fmt.Errorf("gossip: multicast_if %s is not an address of any interface on this host; use one of its addresses or an interface name", name)
}

// expireAfter is how long a peer that is neither heard from nor connected
// stays in the desired set: a few heartbeat periods, at least 30 seconds.
func expireAfter(interval time.Duration) time.Duration {
	return max(6*interval, 30*time.Second)
}
