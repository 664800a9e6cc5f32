package memberlist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/nodeevents"
)

var (
	// ErrCannotDisconnect is returned by [Node.Disconnect] for a live
	// member: memberlist cannot drop one member from one node's view.
	ErrCannotDisconnect = errors.New("memberlist cannot drop a live member; it stays until it leaves or its failure detector finds it dead (use the topology's never prune policy with this connector)")
	// ErrClosed is returned by methods of a [Node] that has been closed.
	ErrClosed = errors.New("memberlist: node is closed; start a new one")
)

// Down-event reasons given in [libcluster.NodeEvent.Reason].
const (
	// ReasonLeft: the member announced that it was leaving (Node.Close).
	ReasonLeft = "left"
	// ReasonFailed: the failure detector declared the member dead.
	ReasonFailed = "failed"
)

// NameMismatchError reports that the address a node name maps to is held
// by a memberlist node with another name.
type NameMismatchError struct {
	Want libcluster.Node // the node that was to be connected
	Got  libcluster.Node // the node found at Addr; empty when unknown
	Addr netip.AddrPort  // the address dialled
}

func (e *NameMismatchError) Error() string {
	got := "a node with another name"
	if e.Got != "" {
		got = string(e.Got)
	}
	return fmt.Sprintf("memberlist: %s answers at %s, not %s: check the node name, that its host resolves to that node, and the fleet's port (Config.PeerPort)", got, e.Addr, e.Want)
}

// meta is what every node of this package publishes as its memberlist node
// metadata; the leaving form is published by Close just before the leave.
var (
	metaAlive   = []byte("libcluster/1")
	metaLeaving = []byte("libcluster/1 leaving")
)

// maxSeen bounds the table of members seen; members that went away are
// forgotten first when it fills.
const maxSeen = 8192

// Node is a cluster member on memberlist. It implements
// [libcluster.Connector] and [libcluster.NodeWatcher]. All methods are safe
// for concurrent use.
type Node struct {
	s    settings
	log  *slog.Logger
	ml   *ml.Memberlist
	addr netip.AddrPort // advertised

	leaving atomic.Bool
	closed  atomic.Bool    // set under mu, so that no join starts after Close
	wg      sync.WaitGroup // joins in flight

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	seen  map[libcluster.Node]seenAddr  // members seen, live or gone; guarded by mu
	waits map[libcluster.Node]*peerWait // peers a Connect waits for; guarded by mu

	ev nodeevents.Queue

	tr     *ctxTransport
	ctx    context.Context // ends at shutdown; parent of every join
	cancel context.CancelFunc
	joins  map[netip.AddrPort]*joinCall  // joins in flight, one per address; guarded by mu
	cool   map[netip.AddrPort]coolDown   // addresses whose last join failed; guarded by mu
	wanted map[libcluster.Node]time.Time // peers a Connect failed to find, by last request; guarded by mu
	wake   chan struct{}                 // nudges the sync loop when wanted gains a peer
	slots  chan struct{}                 // join slots held by Connects; see joinSlots
	joined time.Time                     // when the last join succeeded; guarded by mu
}

type seenAddr struct {
	addr  netip.AddrPort
	alive bool
}

