package erldist

import (
	"bufio"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrBadCookie means the peer's digest did not match this node's
	// cookie: the two nodes use different cookies.
	ErrBadCookie = errors.New("dist: cookie mismatch: the peer answered the challenge with a different cookie; give both nodes the same cookie (erl -setcookie, ~/.erlang.cookie or Config.Cookie)")
	// ErrNotAllowed means the peer refused the connection (status
	// not_allowed): it does not accept this node's name or flags.
	ErrNotAllowed = errors.New("dist: the peer refused the connection (not_allowed); check its net_kernel:allow/1 list and that it runs OTP 25 or later")
	// ErrClosed is returned by operations on a closed Node.
	ErrClosed = errors.New("dist: node is closed")
)

// errNok means the peer keeps its own simultaneous attempt to this node.
var errNok = errors.New("dist: the peer is connecting to this node at the same time and its attempt wins (nok)")

// hsConn carries handshake messages: [len:u16][payload] frames with a
// deadline per step; [len:u32][payload] over TLS, as OTP's inet_tls_dist
// frames the handshake ({packet, 4}).
type hsConn struct {
	rw      io.Writer
	br      *bufio.Reader
	dl      interface{ SetDeadline(time.Time) error } // may be nil
	timeout time.Duration
	len32   bool // 4-byte lengths (TLS distribution)
}

func (h *hsConn) arm() {
	if h.dl != nil && h.timeout > 0 {
		_ = h.dl.SetDeadline(time.Now().Add(h.timeout))
	}
}

// readFrame reads one handshake frame. Its length is at most 65535 (by
// construction with 2-byte lengths, checked with 4-byte ones), so nothing
// read here is unbounded.
func (h *hsConn) readFrame(step string) ([]byte, error) {
	h.arm()
	hdr := make([]byte, 2, 4)
	if h.len32 {
		hdr = hdr[:4]
	}
	if _, err := io.ReadFull(h.br, hdr); err != nil {
		return nil, fmt.Errorf("dist: handshake: reading %s: %w", step, err)
	}
	n := int(binary.BigEndian.Uint16(hdr[len(hdr)-2:]))
	if h.len32 && binary.BigEndian.Uint16(hdr) != 0 {
		return nil, fmt.Errorf("dist: handshake: %s frame of %d bytes, more than the 65535 a handshake message can have", step, binary.BigEndian.Uint32(hdr))
	}
	if n == 0 {
		return nil, fmt.Errorf("dist: handshake: empty %s frame; the peer does not speak the Erlang distribution protocol", step)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(h.br, p); err != nil {
		return nil, fmt.Errorf("dist: handshake: reading %s: %w", step, err)
	}
	return p, nil
}

func (h *hsConn) writeFrame(p []byte) error {
	h.arm()
	var buf []byte
	if h.len32 {
		buf = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(p)), uint32(len(p)))
	} else {
		buf = binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(p)), uint16(len(p)))
	}
	buf = append(buf, p...)
	_, err := h.rw.Write(buf)
	if err != nil {
		return fmt.Errorf("dist: handshake: writing: %w", err)
	}
	return nil
}

// hsConfig is this node's side of a handshake.
type hsConfig struct {
	self     string
	creation uint32
	flags    uint64
	cookie   []byte // Latin-1 bytes
}

// hsResult describes an established connection.
type hsResult struct {
	peer     libcluster.Node
	flags    uint64 // negotiated: ours AND the peer's (expanded)
	creation uint32 // the peer's creation
	alive    bool   // the acceptor answered "alive" and the initiator confirmed
}

func digest(cookie []byte, challenge uint32) [16]byte {
	b := make([]byte, 0, len(cookie)+10)
	b = append(b, cookie...)
	b = strconv.AppendUint(b, uint64(challenge), 10)
	return md5.Sum(b)
}

