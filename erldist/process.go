package erldist

// The process layer: Go mailboxes that Erlang processes can address,
// monitor and link, and that can address, monitor and link Erlang
// processes in turn.
//
// API summary:
//
//	mb, err := n.NewMailbox("name") // "" for an unregistered mailbox
//	mb.Pid()                        // its etf.Pid, usable by Erlang code
//	mb.C() / mb.Recv(ctx)           // incoming Message values; C is closed by Close
//	mb.Send(ctx, pid, msg)          // to a pid (also an alias etf.Ref via SendAlias)
//	mb.SendName(ctx, node, name, msg) // to {name, node}; node == n.Self() is local
//	mb.SendNoConnect / mb.SendNameNoConnect // [noconnect]: ErrNotConnected, no dial
//	n.NewMailboxSize(name, size)    // a mailbox with its own channel size
//	ref, err := mb.Monitor(ctx, pid) / mb.MonitorName(ctx, node, name)
//	mb.Demonitor(ref)
//	mb.Link(ctx, pid) / mb.Unlink(ctx, pid)
//	mb.Close()  / mb.Exit(reason)   // DOWN/EXIT with normal / reason to watchers
//	n.MakeRef()                     // a fresh reference of this node
//	n.Call(ctx, pidOrName, req) / n.Cast / mb.Serve(ctx, GenServer{...})  (genserver.go)
//	n.HandleFunc(mod, fun, arity, fn)  // erpc/rpc into Go (erpc.go)
//
// Monitors and links end as typed messages in the mailbox: a Message whose
// Body is a [Down] (the monitored process ended, or its node was lost:
// Reason noconnection; monitoring a process that does not exist: noproc) or
// an [Exit] (a linked process ended, an exit/2 signal, or the loss of the
// linked process's node: noconnection). Go mailboxes always trap exits:
// an exit signal never closes them. Erlang processes monitoring or linked
// to a Go mailbox get 'DOWN'/'EXIT' with the reason given to Exit (normal
// for Close), noproc when they monitor or link a mailbox that is gone, and
// noconnection from their own runtime when this node goes away.
//
// The process layer talks to the connection manager only through
// [peerLink] (one connection: its peer, its flags, queueing packets) and
// Node.route (a connection to a node, set up if needed); the connection
// manager hands it every process signal through procs.handle and tells it
// about a lost connection through procs.connDown.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// peerLink is what the process layer needs from one connection.
type peerLink interface {
	// peerNode is the node at the other end.
	peerNode() libcluster.Node
	// peerFlags are the distribution flags the peer announced.
	peerFlags() uint64
	// sendNow queues a packet without blocking the caller for long.
	sendNow(pkt []byte)
	// send queues a packet, waiting for room until ctx ends.
	send(ctx context.Context, pkt []byte) error
}

func (c *conn) peerNode() libcluster.Node { return c.peer }
func (c *conn) peerFlags() uint64         { return c.flags }

// Down is the Body of a Message telling that a monitored process ended.
type Down struct {
	// Ref is the monitor reference Monitor returned.
	Ref etf.Ref
	// Process is what was monitored: an etf.Pid, or an etf.Atom name.
	Process etf.Term
	// Reason is the exit reason: noproc when the process did not exist,
	// noconnection when its node was lost.
	Reason etf.Term
}

// Exit is the Body of a Message telling that a linked process ended, or
// that a process sent this mailbox an exit signal (exit/2).
type Exit struct {
	// From is the process the signal comes from.
	From etf.Pid
	// Reason is the exit reason; noconnection when From's node was lost.
	Reason etf.Term
}

// Undecodable stands for an exit reason this node could not decode (a
// term over its limits or in a format it does not know), in a Down or Exit:
// the signal is delivered, and the connection stays up.
type Undecodable struct {
	Err error
}

// Name names a registered process on a node, {Name, Node} in Erlang.
type Name struct {
	Node libcluster.Node
	Name string
}

var (
	atomNoconnection = etf.Atom("noconnection")
)

// ErrMailboxClosed is returned by the operations of a closed Mailbox.
var ErrMailboxClosed = errors.New("dist: mailbox closed")

// procs is the process table of a Node: mailboxes by name and pid, and the
// monitors and links that cross connections. It has its own lock, never
// held while calling into the connection manager except for sendNow.
type procs struct {
	n       *Node
	mu      sync.Mutex
	names   map[string]*mailbox
	byPid   map[uint32]*mailbox
	nextPid uint32
	refs    atomic.Uint64
	size    int
	closed  bool
}