// Start validates cfg, binds the UDP and TCP listeners and starts the
// memberlist protocol. The node is alone until Connect joins it to a peer
// (or a peer joins it). ctx bounds only the start itself; the node runs
// until Close.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := check(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		s:      s,
		log:    s.log.With("node", string(s.self)),
		seen:   map[libcluster.Node]seenAddr{},
		waits:  map[libcluster.Node]*peerWait{},
		joins:  map[netip.AddrPort]*joinCall{},
		cool:   map[netip.AddrPort]coolDown{},
		wanted: map[libcluster.Node]time.Time{},
		wake:   make(chan struct{}, 1),
		slots:  make(chan struct{}, joinSlots),
	}
	c := s.mlConfig(&delegate{n: n}, &n.closed)
	startErr := func(err error) error {
		return fmt.Errorf("memberlist: start %s on %s: %w (pick a free port, or an address of this machine)",
			s.self, net.JoinHostPort(c.BindAddr, fmt.Sprint(s.bindPort)), err)
	}
	if len(c.SecretKey) > 0 && c.Keyring == nil {
		// Made here rather than by memberlist's Create, so that the repeat
		// filter, which starts first, shares it.
		kr, err := ml.NewKeyring(nil, c.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("memberlist: start %s: secret key: %w", s.self, err)
		}
		c.Keyring = kr
	}
	inner, ours := c.Transport, c.Transport == nil
	if ours {
		nt, err := netTransport(c, c.Logger)
		if err != nil {
			return nil, startErr(fmt.Errorf("could not set up network transport: %w", err))
		}
		inner = nt
	}
	var rf *repeatFilter
	if !s.keepRepeats {
		var kr *ml.Keyring
		if c.EncryptionEnabled() {
			kr = c.Keyring
		}
		rf = newRepeatFilter(c.Label, kr, c.GossipInterval)
	}
	n.tr = newCtxTransport(inner, rf)
	c.Transport = n.tr
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.ev.Start()
	m, err := ml.Create(c)
	if err != nil {
		n.cancel()
		n.ev.Close()
		n.tr.stop()
		if ours {
			_ = inner.Shutdown()
		}
		return nil, startErr(err)
	}
	n.ml = m
	// Nothing else knows this node yet, so its own entry is not changing.
	ln := m.LocalNode()
	a, _ := netip.AddrFromSlice(ln.Addr)
	n.addr = netip.AddrPortFrom(a.Unmap(), ln.Port)
	if n.s.peerPort == 0 {
		n.s.peerPort = c.BindPort // memberlist stores the port it bound
	}
	n.wg.Add(1)
	go n.syncLoop()
	return n, nil
}

// Self returns this node's name.
func (n *Node) Self() libcluster.Node { return n.s.self }

// Addr returns the address this node advertises to its peers.
func (n *Node) Addr() netip.AddrPort { return n.addr }

// PeerPort returns the port dialled to join nodes not seen yet.
func (n *Node) PeerPort() int { return n.s.peerPort }

// Memberlist returns the underlying memberlist, for what this package does
// not wrap (health score, member metadata, ...). Do not call Leave or
// Shutdown on it; use Close.
func (n *Node) Memberlist() *ml.Memberlist { return n.ml }

// Nodes returns the live members (alive or suspected), without this node.
func (n *Node) Nodes() []libcluster.Node {
	if n.closed.Load() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []libcluster.Node
	for name, sa := range n.seen {
		if sa.alive {
			out = append(out, name)
		}
	}
	return out
}

// The membership view below is kept from memberlist's join, leave and
// update callbacks, which run under memberlist's node lock: the *ml.Node
// values its Members method returns are read there without that lock and
// race with its updates.

func (n *Node) isMember(peer libcluster.Node) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seen[peer].alive
}

// memberAt returns the live member advertising addr, or "".
func (n *Node) memberAt(addr netip.AddrPort) libcluster.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, sa := range n.seen {
		if sa.alive && sa.addr == addr {
			return name
		}
	}
	return ""
}

// WatchNodes calls fn for every member that joins (up) or goes away (down,
// with reason "left" or "failed") until stop is called. Events come in
// order from one goroutine; memberlist's goroutines never wait for fn.
func (n *Node) WatchNodes(fn func(libcluster.NodeEvent)) (stop func()) {
	return n.ev.Watch(fn)
}

