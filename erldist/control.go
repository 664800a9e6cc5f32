package erldist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// Control message opcodes (DOP_*).
const (
	opLink            = 1
	opSend            = 2
	opExit            = 3
	opRegSend         = 6
	opGroupLeader     = 7
	opExit2           = 8
	opSendTT          = 12
	opExitTT          = 13
	opRegSendTT       = 16
	opExit2TT         = 18
	opMonitorP        = 19
	opDemonitorP      = 20
	opMonitorPExit    = 21
	opSendSender      = 22
	opSendSenderTT    = 23
	opPayloadExit     = 24
	opPayloadExitTT   = 25
	opPayloadExit2    = 26
	opPayloadExit2TT  = 27
	opPayloadMonExit  = 28
	opSpawnRequest    = 29
	opSpawnRequestTT  = 30
	opSpawnReply      = 31
	opSpawnReplyTT    = 32
	opAliasSend       = 33
	opAliasSendTT     = 34
	opUnlinkID        = 35
	opUnlinkIDAck     = 36
	opAltactSigSend   = 37
	netKernelName     = "net_kernel"
	maxAtomCharacters = 255
)

var (
	atomEmpty   = etf.Atom("")
	atomNoproc  = etf.Atom("noproc")
	atomNormal  = etf.Atom("normal")
	atomGenCall = etf.Atom("$gen_call")
)