func newProcs(n *Node, size int) *procs {
	return &procs{n: n, names: map[string]*mailbox{}, byPid: map[uint32]*mailbox{}, nextPid: 100, size: size}
}

// mailbox is the table entry of one Mailbox.
type mailbox struct {
	name   string
	pid    etf.Pid
	ch     chan Message
	mons   []remoteMon  // remote processes monitoring this one
	links  []remoteLink // remote processes linked to this one
	out    []outMon     // monitors this mailbox holds on remote processes
	olinks []etf.Pid    // remote processes this mailbox is linked to
	closed bool
	exited chan struct{} // closed when the mailbox ends
	// onExit, when set, sees every exit signal, under procs.mu; it must
	// not block.
	onExit func(from etf.Pid, reason etf.Term)
}

type remoteMon struct {
	c       peerLink
	watcher etf.Pid
	target  etf.Term
	ref     etf.Ref
}

type remoteLink struct {
	c    peerLink
	from etf.Pid
}

type outMon struct {
	node   libcluster.Node
	target etf.Term
	ref    etf.Ref
}

// Mailbox is a Go process of a Node: it has a pid (and optionally a
// registered name) that Erlang processes send to, monitor and link. Its
// methods are safe for concurrent use.
type Mailbox struct {
	n  *Node
	mb *mailbox
}

// MakeRef returns a new reference of this node.
func (n *Node) MakeRef() etf.Ref {
	v := n.procs.refs.Add(1)
	return etf.Ref{Node: etf.Atom(n.self), Creation: n.creation, ID: []uint32{uint32(v & 0x3ffff), uint32(v >> 18), uint32(v >> 50)}}
}

// NewMailbox creates a Go process. With a non-empty name it is also
// registered under that name ({name, GoNode} ! Msg reaches it). Messages
// that arrive while its channel (Config.MailboxSize) is full are dropped
// and logged. Close it when done.
func (n *Node) NewMailbox(name string) (*Mailbox, error) {
	mb, err := n.procs.add(name)
	if err != nil {
		return nil, err
	}
	return &Mailbox{n: n, mb: mb}, nil
}

// MaxMailboxSize is the largest channel size NewMailboxSize accepts.
const MaxMailboxSize = 1 << 20

// NewMailboxSize is NewMailbox with a channel of size messages (1 to
// MaxMailboxSize) instead of Config.MailboxSize, for a mailbox that must
// absorb bursts.
func (n *Node) NewMailboxSize(name string, size int) (*Mailbox, error) {
	if size < 1 || size > MaxMailboxSize {
		return nil, fmt.Errorf("dist: mailbox size %d out of range; use 1 to %d", size, MaxMailboxSize)
	}
	mb, err := n.procs.addSized(name, size)
	if err != nil {
		return nil, err
	}
	return &Mailbox{n: n, mb: mb}, nil
}

func (p *procs) add(name string) (*mailbox, error) { return p.addSized(name, p.size) }

// addSized adds a mailbox whose channel holds size messages.
func (p *procs) addSized(name string, size int) (*mailbox, error) {
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, err
		}
		if name == netKernelName {
			return nil, fmt.Errorf("dist: the name %s is served by the node itself; pick another", name)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if name != "" && p.names[name] != nil {
		return nil, fmt.Errorf("dist: the name %q is already registered on %s; unregister it first", name, p.n.self)
	}
	p.nextPid++
	if p.nextPid >= 1<<28 {
		p.nextPid = 101
	}
	for p.byPid[p.nextPid] != nil {
		p.nextPid++
	}
	mb := &mailbox{
		name:   name,
		pid:    etf.Pid{Node: etf.Atom(p.n.self), ID: p.nextPid, Creation: p.n.creation},
		ch:     make(chan Message, size),
		exited: make(chan struct{}),
	}
	if name != "" {
		p.names[name] = mb
	}
	p.byPid[mb.pid.ID] = mb
	return mb, nil
}

// Pid returns the mailbox's pid.
func (m *Mailbox) Pid() etf.Pid { return m.mb.pid }

// Name returns the registered name, or "".
func (m *Mailbox) Name() string { return m.mb.name }

// C returns the channel messages arrive on; it is closed when the mailbox
// is closed.
func (m *Mailbox) C() <-chan Message { return m.mb.ch }

// Done is closed when the mailbox has been closed.
func (m *Mailbox) Done() <-chan struct{} { return m.mb.exited }