func newChallenge() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func appendName(b []byte, name string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

// initiate runs the initiator (A) side against the node want. aliveOK is
// asked when the acceptor reports an existing connection ("alive"): true
// means the old connection is gone and this attempt should replace it.
func initiate(h *hsConn, cfg hsConfig, want libcluster.Node, aliveOK func() bool) (hsResult, error) {
	// send_name
	msg := []byte{'N'}
	msg = binary.BigEndian.AppendUint64(msg, cfg.flags)
	msg = binary.BigEndian.AppendUint32(msg, cfg.creation)
	msg = appendName(msg, cfg.self)
	if err := h.writeFrame(msg); err != nil {
		return hsResult{}, err
	}
	// recv_status
	st, err := h.readFrame("status")
	if err != nil {
		if !h.len32 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return hsResult{}, fmt.Errorf("%w; the peer closed the connection without answering: does it use TLS distribution (-proto_dist inet_tls, node.tls)?", err)
		}
		return hsResult{}, err
	}
	if st[0] != 's' {
		return hsResult{}, fmt.Errorf("dist: handshake with %s: expected a status message ('s'), got tag %d", want, st[0])
	}
	res := hsResult{peer: want}
	switch status := string(st[1:]); status {
	case "ok", "ok_simultaneous":
	case "nok":
		return hsResult{}, errNok
	case "not_allowed":
		return hsResult{}, ErrNotAllowed
	case "alive":
		ok := aliveOK()
		ans := "sfalse"
		if ok {
			ans = "strue"
		}
		if err := h.writeFrame([]byte(ans)); err != nil {
			return hsResult{}, err
		}
		if !ok {
			return hsResult{}, fmt.Errorf("dist: handshake with %s: already connected", want)
		}
		res.alive = true
	default:
		if len(status) > 40 {
			status = status[:40]
		}
		return hsResult{}, fmt.Errorf("dist: handshake with %s: unexpected status %q", want, status)
	}
	// recv_challenge
	ch, err := h.readFrame("challenge")
	if err != nil {
		return hsResult{}, err
	}
	if ch[0] != 'N' || len(ch) < 19 {
		return hsResult{}, fmt.Errorf("dist: handshake with %s: malformed challenge (tag %d, %d bytes); the peer must speak handshake version 6 (OTP 23 or later)", want, ch[0], len(ch))
	}
	peerFlags := expandFlags(binary.BigEndian.Uint64(ch[1:9]))
	challenge := binary.BigEndian.Uint32(ch[9:13])
	res.creation = binary.BigEndian.Uint32(ch[13:17])
	nlen := int(binary.BigEndian.Uint16(ch[17:19]))
	if nlen > len(ch)-19 {
		return hsResult{}, fmt.Errorf("dist: handshake with %s: challenge name length %d exceeds the message", want, nlen)
	}
	if got := string(ch[19 : 19+nlen]); got != string(want) {
		return hsResult{}, fmt.Errorf("dist: handshake: dialled %s but the node there is named %q; use the exact name the node was started with", want, got)
	}
	if err := checkMandatory(string(want), peerFlags); err != nil {
		return hsResult{}, err
	}
	res.flags = cfg.flags & peerFlags
	// send_challenge_reply
	mine := newChallenge()
	d := digest(cfg.cookie, challenge)
	reply := []byte{'r'}
	reply = binary.BigEndian.AppendUint32(reply, mine)
	reply = append(reply, d[:]...)
	if err := h.writeFrame(reply); err != nil {
		return hsResult{}, err
	}
	// recv_challenge_ack
	ack, err := h.readFrame("challenge ack")
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return hsResult{}, fmt.Errorf("dist: handshake with %s: the peer closed the connection after the challenge reply; most likely a cookie mismatch (%w)", want, ErrBadCookie)
		}
		return hsResult{}, err
	}
	if ack[0] != 'a' || len(ack) != 17 {
		return hsResult{}, fmt.Errorf("dist: handshake with %s: malformed challenge ack (tag %d, %d bytes)", want, ack[0], len(ack))
	}
	want16 := digest(cfg.cookie, mine)
	if subtle.ConstantTimeCompare(ack[1:], want16[:]) != 1 {
		return hsResult{}, fmt.Errorf("dist: handshake with %s: invalid challenge ack: %w", want, ErrBadCookie)
	}
	return res, nil
}