// Connect joins peer's cluster, or returns nil at once when peer is already
// a live member. It exchanges state over TCP with the address peer
// advertised when it was last seen, else with host:PeerPort for each
// address its host resolves to; when peer is still not a live member after
// that, the node keeps asking random live members in the background (see
// wantTTL). When the
// node found at peer's address has another name, Connect returns a
// [*NameMismatchError]; the two clusters have merged all the same
// (memberlist merges on any contact).
//
// Connect returns when ctx ends, and so does its join: the TCP exchange is
// bounded by ctx (dialled within its deadline, closed when it ends). Calls
// that need the same address at the same time share one exchange, so
// retries never pile up on a seed; an address whose exchange failed is not
// dialled again for a short back-off, randomised so that a herd of nodes
// refused by one seed comes back spread out. A Connect to a peer listed as
// failed or left first waits a random time, up to 25 ms per live member,
// for gossip to bring the peer back, so that a whole cluster does not join
// one member at once (see herdSpread).
func (n *Node) Connect(ctx context.Context, peer libcluster.Node) error {
	if peer == n.s.self {
		return nil
	}
	if _, err := libcluster.ParseNode(string(peer)); err != nil {
		return fmt.Errorf("memberlist: %w: %w", libcluster.ErrIgnored, err)
	}
	if n.closed.Load() {
		return ErrClosed
	}
	if n.isMember(peer) {
		return nil
	}
	if n.spread(ctx, peer) {
		return nil
	}
	if ctx.Err() != nil {
		n.want(peer)
		return fmt.Errorf("memberlist: connect %s: it is listed as gone; waited for it to rejoin by gossip before joining it directly: %w", peer, context.Cause(ctx))
	}
	cands, err := n.candidates(ctx, peer)
	if err != nil {
		return err
	}
	var errs []error
	var mismatch *NameMismatchError
	for _, c := range cands {
		if ctx.Err() != nil {
			break
		}
		release, ok := func() (func(), bool) {
			n.mu.Lock()
			shared := n.joins[c] != nil
			n.mu.Unlock()
			if shared { // joining there already: waiting for that exchange costs nothing
				return func() {}, true
			}
			return n.joinSlot(ctx, peer)
		}()
		if !ok {
			if n.isMember(peer) {
				return nil
			}
			break // ctx ended
		}
		err := n.joinShared(ctx, c)
		release()
		if n.isMember(peer) {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			errs = append(errs, err)
			continue
		}
		if got := n.memberAt(c); got != "" {
			mismatch = &NameMismatchError{Want: peer, Got: got, Addr: c}
			continue
		}
		if n.waitMember(ctx, peer, settle) {
			return nil
		}
		errs = append(errs, fmt.Errorf("joined at %s, but %s is not listed as a live member after %v (is it leaving?)", c, peer, settle))
	}
	// Not found where its name points (typically a seed, when a fleet shares
	// one port on a host): the sync loop keeps asking random live members.
	n.want(peer)
	switch {
	case mismatch != nil && len(cands) == 1:
		return mismatch
	case mismatch != nil:
		errs = append(errs, mismatch)
	}
	if ctx.Err() != nil {
		errs = append(errs, context.Cause(ctx))
	}
	return fmt.Errorf("memberlist: connect %s: %w", peer, errList(errs))
}

// Herd spreading: when a member is declared failed (often falsely, by a
// starved host) or leaves, every other member's topology still lists it
// and Connects to it at once. Each of those joins makes it exchange its
// full state; 199 of them kept a member that 200 processes had declared
// failed too busy to refute, and the others declared more members failed
// the same way (docs/benchmarks.md). So a Connect to a peer listed as gone
// first waits a random time of up to herdSpread per live member, and
// stops waiting when the peer is listed alive again (it rejoined, or
// refuted, and gossip brought the news). The joins at one peer then come
// at about one per herdSpread however large the cluster, and the first
// after about herdSpread: a restarted member or a healed partition still
// merges at once.
const herdSpread = 25 * time.Millisecond

// spread waits as described at herdSpread when peer is listed as gone
// and other members are live. It reports whether peer is a live member.
func (n *Node) spread(ctx context.Context, peer libcluster.Node) bool {
	n.mu.Lock()
	sa, listed := n.seen[peer]
	live := 0
	if listed && !sa.alive {
		live = n.liveLocked()
	}
	n.mu.Unlock()
	if !listed || sa.alive || live == 0 {
		return sa.alive
	}
	return n.waitMember(ctx, peer, rand.N(time.Duration(live)*herdSpread))
}

// candidates lists the addresses to try for peer, best first.
func (n *Node) candidates(ctx context.Context, peer libcluster.Node) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	n.mu.Lock()
	if sa, ok := n.seen[peer]; ok && sa.addr.IsValid() {
		out = append(out, sa.addr)
	}
	n.mu.Unlock()
	port := uint16(n.s.peerPort)
	if a, ok := peer.Addr(); ok {
		out = append(out, netip.AddrPortFrom(a.Unmap(), port))
	} else {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", peer.Host())
		if err != nil && len(out) == 0 {
			return nil, fmt.Errorf("memberlist: connect %s: cannot resolve host %q: %w (check DNS, or name nodes by IP address)", peer, peer.Host(), err)
		}
		for _, a := range addrs {
			out = append(out, netip.AddrPortFrom(a.Unmap(), port))
		}
	}
	// The learned address usually equals a resolved one: drop repeats.
	uniq := out[:0]
	for _, a := range out {
		if a != n.addr && !slices.Contains(uniq, a) { // never join ourselves
			uniq = append(uniq, a)
		}
	}
	out = uniq
	if len(out) > 8 {
		out = out[:8]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("memberlist: connect %s: it maps to this node's own address %s; check the node names and Config.PeerPort", peer, n.addr)
	}
	return out, nil
}