// Recv returns the next message, ctx.Err() when ctx ends first, or
// ErrMailboxClosed.
func (m *Mailbox) Recv(ctx context.Context) (Message, error) {
	select {
	case msg, ok := <-m.mb.ch:
		if !ok {
			return Message{}, ErrMailboxClosed
		}
		return msg, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Send sends msg to the process to, from this mailbox.
func (m *Mailbox) Send(ctx context.Context, to etf.Pid, msg etf.Term) error {
	return m.n.sendPidFrom(ctx, m.mb.pid, to, msg)
}

// SendName sends msg to the process registered as name on node, from this
// mailbox.
func (m *Mailbox) SendName(ctx context.Context, node libcluster.Node, name string, msg etf.Term) error {
	return m.n.sendNameFrom(ctx, m.mb.pid, node, name, msg)
}

// SendNoConnect sends msg to to only if its node is connected now, as
// erlang:send(To, Msg, [noconnect]); otherwise it returns an error wrapping
// libcluster.ErrNotConnected at once, without dialling.
func (m *Mailbox) SendNoConnect(ctx context.Context, to etf.Pid, msg etf.Term) error {
	if libcluster.Node(to.Node) == m.n.self {
		return m.Send(ctx, to, msg)
	}
	c := m.n.existing(libcluster.Node(to.Node))
	if c == nil {
		return fmt.Errorf("dist: send to %v: %w", to, libcluster.ErrNotConnected)
	}
	pkt, err := packet(etf.Tuple{int64(opSend), atomEmpty, to}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to %v: %w", to, err)
	}
	return c.send(ctx, pkt)
}

// SendNameNoConnect is SendName without dialling: an error wrapping
// libcluster.ErrNotConnected when node is not connected now.
func (m *Mailbox) SendNameNoConnect(ctx context.Context, node libcluster.Node, name string, msg etf.Term) error {
	if node == m.n.self {
		return m.SendName(ctx, node, name, msg)
	}
	if err := checkName(name); err != nil {
		return err
	}
	c := m.n.existing(node)
	if c == nil {
		return fmt.Errorf("dist: send to {%s, %s}: %w", name, node, libcluster.ErrNotConnected)
	}
	pkt, err := packet(etf.Tuple{int64(opRegSend), m.mb.pid, atomEmpty, etf.Atom(name)}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to {%s, %s}: %w", name, node, err)
	}
	return c.send(ctx, pkt)
}

// SendAlias sends msg to a process alias (a reference made with
// erlang:alias/0 or monitor's alias option), as Alias ! Msg does.
func (m *Mailbox) SendAlias(ctx context.Context, alias etf.Ref, msg etf.Term) error {
	node := libcluster.Node(alias.Node)
	if node == m.n.self {
		return nil // this node makes no aliases
	}
	c, err := m.n.route(ctx, node)
	if err != nil {
		return err
	}
	var pkt []byte
	if c.peerFlags()&flagAlias != 0 {
		pkt, err = packet(etf.Tuple{int64(opAliasSend), m.mb.pid, alias}, msg, true)
	} else {
		return fmt.Errorf("dist: %s does not support process aliases", node)
	}
	if err != nil {
		return fmt.Errorf("dist: send to alias: %w", err)
	}
	return c.send(ctx, pkt)
}

// Monitor monitors the process to. When it ends (or does not exist, or
// its node is lost or cannot be reached) a Message with a [Down] Body
// arrives in this mailbox. ctx bounds connecting to the node and queueing
// the monitor; when it ends first, Monitor returns an error and no Down.
func (m *Mailbox) Monitor(ctx context.Context, to etf.Pid) (etf.Ref, error) {
	return m.monitor(ctx, libcluster.Node(to.Node), to)
}

// MonitorName monitors the process registered as name on node.
func (m *Mailbox) MonitorName(ctx context.Context, node libcluster.Node, name string) (etf.Ref, error) {
	if err := checkName(name); err != nil {
		return etf.Ref{}, err
	}
	return m.monitor(ctx, node, etf.Atom(name))
}

func (m *Mailbox) monitor(ctx context.Context, node libcluster.Node, target etf.Term) (etf.Ref, error) {
	ref := m.n.MakeRef()
	p := m.n.procs
	if node == m.n.self {
		// A local monitor: DOWN at once if the target is gone, else
		// when it ends.
		p.mu.Lock()
		t := p.lookupLocked(target)
		if m.mb.closed {
			p.mu.Unlock()
			return etf.Ref{}, ErrMailboxClosed
		}
		if t == nil {
			p.deliverLocked(m.mb, Message{Body: Down{Ref: ref, Process: target, Reason: atomNoproc}})
		} else {
			t.mons = append(t.mons, remoteMon{c: localLink{p.n}, watcher: m.mb.pid, target: target, ref: ref})
		}
		p.mu.Unlock()
		return ref, nil
	}
	c, err := m.n.route(ctx, node)
	if err != nil && ctx.Err() != nil {
		// Cut short by ctx, not refused by the node: nothing is known
		// about the target, so no Down.
		return etf.Ref{}, err
	}
	if err != nil {
		// As erlang:monitor/2 does for an unreachable node.
		p.mu.Lock()
		p.deliverLocked(m.mb, Message{Body: Down{Ref: ref, Process: target, Reason: atomNoconnection}})
		p.mu.Unlock()
		return ref, nil
	}
	p.mu.Lock()
	if m.mb.closed {
		p.mu.Unlock()
		return etf.Ref{}, ErrMailboxClosed
	}
	m.mb.out = append(m.mb.out, outMon{node: node, target: target, ref: ref})
	p.mu.Unlock()
	pkt, err := packet(etf.Tuple{int64(opMonitorP), m.mb.pid, target, ref}, nil, false)
	if err == nil {
		err = c.send(ctx, pkt)
	}
	if err != nil {
		p.dropOutMon(m.mb, ref)
		return etf.Ref{}, err
	}
	return ref, nil
}

// Demonitor removes a monitor set by Monitor. A Down that already arrived
// stays in the mailbox.
func (m *Mailbox) Demonitor(ref etf.Ref) {
	p := m.n.procs
	om, ok := p.dropOutMon(m.mb, ref)
	if !ok {
		// A local monitor.
		p.mu.Lock()
		for _, t := range p.byPid {
			t.mons = removeMon(t.mons, func(r remoteMon) bool { return etf.Equal(r.ref, ref) && r.watcher == m.mb.pid })
		}
		p.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.n.cfg.HandshakeTimeout)
	defer cancel()
	if c := m.n.existing(om.node); c != nil {
		if pkt, err := packet(etf.Tuple{int64(opDemonitorP), m.mb.pid, om.target, ref}, nil, false); err == nil {
			_ = c.send(ctx, pkt)
		}
	}
}

func removeMon(ms []remoteMon, drop func(remoteMon) bool) []remoteMon {
	out := ms[:0]
	for _, r := range ms {
		if !drop(r) {
			out = append(out, r)
		}
	}
	return out
}

func (p *procs) dropOutMon(mb *mailbox, ref etf.Ref) (outMon, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range mb.out {
		if etf.Equal(o.ref, ref) {
			mb.out = append(mb.out[:i], mb.out[i+1:]...)
			return o, true
		}
	}
	return outMon{}, false
}

// Link links this mailbox with the process to. When to ends (or does not
// exist, or its node is lost) a Message with an [Exit] Body arrives; when
// this mailbox ends, to gets an exit signal with its reason. ctx bounds
// connecting to the node; when it ends first, Link returns an error.
func (m *Mailbox) Link(ctx context.Context, to etf.Pid) error {
	p := m.n.procs
	node := libcluster.Node(to.Node)
	if node == m.n.self {
		p.mu.Lock()
		defer p.mu.Unlock()
		t := p.pidLocked(to)
		if t == nil {
			p.deliverLocked(m.mb, Message{Body: Exit{From: to, Reason: atomNoproc}})
			return nil
		}
		t.links = append(t.links, remoteLink{c: localLink{p.n}, from: m.mb.pid})
		m.mb.links = append(m.mb.links, remoteLink{c: localLink{p.n}, from: to})
		return nil
	}
	c, err := m.n.route(ctx, node)
	if err != nil && ctx.Err() != nil {
		return err // cut short by ctx: no link, no Exit
	}
	if err != nil {
		p.mu.Lock()
		p.deliverLocked(m.mb, Message{Body: Exit{From: to, Reason: atomNoconnection}})
		p.mu.Unlock()
		return nil
	}
	p.mu.Lock()
	if m.mb.closed {
		p.mu.Unlock()
		return ErrMailboxClosed
	}
	for _, l := range m.mb.olinks {
		if l == to {
			p.mu.Unlock()
			return nil
		}
	}
	m.mb.olinks = append(m.mb.olinks, to)
	p.mu.Unlock()
	pkt, err := packet(etf.Tuple{int64(opLink), m.mb.pid, to}, nil, false)
	if err == nil {
		err = c.send(ctx, pkt)
	}
	if err != nil {
		// Not sent: forget the link, or this mailbox's exit would signal
		// a process that never was linked.
		p.mu.Lock()
		p.dropOutLinkLocked(m.mb, to)
		p.mu.Unlock()
		return err
	}
	return nil
}

// Unlink removes a link set by Link.
func (m *Mailbox) Unlink(ctx context.Context, to etf.Pid) error {
	p := m.n.procs
	p.mu.Lock()
	found := p.dropOutLinkLocked(m.mb, to)
	p.mu.Unlock()
	if !found || libcluster.Node(to.Node) == m.n.self {
		return nil
	}
	c := m.n.existing(libcluster.Node(to.Node))
	if c == nil {
		return nil
	}
	id := m.n.procs.refs.Add(1)
	pkt, err := packet(etf.Tuple{int64(opUnlinkID), int64(id), m.mb.pid, to}, nil, false)
	if err != nil {
		return err
	}
	return c.send(ctx, pkt)
}

func (p *procs) dropOutLinkLocked(mb *mailbox, to etf.Pid) bool {
	for i, l := range mb.olinks {
		if l == to {
			mb.olinks = append(mb.olinks[:i], mb.olinks[i+1:]...)
			return true
		}
	}
	return false
}

// Close ends the mailbox with reason normal: see Exit.
func (m *Mailbox) Close() { m.Exit(atomNormal) }

// Exit ends the mailbox with reason: its name is unregistered, its channel
// closed, processes monitoring it get 'DOWN' with reason, processes linked
// to it an exit signal with reason (normal does not end them, as in
// Erlang), and its own monitors and links are removed. Later calls do
// nothing.
func (m *Mailbox) Exit(reason etf.Term) { m.n.procs.exit(m.mb, reason) }

func (p *procs) exit(mb *mailbox, reason etf.Term) {
	p.mu.Lock()
	if mb.closed {
		p.mu.Unlock()
		return
	}
	mb.closed = true
	if mb.name != "" && p.names[mb.name] == mb {
		delete(p.names, mb.name)
	}
	delete(p.byPid, mb.pid.ID)
	close(mb.ch)
	close(mb.exited)
	mons, links, out, olinks := mb.mons, mb.links, mb.out, mb.olinks
	mb.mons, mb.links, mb.out, mb.olinks = nil, nil, nil, nil
	p.mu.Unlock()
	for _, r := range mons {
		r.c.sendNow(mustPacket(etf.Tuple{int64(opMonitorPExit), r.target, r.watcher, r.ref, reason}))
	}
	for _, l := range links {
		l.c.sendNow(mustPacket(etf.Tuple{int64(opExit), mb.pid, l.from, reason}))
	}
	for _, o := range out {
		if c := p.n.existing(o.node); c != nil {
			c.sendNow(mustPacket(etf.Tuple{int64(opDemonitorP), mb.pid, o.target, o.ref}))
		}
	}
	for _, to := range olinks {
		if c := p.n.existing(libcluster.Node(to.Node)); c != nil {
			c.sendNow(mustPacket(etf.Tuple{int64(opExit), mb.pid, to, reason}))
		}
	}
}

// mustPacket frames a control message without payload; one made of pids,
// refs, atoms and a reason that was itself decoded cannot fail, and a
// failure yields nil, which sendNow callers skip.
func mustPacket(ctrl etf.Tuple) []byte {
	pkt, err := packet(ctrl, nil, false)
	if err != nil {
		return nil
	}
	return pkt
}

// localLink loops control messages between mailboxes of one node.
type localLink struct{ n *Node }

func (l localLink) peerNode() libcluster.Node { return l.n.self }
func (l localLink) peerFlags() uint64         { return l.n.flags }
func (l localLink) send(_ context.Context, pkt []byte) error {
	l.sendNow(pkt)
	return nil
}
func (l localLink) sendNow(pkt []byte) {
	if len(pkt) < 5 {
		return
	}
	_ = l.n.handlePacket(l, pkt[4:])
}

func (p *procs) pidLocked(pid etf.Pid) *mailbox {
	if pid.Node != etf.Atom(p.n.self) || pid.Creation != p.n.creation {
		return nil
	}
	return p.byPid[pid.ID]
}

func (p *procs) lookupLocked(t etf.Term) *mailbox {
	switch t := t.(type) {
	case etf.Atom:
		return p.names[string(t)]
	case etf.Pid:
		return p.pidLocked(t)
	}
	return nil
}

func (p *procs) deliverLocked(mb *mailbox, m Message) {
	if mb == nil || mb.closed {
		return
	}
	select {
	case mb.ch <- m:
	default:
		p.n.log.Warn("dist: mailbox full; message dropped (read faster or raise Config.MailboxSize)", "name", mb.name, "pid", fmt.Sprint(mb.pid))
	}
}

func (p *procs) deliverPid(to etf.Pid, m Message) {
	p.mu.Lock()
	p.deliverLocked(p.pidLocked(to), m)
	p.mu.Unlock()
}

func (p *procs) deliverName(name string, m Message) {
	p.mu.Lock()
	p.deliverLocked(p.names[name], m)
	p.mu.Unlock()
}

// handle processes one process signal from c; it reports false for an
// opcode that is not a process signal. A malformed one is an error.
func (p *procs) handle(c peerLink, op int64, ctrl etf.Tuple, msg etf.Term, hasMsg bool) (bool, error) {
	switch op {
	case opSend, opSendTT, opSendSender, opSendSenderTT:
		want := map[int64]int{opSend: 3, opSendTT: 4, opSendSender: 3, opSendSenderTT: 4}[op]
		to, ok := ctrl[min(2, len(ctrl)-1)].(etf.Pid)
		if len(ctrl) != want || !ok || !hasMsg {
			return true, malformed(op, ctrl)
		}
		var from etf.Pid
		if op == opSendSender || op == opSendSenderTT {
			from, _ = ctrl[1].(etf.Pid)
		}
		p.deliverPid(to, Message{From: from, Body: msg})
	case opRegSend, opRegSendTT:
		from, ok1 := ctrl[min(1, len(ctrl)-1)].(etf.Pid)
		name, ok2 := ctrl[min(3, len(ctrl)-1)].(etf.Atom)
		if len(ctrl) != map[int64]int{opRegSend: 4, opRegSendTT: 5}[op] || !ok1 || !ok2 || !hasMsg {
			return true, malformed(op, ctrl)
		}
		if name == netKernelName {
			p.n.netKernel(c, msg)
			return true, nil
		}
		p.deliverName(string(name), Message{From: from, Body: msg})
	case opMonitorP:
		w, ok1 := ctrl[min(1, len(ctrl)-1)].(etf.Pid)
		ref, ok2 := ctrl[min(3, len(ctrl)-1)].(etf.Ref)
		if len(ctrl) != 4 || !ok1 || !ok2 {
			return true, malformed(op, ctrl)
		}
		p.monitored(c, w, ctrl[2], ref)
	case opDemonitorP:
		if len(ctrl) != 4 {
			return true, malformed(op, ctrl)
		}
		if ref, ok := ctrl[3].(etf.Ref); ok {
			p.demonitored(c, ctrl[2], ref)
		}
	case opMonitorPExit, opPayloadMonExit:
		// {21, FromProc, ToPid, Ref, Reason}; the payload form carries
		// the reason as the message.
		if len(ctrl) < 4 {
			return true, malformed(op, ctrl)
		}
		to, ok1 := ctrl[2].(etf.Pid)
		ref, ok2 := ctrl[3].(etf.Ref)
		if !ok1 || !ok2 {
			return true, malformed(op, ctrl)
		}
		reason := msg
		if op == opMonitorPExit {
			if len(ctrl) != 5 {
				return true, malformed(op, ctrl)
			}
			reason = ctrl[4]
		}
		p.down(to, ref, ctrl[1], reason)
	case opLink:
		from, ok1 := ctrl[min(1, len(ctrl)-1)].(etf.Pid)
		to, ok2 := ctrl[min(2, len(ctrl)-1)].(etf.Pid)
		if len(ctrl) != 3 || !ok1 || !ok2 {
			return true, malformed(op, ctrl)
		}
		p.linked(c, from, to)
	case opUnlinkID:
		if len(ctrl) != 4 {
			return true, malformed(op, ctrl)
		}
		from, ok1 := ctrl[2].(etf.Pid)
		to, ok2 := ctrl[3].(etf.Pid)
		if !ok1 || !ok2 {
			return true, malformed(op, ctrl)
		}
		// The ack must precede any other signal from To to From; it is
		// queued before anything else this goroutine sends.
		c.sendNow(mustPacket(etf.Tuple{int64(opUnlinkIDAck), ctrl[1], to, from}))
		p.unlinked(c, from, to)
	case opExit, opExitTT, opPayloadExit, opPayloadExitTT, opExit2, opExit2TT, opPayloadExit2, opPayloadExit2TT:
		// {3, From, To, Reason}; TT forms put a token before Reason;
		// payload forms carry Reason as the message.
		if len(ctrl) < 3 {
			return true, malformed(op, ctrl)
		}
		from, ok1 := ctrl[1].(etf.Pid)
		to, ok2 := ctrl[2].(etf.Pid)
		if !ok1 || !ok2 {
			return true, malformed(op, ctrl)
		}
		reason := msg
		if !hasMsg {
			reason = ctrl[len(ctrl)-1]
		}
		link := op == opExit || op == opExitTT || op == opPayloadExit || op == opPayloadExitTT
		p.exitSignal(c, from, to, reason, link)
	case opAliasSend, opAliasSendTT:
		// This node hands out no aliases: nothing can match.
	default:
		return false, nil
	}
	return true, nil
}

// monitored records that w on c's node monitors target here, or answers
// noproc at once.
func (p *procs) monitored(c peerLink, w etf.Pid, target etf.Term, ref etf.Ref) {
	p.mu.Lock()
	mb := p.lookupLocked(target)
	exists := mb != nil
	if a, ok := target.(etf.Atom); ok && a == netKernelName {
		exists = true
	}
	if pid, ok := target.(etf.Pid); ok && pid == p.n.pid {
		exists = true
	}
	if mb != nil {
		mb.mons = append(mb.mons, remoteMon{c: c, watcher: w, target: target, ref: ref})
	}
	p.mu.Unlock()
	if !exists {
		c.sendNow(mustPacket(etf.Tuple{int64(opMonitorPExit), target, w, ref, atomNoproc}))
	}
}

func (p *procs) demonitored(c peerLink, target etf.Term, ref etf.Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mb := p.lookupLocked(target); mb != nil {
		mb.mons = removeMon(mb.mons, func(r remoteMon) bool { return r.c == c && etf.Equal(r.ref, ref) })
	}
}

// down delivers a Down for a monitor this node holds.
func (p *procs) down(to etf.Pid, ref etf.Ref, from etf.Term, reason etf.Term) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mb := p.pidLocked(to)
	if mb == nil {
		return
	}
	for i, o := range mb.out {
		if etf.Equal(o.ref, ref) {
			mb.out = append(mb.out[:i], mb.out[i+1:]...)
			p.deliverLocked(mb, Message{Body: Down{Ref: ref, Process: o.target, Reason: reason}})
			return
		}
	}
	// A local monitor (localLink) is not in out.
	if libcluster.Node(ref.Node) == p.n.self {
		p.deliverLocked(mb, Message{Body: Down{Ref: ref, Process: from, Reason: reason}})
	}
}

func (p *procs) linked(c peerLink, from, to etf.Pid) {
	p.mu.Lock()
	mb := p.pidLocked(to)
	if mb != nil {
		mb.links = append(mb.links, remoteLink{c: c, from: from})
	}
	exists := mb != nil || to == p.n.pid
	p.mu.Unlock()
	if !exists {
		c.sendNow(mustPacket(etf.Tuple{int64(opExit), to, from, atomNoproc}))
	}
}

func (p *procs) unlinked(c peerLink, from, to etf.Pid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mb := p.pidLocked(to)
	if mb == nil {
		return
	}
	for i, l := range mb.links {
		if l.c == c && l.from == from {
			mb.links = append(mb.links[:i], mb.links[i+1:]...)
			return
		}
	}
}

// exitSignal delivers an Exit to the mailbox to; link says it comes from
// a linked process ending, which removes the link.
func (p *procs) exitSignal(c peerLink, from, to etf.Pid, reason etf.Term, link bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mb := p.pidLocked(to)
	if mb == nil {
		return
	}
	if link {
		p.dropOutLinkLocked(mb, from)
		for i, l := range mb.links {
			if l.c == c && l.from == from {
				mb.links = append(mb.links[:i], mb.links[i+1:]...)
				break
			}
		}
	}
	if h := mb.onExit; h != nil {
		h(from, reason)
	}
	p.deliverLocked(mb, Message{From: from, Body: Exit{From: from, Reason: reason}})
}

// connDown forgets what crossed c, and tells the Go mailboxes that
// monitored or linked processes on its node: Down and Exit with reason
// noconnection.
func (p *procs) connDown(c peerLink) {
	peer := c.peerNode()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, mb := range p.byPid {
		mb.mons = removeMon(mb.mons, func(r remoteMon) bool { return r.c == c })
		links := mb.links[:0]
		for _, l := range mb.links {
			if l.c != c {
				links = append(links, l)
			}
		}
		mb.links = links
		out := mb.out[:0]
		for _, o := range mb.out {
			if o.node == peer {
				p.deliverLocked(mb, Message{Body: Down{Ref: o.ref, Process: o.target, Reason: atomNoconnection}})
				continue
			}
			out = append(out, o)
		}
		mb.out = out
		olinks := mb.olinks[:0]
		for _, to := range mb.olinks {
			if libcluster.Node(to.Node) == peer {
				if mb.onExit != nil {
					mb.onExit(to, atomNoconnection)
				}
				p.deliverLocked(mb, Message{From: to, Body: Exit{From: to, Reason: atomNoconnection}})
				continue
			}
			olinks = append(olinks, to)
		}
		mb.olinks = olinks
	}
}

// closeAll ends every mailbox at Close, without signals (the connections
// are gone).
func (p *procs) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, mb := range p.byPid {
		mb.closed = true
		close(mb.ch)
		close(mb.exited)
		delete(p.byPid, id)
	}
	clear(p.names)
}