// packet frames a control message and an optional payload in the
// pass-through form: [len:u32][112][131 ctrl][131 msg].
func packet(ctrl etf.Term, msg etf.Term, hasMsg bool) ([]byte, error) {
	b := make([]byte, 5, 128)
	b[4] = 112
	b, err := etf.AppendTerm(b, ctrl)
	if err != nil {
		return nil, err
	}
	if hasMsg {
		if b, err = etf.AppendTerm(b, msg); err != nil {
			return nil, err
		}
	}
	if len(b)-4 > math.MaxUint32 {
		return nil, errors.New("dist: message larger than 4 GiB cannot be sent")
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func malformed(op int64, ctrl etf.Tuple) error {
	return fmt.Errorf("malformed control message for opcode %d (arity %d)", op, len(ctrl))
}

// handlePacket processes one distribution packet from c. The control
// message is decoded first; an error in it means the peer broke the
// protocol, and the connection is closed. A payload that fails to decode
// only drops its message (see dropMessage).
func (n *Node) handlePacket(c *conn, p []byte) error {
	if p[0] != 112 {
		return errPassThrough
	}
	ct, rest, err := etf.DecodeNext(p[1:], n.limits)
	if err != nil {
		return fmt.Errorf("control message: %w", err)
	}
	ctrl, ok := ct.(etf.Tuple)
	if !ok || len(ctrl) == 0 {
		return errors.New("control message is not a non-empty tuple")
	}
	op, ok := ctrl[0].(int64)
	if !ok {
		return errors.New("control message does not start with an integer opcode")
	}
	var msg etf.Term
	hasMsg := len(rest) > 0
	if hasMsg {
		// The control message is valid, so the framing is intact: a payload
		// this node cannot read (a newer term format, a term over the
		// limits) costs that one message, not the connection.
		msg, rest, err = etf.DecodeNext(rest, n.limits)
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("%d trailing bytes after the payload", len(rest))
		}
		if err != nil {
			n.dropMessage(c, op, err)
			return nil
		}
	}
	switch op {
	case opSend, opSendTT, opSendSender, opSendSenderTT:
		want := map[int64]int{opSend: 3, opSendTT: 4, opSendSender: 3, opSendSenderTT: 4}[op]
		to, ok := ctrl[min(2, len(ctrl)-1)].(etf.Pid)
		if len(ctrl) != want || !ok || !hasMsg {
			return malformed(op, ctrl)
		}
		var from etf.Pid
		if op == opSendSender || op == opSendSenderTT {
			from, _ = ctrl[1].(etf.Pid)
		}
		n.deliverPid(to, Message{From: from, Body: msg})
	case opRegSend, opRegSendTT:
		from, ok1 := ctrl[min(1, len(ctrl)-1)].(etf.Pid)
		name, ok2 := ctrl[min(3, len(ctrl)-1)].(etf.Atom)
		if len(ctrl) != map[int64]int{opRegSend: 4, opRegSendTT: 5}[op] || !ok1 || !ok2 || !hasMsg {
			return malformed(op, ctrl)
		}
		if name == netKernelName {
			n.netKernel(c, msg)
			return nil
		}
		n.deliverName(string(name), Message{From: from, Body: msg})
	case opMonitorP:
		if len(ctrl) != 4 {
			return malformed(op, ctrl)
		}
		w, ok1 := ctrl[1].(etf.Pid)
		ref, ok2 := ctrl[3].(etf.Ref)
		if !ok1 || !ok2 {
			return malformed(op, ctrl)
		}
		n.monitor(c, w, ctrl[2], ref)
	case opDemonitorP:
		if len(ctrl) != 4 {
			return malformed(op, ctrl)
		}
		if ref, ok := ctrl[3].(etf.Ref); ok {
			n.demonitor(c, ctrl[2], ref)
		}
	case opLink:
		from, ok1 := ctrl[min(1, len(ctrl)-1)].(etf.Pid)
		to, ok2 := ctrl[min(2, len(ctrl)-1)].(etf.Pid)
		if len(ctrl) != 3 || !ok1 || !ok2 {
			return malformed(op, ctrl)
		}
		n.link(c, from, to)
	case opUnlinkID:
		if len(ctrl) != 4 {
			return malformed(op, ctrl)
		}
		from, ok1 := ctrl[2].(etf.Pid)
		to, ok2 := ctrl[3].(etf.Pid)
		if !ok1 || !ok2 {
			return malformed(op, ctrl)
		}
		// The ack must precede any other signal from To to From; it is
		// queued before anything else this goroutine sends.
		if pkt, err := packet(etf.Tuple{int64(opUnlinkIDAck), ctrl[1], to, from}, nil, false); err == nil {
			c.sendNow(pkt)
		}
		n.unlink(c, from, to)
	case opExit, opExitTT, opPayloadExit, opPayloadExitTT:
		if len(ctrl) >= 3 {
			from, _ := ctrl[1].(etf.Pid)
			to, _ := ctrl[2].(etf.Pid)
			n.unlink(c, from, to)
		}
	case opExit2, opExit2TT, opPayloadExit2, opPayloadExit2TT,
		opMonitorPExit, opPayloadMonExit, opGroupLeader, opUnlinkIDAck,
		opAliasSend, opAliasSendTT, opSpawnReply, opSpawnReplyTT:
		// Signals for processes this node does not have; nothing to do.
	case opSpawnRequest, opSpawnRequestTT, opAltactSigSend:
		// Not negotiated, so a conforming peer never sends them.
		n.log.Debug("dist: ignoring a signal that was not negotiated", "peer", string(c.peer), "op", op)
	default:
		n.log.Debug("dist: ignoring an unknown control message", "peer", string(c.peer), "op", op)
	}
	return nil
}

// dropMessage counts and logs (rate-limited) a message whose payload could
// not be decoded.
func (n *Node) dropMessage(c *conn, op int64, err error) {
	n.dropped.Add(1)
	if ok, sum := n.dropLog.Note(string(c.peer)); ok {
		n.log.Warn("dist: dropped messages whose payload cannot be decoded; the connection stays up",
			"dropped", sum.Count, "peers", sum.Sources, "last_peer", string(c.peer), "last_op", op, "last_err", err,
			"dropped_total", n.dropped.Load())
	}
}

// DroppedMessages returns how many messages this node dropped because their
// payload could not be decoded (a term format it does not know, such as an
// OTP 29 native record, or a term over its decode limits).
func (n *Node) DroppedMessages() uint64 { return n.dropped.Load() }

// netKernel answers gen_server calls to net_kernel: is_auth (net_adm:ping)
// with yes, spawn requests with notsup, anything else with an error.
func (n *Node) netKernel(c *conn, msg etf.Term) {
	t, ok := msg.(etf.Tuple)
	if !ok || len(t) != 3 || t[0] != atomGenCall {
		return
	}
	from, ok := t[1].(etf.Tuple)
	if !ok || len(from) != 2 {
		return
	}
	pid, ok := from[0].(etf.Pid)
	if !ok || pid.Node != etf.Atom(c.peer) {
		return
	}
	var reply etf.Term = etf.Tuple{etf.Atom("error"), etf.Atom("notsup")}
	if req, ok := t[2].(etf.Tuple); ok && len(req) > 0 {
		switch req[0] {
		case etf.Atom("is_auth"):
			reply = etf.Atom("yes")
		case etf.Atom("spawn"), etf.Atom("spawn_link"), etf.Atom("spawn_opt"):
			reply = etf.Tuple{etf.Atom("EXIT"), etf.Tuple{etf.Atom("notsup"), etf.List{}}}
		}
	}
	pkt, err := packet(etf.Tuple{int64(opSend), atomEmpty, pid}, etf.Tuple{from[1], reply}, true)
	if err != nil {
		n.log.Debug("dist: cannot encode the net_kernel reply", "err", err)
		return
	}
	c.sendNow(pkt)
}

// lookupLocked finds a registered name or pid of this node.
func (n *Node) pidMailboxLocked(p etf.Pid) *mailbox {
	if p.Node != etf.Atom(n.self) || p.Creation != n.creation {
		return nil
	}
	return n.byPid[p.ID]
}

func (n *Node) deliverLocked(mb *mailbox, m Message) {
	if mb == nil || mb.closed {
		return
	}
	select {
	case mb.ch <- m:
	default:
		n.log.Warn("dist: mailbox full; message dropped (read faster or raise Config.MailboxSize)", "name", mb.name)
	}
}

func (n *Node) deliverPid(to etf.Pid, m Message) {
	n.mu.Lock()
	n.deliverLocked(n.pidMailboxLocked(to), m)
	n.mu.Unlock()
}

func (n *Node) deliverName(name string, m Message) {
	n.mu.Lock()
	n.deliverLocked(n.names[name], m)
	n.mu.Unlock()
}

func (n *Node) monitor(c *conn, w etf.Pid, target etf.Term, ref etf.Ref) {
	n.mu.Lock()
	var mb *mailbox
	exists := false
	switch t := target.(type) {
	case etf.Atom:
		mb = n.names[string(t)]
		exists = mb != nil || t == netKernelName
	case etf.Pid:
		mb = n.pidMailboxLocked(t)
		exists = mb != nil || t == n.pid
	}
	if mb != nil {
		mb.mons = append(mb.mons, remoteMon{c: c, watcher: w, target: target, ref: ref})
	}
	n.mu.Unlock()
	if !exists {
		if pkt, err := packet(etf.Tuple{int64(opMonitorPExit), target, w, ref, atomNoproc}, nil, false); err == nil {
			c.sendNow(pkt)
		}
	}
}

func (n *Node) demonitor(c *conn, target etf.Term, ref etf.Ref) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var mb *mailbox
	switch t := target.(type) {
	case etf.Atom:
		mb = n.names[string(t)]
	case etf.Pid:
		mb = n.pidMailboxLocked(t)
	}
	if mb == nil {
		return
	}
	for i, m := range mb.mons {
		if m.c == c && etf.Equal(m.ref, ref) {
			mb.mons = append(mb.mons[:i], mb.mons[i+1:]...)
			return
		}
	}
}