// Join slots: a node runs one join at a time for its Connects, and a
// Connect waiting for the slot returns as soon as its peer is listed (a
// Connect whose address is being joined already shares that exchange
// without a slot). One
// push/pull exchange carries the whole member list, so one join usually
// brings in every peer the other side knows, and the Connects that waited
// skip their own. Without the bound a fleet started at once, each node
// connecting to its whole list (a topology runs 16 connects in parallel),
// makes N×16 full-state exchanges at the same time; even four at a time
// split a 200-member rollout into many small clusters whose merges flood
// gossip until starved members are declared failed (docs/benchmarks.md).
// The slot is held for the whole join, which its Connect's ctx bounds: a
// hung or black-holed peer delays the others by up to the topology's
// connect timeout, once, before its failure puts the address in back-off.
// (Giving the slot up after a second instead let joins slowed by a loaded
// machine overlap again, and the 200-member rollout failed.)
//
// For joinQuiet after a join succeeded, a Connect whose peer is not listed
// waits for gossip before it starts another: the node is in a cluster now,
// and what that cluster knows reaches it within a few gossip rounds; only
// a peer still missing then (another partition, or not up yet) is joined.
// (Stretching it by a second per 32 live members, as the sync loop's
// interval is, cut the joins at 1,000 members but slowed 300 from about
// 4 s to 8-10 s: there the joins, not gossip, bring the last members.)
const (
	joinSlots = 1
	joinQuiet = time.Second
)

// joinSlot waits for joinQuiet to pass and a join slot to free, until
// peer is a live member or ctx ends, whichever comes first. ok reports
// whether it got one; release gives it back.
func (n *Node) joinSlot(ctx context.Context, peer libcluster.Node) (release func(), ok bool) {
	var quiet *time.Timer
	defer func() {
		if quiet != nil {
			quiet.Stop()
		}
	}()
	for {
		alive, changed, done := n.peerState(peer)
		n.mu.Lock()
		wait := time.Until(n.joined.Add(joinQuiet))
		n.mu.Unlock()
		if alive {
			done()
			return nil, false
		}
		if wait > 0 {
			if quiet == nil {
				quiet = time.NewTimer(wait)
			} else {
				quiet.Reset(wait)
			}
			select {
			case <-quiet.C:
			case <-changed:
			case <-ctx.Done():
				done()
				return nil, false
			}
			done()
			continue
		}
		select {
		case n.slots <- struct{}{}:
			done()
			if n.isMember(peer) || ctx.Err() != nil { // listed, or given up, while we waited
				<-n.slots
				return nil, false
			}
			return func() { <-n.slots }, true
		case <-changed:
			done()
		case <-ctx.Done():
			done()
			return nil, false
		}
	}
}

// peerWait is a channel closed when one peer's entry in Node.seen
// changes, shared by the goroutines waiting for that peer. While a fleet
// forms, each node learns every member and has a Connect waiting for each
// of up to Parallelism members; one channel for any change woke all of
// them for each member learned, millions of wake-ups across a fleet of
// 1,000 in one process.
type peerWait struct {
	ch   chan struct{}
	refs int // goroutines waiting; guarded by Node.mu
}

// peerState reports whether peer is a live member, and returns a channel
// closed when its entry next changes; the caller calls done once it stops
// waiting on the channel.
func (n *Node) peerState(peer libcluster.Node) (alive bool, changed <-chan struct{}, done func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.waits[peer]
	if w == nil {
		w = &peerWait{ch: make(chan struct{})}
		n.waits[peer] = w
	}
	w.refs++
	return n.seen[peer].alive, w.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if w.refs--; w.refs == 0 && n.waits[peer] == w {
			delete(n.waits, peer)
		}
	}
}

// errList reads as one line, "first; second", and unwraps to every error.
type errList []error