// Register registers name on this node and returns the channel its
// messages arrive on. Erlang code reaches it as {Name, GoNode} ! Msg. The
// channel is closed by Unregister or Close. NewMailbox is the fuller form.
func (n *Node) Register(name string) (<-chan Message, error) {
	if name == "" {
		return nil, checkName(name)
	}
	mb, err := n.procs.add(name)
	if err != nil {
		return nil, err
	}
	return mb.ch, nil
}

// RegisteredPid returns the pid of a registered name, which peers may use
// as a message destination too.
func (n *Node) RegisteredPid(name string) (etf.Pid, bool) {
	p := n.procs
	p.mu.Lock()
	defer p.mu.Unlock()
	mb := p.names[name]
	if mb == nil {
		return etf.Pid{}, false
	}
	return mb.pid, true
}

// Unregister ends the mailbox registered as name (as Mailbox.Close) and
// closes its channel. Remote processes monitoring or linked to it get a
// DOWN or EXIT with reason normal. It reports whether the name was
// registered.
func (n *Node) Unregister(name string) bool {
	p := n.procs
	p.mu.Lock()
	mb := p.names[name]
	p.mu.Unlock()
	if mb == nil {
		return false
	}
	p.exit(mb, atomNormal)
	return true
}

// Send sends msg to the process registered as name on node to (REG_SEND),
// connecting first if needed. The sender is n.Pid(). Delivery is not
// confirmed, as in Erlang.
func (n *Node) Send(ctx context.Context, to libcluster.Node, name string, msg etf.Term) error {
	return n.sendNameFrom(ctx, n.pid, to, name, msg)
}

