package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// DefaultScope is the scope Erlang's kernel starts when configured with
// start_pg (pg:join/2 and pg:get_members/1 use it).
const DefaultScope = "pg"

// DefaultSendTimeout bounds each message a scope sends to a peer.
const DefaultSendTimeout = 5 * time.Second

var (
	// ErrNotJoined is returned by Leave when none of the mailboxes was a
	// member of the group (pg:leave's not_joined).
	ErrNotJoined = errors.New("pg: not joined")
	// ErrClosed is returned by the operations of a closed Scope.
	ErrClosed = errors.New("pg: scope closed")
)

// Message atoms of pg's protocol.
var (
	atomDiscover = etf.Atom("discover")
	atomSync     = etf.Atom("sync")
	atomJoin     = etf.Atom("join")
	atomLeave    = etf.Atom("leave")
	atomGenCast  = etf.Atom("$gen_cast")
)

// Options tune a Scope. The zero value is ready to use.
type Options struct {
	// SendTimeout bounds each membership message sent to a peer; default
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// Rediscover is how often the scope sends discover again to each
	// connected node where it knows no peer scope process; default
	// DefaultRediscover, negative for never. Erlang's pg announces a scope
	// it starts only to visible nodes, so without this a hidden Go node
	// would not find a scope started (or restarted) on a node after the
	// connection came up.
	Rediscover time.Duration
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultRediscover is the default Options.Rediscover.
const DefaultRediscover = 5 * time.Second

// Scope is one pg scope served by a Go node: a process registered under
// the scope's name, speaking pg's protocol with the scope processes of the
// same name on the other nodes. Go mailboxes join and leave its groups,
// and it keeps the cluster-wide view of every group's members. Its methods
// are safe for concurrent use.
type Scope struct {
	n           *erldist.Node
	name        string
	mb          *erldist.Mailbox
	log         *slog.Logger
	sendTimeout time.Duration
	rediscover  time.Duration

	mu     sync.RWMutex
	local  termMap[[]etf.Pid]   // group -> local members (a pid once per join)
	peers  map[etf.Pid]*peer    // remote scope process -> its members
	joined map[etf.Pid]*joinRec // local member -> its groups, once per join
	closed bool

	cmds      chan func()
	evMu      sync.Mutex
	evq       []libcluster.NodeEvent
	evSig     chan struct{}
	up        map[libcluster.Node]bool // loop only: connected nodes
	stopWatch func()
	quit      chan struct{}
	done      chan struct{}
	ignored   atomic.Uint64
}

type peer struct {
	ref    etf.Ref
	groups termMap[[]etf.Pid]
}

type joinRec struct {
	groups []etf.Term
	stop   chan struct{} // closes the goroutine watching the mailbox
}

// Start starts the scope name ("pg" for DefaultScope) on node n: it
// registers a mailbox under name, and discovers the scope's processes on
// every connected node and on every node that connects later, as pg does.
// The discovery is started from the Go side, so it works for a hidden
// node, which Erlang's pg never discovers by itself. Close the scope when
// done.
func Start(n *erldist.Node, name string, opts Options) (*Scope, error) {
	if name == "" {
		return nil, errors.New("pg: empty scope name; use pg.DefaultScope for Erlang's default scope")
	}
	mb, err := n.NewMailbox(name)
	if err != nil {
		return nil, fmt.Errorf("pg: starting scope %s: %w", name, err)
	}
	s := &Scope{
		n: n, name: name, mb: mb, log: opts.Logger, sendTimeout: opts.SendTimeout,
		peers: map[etf.Pid]*peer{}, joined: map[etf.Pid]*joinRec{},
		cmds: make(chan func()), evSig: make(chan struct{}, 1),
		up: map[libcluster.Node]bool{}, quit: make(chan struct{}), done: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("scope", name)
	if s.sendTimeout <= 0 {
		s.sendTimeout = DefaultSendTimeout
	}
	switch s.rediscover = opts.Rediscover; {
	case s.rediscover == 0:
		s.rediscover = DefaultRediscover
	case s.rediscover < 0:
		s.rediscover = 0
	}
	// Watch first, then list: a node that comes up in between is seen
	// twice, which is harmless (discover is idempotent).
	s.stopWatch = n.WatchNodes(func(ev libcluster.NodeEvent) {
		s.evMu.Lock()
		s.evq = append(s.evq, ev)
		s.evMu.Unlock()
		select {
		case s.evSig <- struct{}{}:
		default:
		}
	})
	initial := n.Nodes()
	go s.loop(initial)
	return s, nil
}

// Name returns the scope's name.
func (s *Scope) Name() string { return s.name }

// Pid returns the pid of the scope's process.
func (s *Scope) Pid() etf.Pid { return s.mb.Pid() }

// Ignored returns how many incoming messages the scope ignored because
// they were not part of pg's protocol or came from an unknown peer.
func (s *Scope) Ignored() uint64 { return s.ignored.Load() }

// Join makes the mailboxes members of group (any term, as in pg), once
// more each: a mailbox that joins twice must leave twice, as in pg. The
// mailboxes must belong to this scope's node. A mailbox that closes
// leaves all its groups. Join returns once the local view is updated and
// the update is queued to every peer.
func (s *Scope) Join(ctx context.Context, group etf.Term, mbs ...*erldist.Mailbox) error {
	if err := s.checkArgs(group, mbs); err != nil {
		return err
	}
	return s.do(ctx, func() error {
		pids := make([]etf.Pid, len(mbs))
		s.mu.Lock()
		for i, m := range mbs {
			pid := m.Pid()
			pids[i] = pid
			rec := s.joined[pid]
			if rec == nil {
				rec = &joinRec{stop: make(chan struct{})}
				s.joined[pid] = rec
				go s.watchMailbox(m, rec.stop)
			}
			rec.groups = append(rec.groups, group)
		}
		cur, _ := s.local.get(group)
		s.local.set(group, append(slices.Clone(pids), cur...))
		s.mu.Unlock()
		s.toPeers(etf.Tuple{atomJoin, s.mb.Pid(), group, pidList(pids)})
		return nil
	})
}

// Leave removes one membership of each mailbox in group. It returns
// ErrNotJoined when none of them was a member.
func (s *Scope) Leave(ctx context.Context, group etf.Term, mbs ...*erldist.Mailbox) error {
	if err := s.checkArgs(group, mbs); err != nil {
		return err
	}
	return s.do(ctx, func() error {
		var left []etf.Pid
		s.mu.Lock()
		for _, m := range mbs {
			if s.removeLocked(m.Pid(), group) {
				left = append(left, m.Pid())
			}
		}
		s.mu.Unlock()
		if len(left) == 0 {
			return ErrNotJoined
		}
		s.toPeers(etf.Tuple{atomLeave, s.mb.Pid(), pidList(left), etf.List{group}})
		return nil
	})
}

// removeLocked removes one membership of pid in group.
func (s *Scope) removeLocked(pid etf.Pid, group etf.Term) bool {
	rec := s.joined[pid]
	if rec == nil {
		return false
	}
	i := slices.IndexFunc(rec.groups, func(g etf.Term) bool { return etf.Equal(g, group) })
	if i < 0 {
		return false
	}
	rec.groups = slices.Delete(rec.groups, i, i+1)
	if len(rec.groups) == 0 {
		close(rec.stop)
		delete(s.joined, pid)
	}
	cur, _ := s.local.get(group)
	if j := slices.Index(cur, pid); j >= 0 {
		cur = slices.Delete(slices.Clone(cur), j, j+1)
	}
	if len(cur) == 0 {
		s.local.del(group)
	} else {
		s.local.set(group, cur)
	}
	return true
}

func (s *Scope) checkArgs(group etf.Term, mbs []*erldist.Mailbox) error {
	if _, err := etf.Encode(group); err != nil {
		return fmt.Errorf("pg: group cannot be sent to Erlang: %w", err)
	}
	if len(mbs) == 0 {
		return errors.New("pg: no mailbox given")
	}
	for _, m := range mbs {
		if m == nil {
			return errors.New("pg: nil mailbox")
		}
		if libcluster.Node(m.Pid().Node) != s.n.Self() {
			return fmt.Errorf("pg: mailbox %v belongs to %s, not to this scope's node %s; only local processes may join", m.Pid(), m.Pid().Node, s.n.Self())
		}
	}
	return nil
}

// do runs f in the scope's goroutine and returns its error.
func (s *Scope) do(ctx context.Context, f func() error) error {
	errc := make(chan error, 1)
	select {
	case s.cmds <- func() { errc <- f() }:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-s.done:
		return ErrClosed
	}
}

// watchMailbox makes a closed mailbox leave all its groups.
func (s *Scope) watchMailbox(m *erldist.Mailbox, stop chan struct{}) {
	select {
	case <-m.Done():
	case <-stop:
		return
	case <-s.done:
		return
	}
	select {
	case s.cmds <- func() { s.mailboxGone(m.Pid(), stop) }:
	case <-s.done:
	}
}

func (s *Scope) mailboxGone(pid etf.Pid, stop chan struct{}) {
	s.mu.Lock()
	rec := s.joined[pid]
	if rec == nil || rec.stop != stop {
		s.mu.Unlock()
		return
	}
	groups := slices.Clone(rec.groups)
	for _, g := range groups {
		s.removeLocked(pid, g)
	}
	s.mu.Unlock()
	// As pg does when a member exits: one leave naming every group, once
	// per membership.
	s.toPeers(etf.Tuple{atomLeave, s.mb.Pid(), pid, etf.List(groups)})
}

// Members returns the members of group on every node the scope knows, in
// no particular order; a process that joined twice is listed twice, as
// pg:get_members/2 does.
func (s *Scope) Members(group etf.Term) []etf.Pid {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out, _ := s.local.get(group)
	out = slices.Clone(out)
	for _, p := range s.peers {
		if pids, ok := p.groups.get(group); ok {
			out = append(out, pids...)
		}
	}
	return out
}

// LocalMembers returns the members of group on this node.
func (s *Scope) LocalMembers(group etf.Term) []etf.Pid {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out, _ := s.local.get(group)
	return slices.Clone(out)
}

// Groups returns every group with at least one member anywhere.
func (s *Scope) Groups() []etf.Term {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var seen termMap[struct{}]
	var out []etf.Term
	add := func(g etf.Term, _ []etf.Pid) {
		if _, ok := seen.get(g); !ok {
			seen.set(g, struct{}{})
			out = append(out, g)
		}
	}
	s.local.each(add)
	for _, p := range s.peers {
		p.groups.each(add)
	}
	return out
}

// Send sends msg to every member of group, on every node, from the scope's
// process, and returns how many members it was sent to. Members on nodes
// that cannot be reached are skipped; the error joins their failures.
func (s *Scope) Send(ctx context.Context, group etf.Term, msg etf.Term) (int, error) {
	return s.sendTo(ctx, s.Members(group), msg)
}

func (s *Scope) sendTo(ctx context.Context, pids []etf.Pid, msg etf.Term) (int, error) {
	sent := 0
	var errs []error
	for _, p := range pids {
		if err := s.mb.Send(ctx, p, msg); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// Close stops the scope: its process ends, so every peer drops this node's
// members (it monitors the scope process), and the local memberships are
// forgotten.
func (s *Scope) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.stopWatch()
	close(s.quit)
	<-s.done
}

func (s *Scope) loop(initial []libcluster.Node) {
	defer close(s.done)
	defer s.mb.Close()
	for _, node := range initial {
		s.nodeUp(node)
	}
	var tick <-chan time.Time
	if s.rediscover > 0 {
		t := time.NewTicker(s.rediscover)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.quit:
			return
		case <-tick:
			s.rediscoverAll()
		case m, ok := <-s.mb.C():
			if !ok {
				return
			}
			s.handle(m)
		case f := <-s.cmds:
			f()
		case <-s.evSig:
			s.evMu.Lock()
			evs := s.evq
			s.evq = nil
			s.evMu.Unlock()
			for _, ev := range evs {
				if ev.Up {
					s.nodeUp(ev.Node)
				} else {
					s.nodeDown(ev.Node)
				}
			}
		}
	}
}

func (s *Scope) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.sendTimeout)
}