func (l errList) Error() string {
	var b strings.Builder
	for i, err := range l {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (l errList) Unwrap() []error { return l }

// Missing peers: a peer a Connect could not find is kept for wantTTL after
// the last Connect that asked for it. While any is kept, the node exchanges
// state with one random live member every syncEvery (randomised ±50 %,
// stretched by one step per 32 live members, doubled after each fruitless
// round, at most syncMax), so that a
// member that missed the gossip about a late joiner learns it within about
// a second instead of at memberlist's periodic exchange (30 s, doubled and
// more above 32 members).
const (
	wantTTL   = time.Minute
	syncEvery = time.Second
	syncMax   = 10 * time.Second
)

// want records that a Connect could not find peer.
func (n *Node) want(peer libcluster.Node) {
	n.mu.Lock()
	_, known := n.wanted[peer]
	if known || len(n.wanted) < maxSeen {
		n.wanted[peer] = time.Now()
	}
	n.mu.Unlock()
	if known {
		return
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// missing reports whether a wanted peer is still missing, forgetting
// those not asked for within wantTTL, and how many members are live.
func (n *Node) missing() (bool, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p, at := range n.wanted {
		if time.Since(at) > wantTTL || n.seen[p].alive {
			delete(n.wanted, p)
		}
	}
	return len(n.wanted) > 0, n.liveLocked()
}

// liveLocked counts the live members seen; n.mu must be held.
func (n *Node) liveLocked() int {
	live := 0
	for _, sa := range n.seen {
		if sa.alive {
			live++
		}
	}
	return live
}

// syncLoop exchanges state with a random live member while peers are
// missing; see wantTTL. Each exchange that leaves a peer missing doubles
// the wait before the next, up to syncMax; a newly wanted peer resets it,
// so a peer that is down for good costs little.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		}
		for rounds := 0; ; rounds++ {
			miss, live := n.missing()
			if !miss {
				break
			}
			d := min(syncEvery*time.Duration(1+live/32)<<min(rounds, 6), syncMax)
			t.Reset(d/2 + rand.N(d))
			select {
			case <-n.ctx.Done():
				return
			case <-n.wake:
				rounds = -1
				continue
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(n.ctx, max(d, 2*time.Second))
			_ = n.joinShared(ctx, relay)
			cancel()
		}
	}
}

// relay is the key of the shared exchange with a random live member.
var relay netip.AddrPort

// joinCall is a join in flight to one address, shared by every Connect
// that needs that address meanwhile.
type joinCall struct {
	done    chan struct{}
	err     error // set before done is closed
	waiters int   // guarded by Node.mu
	cancel  context.CancelFunc
}

// coolDown is an address's back-off after a failed join.
type coolDown struct {
	failures int
	until    time.Time
	err      error
}

// Back-off of an address after failed joins: attempt k waits a random time
// between half and all of coolBase·2^(k-1), at most coolMax. Variables for
// tests.
var (
	coolBase = 200 * time.Millisecond
	coolMax  = 5 * time.Second
)

func coolFor(failures int) time.Duration {
	d := coolBase << min(failures-1, 10)
	d = min(d, coolMax)
	return d/2 + rand.N(d/2+1)
}

// joinShared runs a join at addr (or, for relay, with a random live
// member), or waits for the one already running there, until ctx ends.
// The join is cancelled when every caller waiting for it has gone.
func (n *Node) joinShared(ctx context.Context, addr netip.AddrPort) error {
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		return ErrClosed
	}
	if cd, ok := n.cool[addr]; ok && time.Now().Before(cd.until) {
		n.mu.Unlock()
		return fmt.Errorf("%w (not retried for another %v)", cd.err, time.Until(cd.until).Round(time.Millisecond))
	}
	c := n.joins[addr]
	if c == nil {
		jctx, cancel := context.WithCancel(n.ctx)
		c = &joinCall{done: make(chan struct{}), cancel: cancel}
		n.joins[addr] = c
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			err := n.joinOnce(jctx, addr)
			cancelled := jctx.Err() != nil
			cancel()
			n.mu.Lock()
			if n.joins[addr] == c {
				delete(n.joins, addr)
			}
			switch {
			case err == nil:
				delete(n.cool, addr)
				n.joined = time.Now()
			case !cancelled:
				cd := n.cool[addr]
				cd.failures++
				cd.until, cd.err = time.Now().Add(coolFor(cd.failures)), err
				n.cool[addr] = cd
				if len(n.cool) > maxSeen { // bounded: forget the table rather than grow
					clear(n.cool)
				}
			}
			c.err = err
			n.mu.Unlock()
			close(c.done)
		}()
	}
	c.waiters++
	n.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		n.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
			if n.joins[addr] == c {
				delete(n.joins, addr) // a later caller starts afresh
			}
		}
		n.mu.Unlock()
		return fmt.Errorf("join at %s: %w", addrName(addr), context.Cause(ctx))
	}
}