// SendPid sends msg to the process to (SEND), connecting to its node first
// if needed.
func (n *Node) SendPid(ctx context.Context, to etf.Pid, msg etf.Term) error {
	return n.sendPidFrom(ctx, n.pid, to, msg)
}

func (n *Node) sendNameFrom(ctx context.Context, from etf.Pid, to libcluster.Node, name string, msg etf.Term) error {
	if err := checkName(name); err != nil {
		return err
	}
	if to == n.self {
		n.procs.deliverName(name, Message{From: from, Body: msg})
		return nil
	}
	pkt, err := packet(etf.Tuple{int64(opRegSend), from, atomEmpty, etf.Atom(name)}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to {%s, %s}: %w", name, to, err)
	}
	return n.sendPacket(ctx, to, pkt)
}

func (n *Node) sendPidFrom(ctx context.Context, from, to etf.Pid, msg etf.Term) error {
	if libcluster.Node(to.Node) == n.self {
		n.procs.deliverPid(to, Message{From: from, Body: msg})
		return nil
	}
	var pkt []byte
	var err error
	pkt, err = packet(etf.Tuple{int64(opSend), atomEmpty, to}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to %v: %w", to, err)
	}
	return n.sendPacket(ctx, libcluster.Node(to.Node), pkt)
}