func (n *Node) link(c *conn, from, to etf.Pid) {
	n.mu.Lock()
	mb := n.pidMailboxLocked(to)
	if mb != nil {
		mb.links = append(mb.links, remoteLink{c: c, from: from})
	}
	exists := mb != nil || to == n.pid
	n.mu.Unlock()
	if !exists {
		if pkt, err := packet(etf.Tuple{int64(opExit), to, from, atomNoproc}, nil, false); err == nil {
			c.sendNow(pkt)
		}
	}
}

func (n *Node) unlink(c *conn, from, to etf.Pid) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mb := n.pidMailboxLocked(to)
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

// dropRemoteLocked forgets monitors and links held through c.
func (n *Node) dropRemoteLocked(c *conn) {
	for _, mb := range n.names {
		mons := mb.mons[:0]
		for _, m := range mb.mons {
			if m.c != c {
				mons = append(mons, m)
			}
		}
		mb.mons = mons
		links := mb.links[:0]
		for _, l := range mb.links {
			if l.c != c {
				links = append(links, l)
			}
		}
		mb.links = links
	}
}

func checkName(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAtomCharacters {
		return fmt.Errorf("dist: invalid registered name %q; use 1 to %d characters of valid UTF-8", name, maxAtomCharacters)
	}
	return nil
}