func addrName(a netip.AddrPort) string {
	if a == relay {
		return "a live member"
	}
	return a.String()
}

// joinOnce exchanges state with addr (for relay: a random live member),
// its TCP connection bounded by ctx.
func (n *Node) joinOnce(ctx context.Context, addr netip.AddrPort) error {
	if addr == relay {
		if addr = n.randomMember(); !addr.IsValid() {
			return errors.New("no other live member to ask")
		}
	}
	unbind := n.tr.bind(addr.String(), ctx)
	defer unbind()
	if _, err := n.ml.Join([]string{addr.String()}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("join at %s: %w", addr, context.Cause(ctx))
		}
		return fmt.Errorf("join at %s: %w; check that it runs, listens on that port (TCP and UDP) and uses the same SecretKey", addr, oneLine{err})
	}
	return nil
}

// randomMember returns the advertised address of a random live member.
func (n *Node) randomMember() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pick netip.AddrPort
	k := 0
	for _, sa := range n.seen { // reservoir sampling over the live members
		if sa.alive && sa.addr.IsValid() && sa.addr != n.addr {
			k++
			if rand.N(k) == 0 {
				pick = sa.addr
			}
		}
	}
	return pick
}

// settle bounds how long a join waits for the peer to show up as a live
// member: a node that restarted under its old name is listed dead until
// its refutation reaches us by gossip, an instant after the join.
const settle = 2 * time.Second

// waitMember waits until peer is a live member, at most d or until ctx
// ends, and reports whether it is.
func (n *Node) waitMember(ctx context.Context, peer libcluster.Node, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		alive, changed, done := n.peerState(peer)
		if alive {
			done()
			return true
		}
		select {
		case <-changed:
			done()
		case <-t.C:
			done()
			return false
		case <-ctx.Done():
			done()
			return false
		}
	}
}

// Disconnect cannot remove a live member: memberlist has no way to drop one
// member from one node's view. It returns an error wrapping
// [libcluster.ErrNotConnected] when peer is not a live member, and
// [ErrCannotDisconnect] when it is. A topology's prune therefore has no
// effect here; members go away by leaving or by failing.
func (n *Node) Disconnect(_ context.Context, peer libcluster.Node) error {
	if n.closed.Load() || !n.isMember(peer) || peer == n.s.self {
		return fmt.Errorf("memberlist: disconnect %s: %w", peer, libcluster.ErrNotConnected)
	}
	return fmt.Errorf("memberlist: disconnect %s: %w", peer, ErrCannotDisconnect)
}

// Close leaves the cluster gracefully and shuts the node down: it announces
// that it is leaving (so peers report it down with reason "left"), gossips
// the leave, waiting at most Config.LeaveTimeout, then stops listening.
// It returns an error when the leave could not be gossiped in time; the
// node is closed either way, and peers then find it failed. Close is safe to
// call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed.Store(true)
		n.mu.Unlock()
		start := time.Now()
		n.leaving.Store(true)
		var errs []error
		// Publish the leaving mark first, so that it reaches peers before the
		// leave itself (a later leave message replaces a queued update).
		if err := n.ml.UpdateNode(n.s.leaveTimeout / 2); err != nil {
			errs = append(errs, fmt.Errorf("announce leaving: %w", err))
		}
		if err := n.ml.Leave(max(n.s.leaveTimeout-time.Since(start), 100*time.Millisecond)); err != nil {
			errs = append(errs, fmt.Errorf("leave: %w", err))
		}
		n.shutdown()
		if len(errs) > 0 {
			n.closeErr = fmt.Errorf("memberlist: close %s: %w (peers may report it failed instead of left)", n.s.self, errors.Join(errs...))
		}
	})
	return n.closeErr
}

