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
func (n *Node) handlePacket(c peerLink, p []byte) error {
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
			switch op {
			case opPayloadExit, opPayloadExitTT, opPayloadExit2, opPayloadExit2TT, opPayloadMonExit, opSpawnRequest, opSpawnRequestTT:
				// The signal itself still counts: deliver it with a
				// reason that says what could not be read (a spawn
				// request is refused with badarg).
				msg = Undecodable{Err: err}
			default:
				return nil
			}
		}
	}
	if ok, err := n.procs.handle(c, op, ctrl, msg, hasMsg); ok || err != nil {
		return err
	}
	switch op {
	case opGroupLeader, opUnlinkIDAck, opSpawnReply, opSpawnReplyTT:
		// Signals for processes this node does not have; nothing to do.
	case opSpawnRequest, opSpawnRequestTT:
		return n.spawnRequest(c, op, ctrl, msg, hasMsg)
	case opAltactSigSend:
		// Not negotiated, so a conforming peer never sends it.
		n.log.Debug("dist: ignoring a signal that was not negotiated", "peer", string(c.peerNode()), "op", op)
	default:
		n.log.Debug("dist: ignoring an unknown control message", "peer", string(c.peerNode()), "op", op)
	}
	return nil
}

// dropMessage counts and logs (rate-limited) a message whose payload could
// not be decoded.
func (n *Node) dropMessage(c peerLink, op int64, err error) {
	n.dropped.Add(1)
	if ok, sum := n.dropLog.Note(string(c.peerNode())); ok {
		n.log.Warn("dist: dropped messages whose payload cannot be decoded; the connection stays up",
			"dropped", sum.Count, "peers", sum.Sources, "last_peer", string(c.peerNode()), "last_op", op, "last_err", err,
			"dropped_total", n.dropped.Load())
	}
}

// DroppedMessages returns how many messages this node dropped because their
// payload could not be decoded (a term format it does not know, such as an
// OTP 29 native record, or a term over its decode limits).
func (n *Node) DroppedMessages() uint64 { return n.dropped.Load() }

// netKernel answers gen_server calls to net_kernel: is_auth (net_adm:ping)
// with yes, spawn requests with notsup, anything else with an error.
func (n *Node) netKernel(c peerLink, msg etf.Term) {
	t, ok := msg.(etf.Tuple)
	if !ok || len(t) != 3 || t[0] != atomGenCall {
		return
	}
	from, ok := t[1].(etf.Tuple)
	if !ok || len(from) != 2 {
		return
	}
	pid, ok := from[0].(etf.Pid)
	if !ok || pid.Node != etf.Atom(c.peerNode()) {
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

func checkName(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAtomCharacters {
		return fmt.Errorf("dist: invalid registered name %q; use 1 to %d characters of valid UTF-8", name, maxAtomCharacters)
	}
	return nil
}

func (n *Node) sendPacket(ctx context.Context, to libcluster.Node, pkt []byte) error {
	c, err := n.connect(ctx, to)
	if err != nil {
		return err
	}
	return c.send(ctx, pkt)
}