// accept runs the acceptor (B) side. admit decides the status for the
// named peer: "ok", "ok_simultaneous", "nok", "alive" or "not_allowed".
func accept(h *hsConn, cfg hsConfig, admit func(peer libcluster.Node) string) (hsResult, error) {
	nm, err := h.readFrame("name")
	if err != nil {
		return hsResult{}, err
	}
	var (
		peerFlags      uint64
		res            hsResult
		name           string
		needComplement bool
	)
	switch {
	case nm[0] == 'N' && len(nm) >= 15:
		peerFlags = binary.BigEndian.Uint64(nm[1:9])
		res.creation = binary.BigEndian.Uint32(nm[9:13])
		nlen := int(binary.BigEndian.Uint16(nm[13:15]))
		if nlen > len(nm)-15 {
			return hsResult{}, fmt.Errorf("dist: handshake: name length %d exceeds the message", nlen)
		}
		name = string(nm[15 : 15+nlen])
	case nm[0] == 'n' && len(nm) >= 7:
		// Old send_name, sent by OTP 23/24 nodes that skip epmd; it must
		// announce HANDSHAKE_23 and sends the high flags and its creation
		// in a complement after our challenge.
		peerFlags = uint64(binary.BigEndian.Uint32(nm[3:7]))
		name = string(nm[7:])
		if peerFlags&flagHandshake23 == 0 {
			_ = h.writeFrame([]byte("snot_allowed"))
			return hsResult{}, fmt.Errorf("dist: handshake: peer %q uses handshake version 5 only; OTP 23 or later is required", name)
		}
		needComplement = true
	default:
		return hsResult{}, fmt.Errorf("dist: handshake: expected a name message ('N'), got tag %d with %d bytes; the peer does not speak the Erlang distribution protocol", nm[0], len(nm))
	}
	peer, err := libcluster.ParseNode(name)
	if err != nil {
		_ = h.writeFrame([]byte("snot_allowed"))
		return hsResult{}, fmt.Errorf("dist: handshake: %w", err)
	}
	res.peer = peer
	if peerFlags&flagNameMe != 0 {
		_ = h.writeFrame([]byte("snot_allowed"))
		return hsResult{}, fmt.Errorf("dist: handshake: %s asked for a dynamic name, which this node does not hand out; start it with a name", peer)
	}
	peerFlags = expandFlags(peerFlags)
	if !needComplement {
		if err := checkMandatory(name, peerFlags); err != nil {
			_ = h.writeFrame([]byte("snot_allowed"))
			return hsResult{}, err
		}
	}
	status := admit(peer)
	if err := h.writeFrame([]byte("s" + status)); err != nil {
		return hsResult{}, err
	}
	switch status {
	case "ok", "ok_simultaneous":
	case "alive":
		ans, err := h.readFrame("alive answer")
		if err != nil {
			return hsResult{}, err
		}
		switch string(ans) {
		case "strue":
			res.alive = true
		case "sfalse":
			return hsResult{}, fmt.Errorf("dist: handshake: %s is already connected", peer)
		default:
			return hsResult{}, fmt.Errorf("dist: handshake: %s sent a malformed answer to status alive", peer)
		}
	case "nok":
		return hsResult{}, errNok
	default:
		return hsResult{}, fmt.Errorf("dist: handshake: refused %s (%s)", peer, status)
	}
	// send_challenge
	mine := newChallenge()
	msg := []byte{'N'}
	msg = binary.BigEndian.AppendUint64(msg, cfg.flags)
	msg = binary.BigEndian.AppendUint32(msg, mine)
	msg = binary.BigEndian.AppendUint32(msg, cfg.creation)
	msg = appendName(msg, cfg.self)
	if err := h.writeFrame(msg); err != nil {
		return hsResult{}, err
	}
	if needComplement {
		c, err := h.readFrame("complement")
		if err != nil {
			return hsResult{}, err
		}
		if c[0] != 'c' || len(c) != 9 {
			return hsResult{}, fmt.Errorf("dist: handshake: %s sent a malformed complement (tag %d, %d bytes)", peer, c[0], len(c))
		}
		peerFlags = expandFlags(peerFlags | uint64(binary.BigEndian.Uint32(c[1:5]))<<32)
		res.creation = binary.BigEndian.Uint32(c[5:9])
		if err := checkMandatory(name, peerFlags); err != nil {
			return hsResult{}, err
		}
	}
	// recv_challenge_reply
	r, err := h.readFrame("challenge reply")
	if err != nil {
		return hsResult{}, err
	}
	if r[0] != 'r' || len(r) != 21 {
		return hsResult{}, fmt.Errorf("dist: handshake: %s sent a malformed challenge reply (tag %d, %d bytes)", peer, r[0], len(r))
	}
	theirs := binary.BigEndian.Uint32(r[1:5])
	want := digest(cfg.cookie, mine)
	if subtle.ConstantTimeCompare(r[5:21], want[:]) != 1 {
		return hsResult{}, fmt.Errorf("dist: handshake: connection attempt from %s rejected, invalid challenge reply: %w", peer, ErrBadCookie)
	}
	d := digest(cfg.cookie, theirs)
	if err := h.writeFrame(append([]byte{'a'}, d[:]...)); err != nil {
		return hsResult{}, err
	}
	res.flags = cfg.flags & peerFlags
	return res, nil
}