// Kill stops the node without leaving, as a crash would: peers find it
// dead through their failure detector. It is for tests and fault-injection
// harnesses; use Close to stop a node. After Kill, Close does nothing.
func (n *Node) Kill() { n.closeOnce.Do(n.shutdown) }

// shutdown stops the node without leaving, as a crash would.
func (n *Node) shutdown() {
	n.mu.Lock()
	n.closed.Store(true)
	n.mu.Unlock()
	n.cancel()
	if err := n.ml.Shutdown(); err != nil {
		n.log.Warn("memberlist shutdown", "error", err)
	}
	n.wg.Wait()
	n.ev.Close()
}

// delegate receives memberlist's callbacks. They run on memberlist's
// goroutines, some with its node lock held: they must not block and must
// not call back into the memberlist.
type delegate struct{ n *Node }

// NodeMeta publishes the metadata mark (alive or leaving).
func (d *delegate) NodeMeta(limit int) []byte {
	m := metaAlive
	if d.n.leaving.Load() {
		m = metaLeaving
	}
	if len(m) > limit {
		return nil
	}
	return slices.Clone(m)
}

// NotifyMsg ignores user messages; this package sends none.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to broadcast.
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState has no state to push.
func (d *delegate) LocalState(bool) []byte { return nil }

// MergeRemoteState ignores the remote state.
func (d *delegate) MergeRemoteState([]byte, bool) {}

// NotifyAlive rejects members whose names are not node names, so that
// every member this package reports is a valid libcluster.Node.
func (d *delegate) NotifyAlive(peer *ml.Node) error {
	if _, err := libcluster.ParseNode(peer.Name); err != nil {
		return fmt.Errorf("member name is not a libcluster node name: %w", err)
	}
	return nil
}

// NotifyJoin reports a member up and learns its address.
func (d *delegate) NotifyJoin(peer *ml.Node) {
	name := libcluster.Node(peer.Name)
	if name == d.n.s.self {
		return
	}
	d.n.learn(peer, true)
	d.n.ev.Push(libcluster.NodeEvent{Node: name, Up: true})
}

// NotifyLeave reports a member down: "left" when it had published the
// leaving mark, "failed" otherwise.
func (d *delegate) NotifyLeave(peer *ml.Node) {
	name := libcluster.Node(peer.Name)
	if name == d.n.s.self {
		return
	}
	d.n.learn(peer, false)
	reason := ReasonFailed
	if bytes.Equal(peer.Meta, metaLeaving) {
		reason = ReasonLeft
	}
	d.n.ev.Push(libcluster.NodeEvent{Node: name, Reason: reason})
}

// NotifyUpdate learns a changed address; it is not an up or down event.
func (d *delegate) NotifyUpdate(peer *ml.Node) {
	if libcluster.Node(peer.Name) != d.n.s.self {
		d.n.learn(peer, true)
	}
}

// learn records whether a member is live and the address it advertises,
// for reconnecting it later. It runs under memberlist's node lock.
func (n *Node) learn(peer *ml.Node, alive bool) {
	var addr netip.AddrPort
	if a, ok := netip.AddrFromSlice(peer.Addr); ok && peer.Port != 0 {
		addr = netip.AddrPortFrom(a.Unmap(), peer.Port)
	}
	name := libcluster.Node(peer.Name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, known := n.seen[name]; !known && len(n.seen) >= maxSeen {
		for k, v := range n.seen { // forget members that are gone
			if !v.alive {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= maxSeen && !alive {
			return
		}
	}
	n.seen[name] = seenAddr{addr: addr, alive: alive}
	if alive {
		delete(n.wanted, name)
	}
	if w := n.waits[name]; w != nil {
		close(w.ch)
		delete(n.waits, name)
	}
}

// oneLine wraps an error whose text spans lines (memberlist's multierror
// lists) so that it reads as one line in logs.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	s := strings.Join(strings.Fields(e.err.Error()), " ")
	return strings.TrimPrefix(strings.TrimPrefix(s, "1 error occurred: "), "* ")
}

func (e oneLine) Unwrap() error { return e.err }

// RepeatsDropped returns how many repeated alive messages this node dropped
// before memberlist decoded them (see [Tuning.RepeatFilter]).
func (n *Node) RepeatsDropped() uint64 { return n.tr.repeatsDropped() }