// send sends msg to a peer's scope process, if its node is connected (pg
// sends with noconnect).
func (s *Scope) send(to etf.Pid, msg etf.Term) {
	if !s.up[libcluster.Node(to.Node)] {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.mb.Send(ctx, to, msg); err != nil {
		s.log.Debug("pg: send to peer failed", "peer", to, "err", err)
	}
}

func (s *Scope) toPeers(msg etf.Term) {
	s.mu.RLock()
	peers := make([]etf.Pid, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.RUnlock()
	for _, p := range peers {
		s.send(p, msg)
	}
}

func (s *Scope) nodeUp(node libcluster.Node) {
	if node == s.n.Self() {
		return
	}
	s.up[node] = true
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.mb.SendName(ctx, node, s.name, etf.Tuple{atomDiscover, s.mb.Pid()}); err != nil {
		s.log.Debug("pg: discover failed", "node", node, "err", err)
	}
}

// rediscoverAll sends discover to the connected nodes without a known
// peer scope process.
func (s *Scope) rediscoverAll() {
	s.mu.RLock()
	have := map[libcluster.Node]bool{}
	for p := range s.peers {
		have[libcluster.Node(p.Node)] = true
	}
	s.mu.RUnlock()
	for node := range s.up {
		if !have[node] {
			s.nodeUp(node)
		}
	}
}

func (s *Scope) nodeDown(node libcluster.Node) {
	delete(s.up, node)
	s.mu.Lock()
	for pid := range s.peers {
		if libcluster.Node(pid.Node) == node {
			delete(s.peers, pid)
		}
	}
	s.mu.Unlock()
}

// syncMsg is {'$gen_cast', {sync, Self, [{Group, Pids}]}}, as pg sends it
// with gen_server:cast.
func (s *Scope) syncMsg() etf.Term {
	s.mu.RLock()
	var groups etf.List
	s.local.each(func(g etf.Term, pids []etf.Pid) {
		groups = append(groups, etf.Tuple{g, pidList(pids)})
	})
	s.mu.RUnlock()
	return etf.Tuple{atomGenCast, etf.Tuple{atomSync, s.mb.Pid(), groups}}
}

func (s *Scope) ignore(what string, m erldist.Message) {
	s.ignored.Add(1)
	s.log.Debug("pg: ignored message", "why", what, "from", m.From, "body", m.Body)
}

func (s *Scope) handle(m erldist.Message) {
	if d, ok := m.Body.(erldist.Down); ok {
		s.peerDown(d)
		return
	}
	t, ok := m.Body.(etf.Tuple)
	if !ok || len(t) < 2 {
		s.ignore("not a pg message", m)
		return
	}
	tag, _ := t[0].(etf.Atom)
	switch {
	case tag == atomDiscover && (len(t) == 2 || len(t) == 3):
		// {discover, Peer} (OTP 23 to 28) or {discover, Peer, Version}
		// (OTP 29); both are answered in the legacy format, which OTP 29
		// still speaks.
		peer, ok := t[1].(etf.Pid)
		if !ok || s.isSelf(peer) {
			s.ignore("discover without a remote pid", m)
			return
		}
		s.send(peer, s.syncMsg())
		if s.known(peer) {
			return
		}
		if s.addPeer(peer) {
			s.send(peer, etf.Tuple{atomDiscover, s.mb.Pid()})
		}
	case tag == atomGenCast && len(t) == 2:
		c, ok := t[1].(etf.Tuple)
		if !ok || len(c) != 3 || c[0] != atomSync {
			s.ignore("cast that is not a sync", m)
			return
		}
		peer, ok := c[1].(etf.Pid)
		if !ok || s.isSelf(peer) {
			s.ignore("sync without a remote pid", m)
			return
		}
		groups, ok := parseSync(c[2])
		if !ok {
			s.ignore("malformed sync", m)
			return
		}
		if !s.known(peer) && !s.addPeer(peer) {
			return
		}
		s.mu.Lock()
		if p := s.peers[peer]; p != nil {
			p.groups = groups
		}
		s.mu.Unlock()
	case tag == atomJoin && len(t) == 4:
		peer, ok1 := t[1].(etf.Pid)
		pids, ok2 := pidOrPids(t[3])
		if !ok1 || !ok2 {
			s.ignore("malformed join", m)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.peers[peer]
		if p == nil {
			s.ignored.Add(1) // pg ignores joins of peers it has not discovered
			return
		}
		cur, _ := p.groups.get(t[2])
		p.groups.set(t[2], append(pids, cur...))
	case tag == atomLeave && len(t) == 4:
		peer, ok1 := t[1].(etf.Pid)
		pids, ok2 := pidOrPids(t[2])
		groups, ok3 := t[3].(etf.List)
		if !ok1 || !ok2 || (!ok3 && !isNil(t[3])) {
			s.ignore("malformed leave", m)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.peers[peer]
		if p == nil {
			s.ignored.Add(1)
			return
		}
		for _, g := range groups {
			cur, ok := p.groups.get(g)
			if !ok {
				continue
			}
			cur = slices.Clone(cur)
			for _, pid := range pids { // All -- Pids: one occurrence each
				if j := slices.Index(cur, pid); j >= 0 {
					cur = slices.Delete(cur, j, j+1)
				}
			}
			if len(cur) == 0 {
				p.groups.del(g)
			} else {
				p.groups.set(g, cur)
			}
		}
	default:
		s.ignore("not a pg message", m)
	}
}

func (s *Scope) isSelf(p etf.Pid) bool { return libcluster.Node(p.Node) == s.n.Self() }

func (s *Scope) known(p etf.Pid) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peers[p] != nil
}

// addPeer monitors a newly seen peer scope process and records it.
func (s *Scope) addPeer(p etf.Pid) bool {
	if !s.up[libcluster.Node(p.Node)] {
		// A message from a node whose up event is still queued: it is
		// connected, so count it as up now.
		s.up[libcluster.Node(p.Node)] = true
	}
	ctx, cancel := s.ctx()
	defer cancel()
	ref, err := s.mb.Monitor(ctx, p)
	if err != nil {
		s.log.Debug("pg: monitor of peer failed", "peer", p, "err", err)
		return false
	}
	s.mu.Lock()
	s.peers[p] = &peer{ref: ref}
	s.mu.Unlock()
	return true
}

func (s *Scope) peerDown(d erldist.Down) {
	pid, ok := d.Process.(etf.Pid)
	if !ok {
		return
	}
	s.mu.Lock()
	if p := s.peers[pid]; p != nil && etf.Equal(p.ref, d.Ref) {
		delete(s.peers, pid)
	}
	s.mu.Unlock()
}

// parseSync reads [{Group, [Pid]}].
func parseSync(t etf.Term) (termMap[[]etf.Pid], bool) {
	var out termMap[[]etf.Pid]
	if isNil(t) {
		return out, true
	}
	l, ok := t.(etf.List)
	if !ok {
		return out, false
	}
	for _, e := range l {
		gp, ok := e.(etf.Tuple)
		if !ok || len(gp) != 2 {
			return out, false
		}
		pids, ok := pidOrPids(gp[1])
		if !ok {
			return out, false
		}
		cur, _ := out.get(gp[0])
		out.set(gp[0], append(cur, pids...))
	}
	return out, true
}

// pidOrPids reads a pid or a list of pids.
func pidOrPids(t etf.Term) ([]etf.Pid, bool) {
	if p, ok := t.(etf.Pid); ok {
		return []etf.Pid{p}, true
	}
	if isNil(t) {
		return nil, true
	}
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	out := make([]etf.Pid, len(l))
	for i, e := range l {
		if out[i], ok = e.(etf.Pid); !ok {
			return nil, false
		}
	}
	return out, true
}

func isNil(t etf.Term) bool {
	switch v := t.(type) {
	case nil:
		return true
	case etf.List:
		return len(v) == 0
	case etf.String:
		return len(v) == 0
	}
	return false
}

func pidList(pids []etf.Pid) etf.List {
	l := make(etf.List, len(pids))
	for i, p := range pids {
		l[i] = p
	}
	return l
}