// Register registers name on this node and returns the channel its
// messages arrive on. Erlang code reaches it as {Name, GoNode} ! Msg. The
// channel is closed by Unregister or Close.
func (n *Node) Register(name string) (<-chan Message, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if name == netKernelName {
		return nil, fmt.Errorf("dist: the name %s is served by the node itself; pick another", name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if n.names[name] != nil {
		return nil, fmt.Errorf("dist: the name %q is already registered on %s; unregister it first", name, n.self)
	}
	n.nextPid++
	mb := &mailbox{
		name: name,
		pid:  etf.Pid{Node: etf.Atom(n.self), ID: n.nextPid, Creation: n.creation},
		ch:   make(chan Message, n.cfg.MailboxSize),
	}
	n.names[name] = mb
	n.byPid[mb.pid.ID] = mb
	return mb.ch, nil
}

// RegisteredPid returns the pid of a registered name, which peers may use
// as a message destination too.
func (n *Node) RegisteredPid(name string) (etf.Pid, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mb := n.names[name]
	if mb == nil {
		return etf.Pid{}, false
	}
	return mb.pid, true
}

// Unregister removes a registered name and closes its channel. Remote
// processes monitoring or linked to it get a DOWN or EXIT with reason
// normal. It reports whether the name was registered.
func (n *Node) Unregister(name string) bool {
	n.mu.Lock()
	mb := n.names[name]
	if mb == nil {
		n.mu.Unlock()
		return false
	}
	delete(n.names, name)
	delete(n.byPid, mb.pid.ID)
	mb.closed = true
	close(mb.ch)
	mons, links := mb.mons, mb.links
	n.mu.Unlock()
	for _, m := range mons {
		if pkt, err := packet(etf.Tuple{int64(opMonitorPExit), m.target, m.watcher, m.ref, atomNormal}, nil, false); err == nil {
			m.c.sendNow(pkt)
		}
	}
	for _, l := range links {
		if pkt, err := packet(etf.Tuple{int64(opExit), mb.pid, l.from, atomNormal}, nil, false); err == nil {
			l.c.sendNow(pkt)
		}
	}
	return true
}

// Send sends msg to the process registered as name on node to (REG_SEND),
// connecting first if needed. The sender is n.Pid(). Delivery is not
// confirmed, as in Erlang.
func (n *Node) Send(ctx context.Context, to libcluster.Node, name string, msg etf.Term) error {
	if err := checkName(name); err != nil {
		return err
	}
	if to == n.self {
		n.deliverName(name, Message{From: n.pid, Body: msg})
		return nil
	}
	pkt, err := packet(etf.Tuple{int64(opRegSend), n.pid, atomEmpty, etf.Atom(name)}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to {%s, %s}: %w", name, to, err)
	}
	return n.sendPacket(ctx, to, pkt)
}

// SendPid sends msg to the process to (SEND), connecting to its node first
// if needed.
func (n *Node) SendPid(ctx context.Context, to etf.Pid, msg etf.Term) error {
	if libcluster.Node(to.Node) == n.self {
		n.deliverPid(to, Message{From: n.pid, Body: msg})
		return nil
	}
	pkt, err := packet(etf.Tuple{int64(opSend), atomEmpty, to}, msg, true)
	if err != nil {
		return fmt.Errorf("dist: send to %v: %w", to, err)
	}
	return n.sendPacket(ctx, libcluster.Node(to.Node), pkt)
}

func (n *Node) sendPacket(ctx context.Context, to libcluster.Node, pkt []byte) error {
	c, err := n.connect(ctx, to)
	if err != nil {
		return err
	}
	return c.send(ctx, pkt)
}
