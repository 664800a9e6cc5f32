package epmd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout bounds one client request when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Client talks to one EPMD. The zero value talks to 127.0.0.1 on Port().
type Client struct {
	// Host is the EPMD host; "" means "127.0.0.1".
	Host string
	// Port is the EPMD port; 0 means Port().
	Port int
	// Timeout bounds each request (dial, write and read) and the
	// registration handshake; 0 means DefaultTimeout.
	Timeout time.Duration

	// dial, when set, replaces TCP dialing (used by Keeper to register with
	// its in-process server over a pipe).
	dial func(ctx context.Context) (net.Conn, error)
}

func (c *Client) addr() string {
	host, port := c.Host, c.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = Port()
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// connect dials EPMD within the client timeout.
func (c *Client) connect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var conn net.Conn
	var err error
	if c.dial != nil {
		conn, err = c.dial(ctx)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", c.addr())
	}
	if err != nil && ctx.Err() == nil && errors.Is(err, syscall.ECONNRESET) {
		// The listener took the connection and reset it before connect
		// returned: something listens there and closes at once, as an
		// EPMD at its connection limit does.
		return nil, fmt.Errorf("epmd: EPMD at %s closed the connection without answering; it is overloaded (too many connections or registrations) or not an EPMD: %w", c.addr(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("epmd: cannot reach EPMD at %s (is epmd or a node with an embedded EPMD running? set ERL_EPMD_PORT if it uses another port): %w", c.addr(), err)
	}
	return conn, nil
}

// roundTrip sends one framed request and reads the reply until EOF, at most max bytes.
func (c *Client) roundTrip(ctx context.Context, req []byte, max int64) ([]byte, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(frame(req)); err != nil {
		return nil, c.ioErr(ctx, "send request to", err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, max+1))
	if err != nil {
		return nil, c.ioErr(ctx, "read reply from", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("epmd: reply from %s exceeds %d bytes; is this an EPMD?", c.addr(), max)
	}
	return b, nil
}

func (c *Client) ioErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("epmd: %s EPMD at %s: %w", what, c.addr(), err)
}

// Names asks EPMD for all registered nodes (NAMES_REQ).
func (c *Client) Names(ctx context.Context) ([]NameEntry, error) {
	b, err := c.roundTrip(ctx, []byte{tagNamesReq}, maxNamesRespLen)
	if err != nil {
		return nil, err
	}
	_, names, err := parseNames(b)
	if err != nil {
		return nil, fmt.Errorf("epmd: names from %s: %w", c.addr(), err)
	}
	return names, nil
}

// PortPlease looks up the node registered as name (PORT_PLEASE2_REQ); name
// is the part before '@'. When EPMD has no such node the error wraps
// ErrNotRegistered.
func (c *Client) PortPlease(ctx context.Context, name string) (NodeInfo, error) {
	if err := ValidateName(name); err != nil {
		return NodeInfo{}, err
	}
	b, err := c.roundTrip(ctx, append([]byte{tagPortPlease2}, name...), maxPort2RespLen)
	if err != nil {
		return NodeInfo{}, err
	}
	n, found, err := parsePort2Resp(b)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("epmd: port of %q from %s: %w", name, c.addr(), err)
	}
	if !found {
		return NodeInfo{}, fmt.Errorf("%w: no node %q at EPMD %s (is the node running on that host?)", ErrNotRegistered, name, c.addr())
	}
	return n, nil
}

// Register registers n with EPMD and keeps the connection open; the name
// stays registered until the returned Registration is closed or the
// connection is lost. Zero NodeType and versions default to NodeTypeNormal
// and 6/6. It accepts both the ALIVE2_X_RESP (32-bit creation) and the old
// ALIVE2_RESP (16-bit creation) reply. A refusal wraps ErrNameInUse.
// EPMD accepts registrations from the local host only.
func (c *Client) Register(ctx context.Context, n NodeInfo) (*Registration, error) {
	n, err := n.normalize()
	if err != nil {
		return nil, err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	creation, err := c.alive(ctx, conn, n)
	if err != nil {
		conn.Close()
		return nil, err
	}
	r := &Registration{node: n, creation: creation, conn: conn, done: make(chan struct{})}
	go r.watch()
	return r, nil
}

// alive performs the ALIVE2 exchange on conn.
func (c *Client) alive(ctx context.Context, conn net.Conn, n NodeInfo) (uint32, error) {
	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(encodeAlive2Req(n)); err != nil {
		return 0, c.ioErr(ctx, "send ALIVE2_REQ to", err)
	}
	var buf [6]byte
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		if ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
			return 0, fmt.Errorf("epmd: EPMD at %s closed the connection without answering the registration; it is overloaded (too many connections or registrations) or not an EPMD: %w", c.addr(), err)
		}
		return 0, c.ioErr(ctx, "read ALIVE2 reply from", err)
	}
	var creation uint32
	switch buf[0] {
	case tagAlive2XResp:
		if _, err := io.ReadFull(conn, buf[2:6]); err != nil {
			return 0, c.ioErr(ctx, "read ALIVE2_X_RESP from", err)
		}
		creation = binary.BigEndian.Uint32(buf[2:])
	case tagAlive2Resp:
		if _, err := io.ReadFull(conn, buf[2:4]); err != nil {
			return 0, c.ioErr(ctx, "read ALIVE2_RESP from", err)
		}
		creation = uint32(binary.BigEndian.Uint16(buf[2:]))
	default:
		return 0, fmt.Errorf("epmd: unexpected reply tag %d to ALIVE2_REQ from %s; is this an EPMD?", buf[0], c.addr())
	}
	if buf[1] != 0 {
		return 0, fmt.Errorf("%w: EPMD at %s refused %q (result %d); stop the other node of that name or pick another name", ErrNameInUse, c.addr(), n.Name, buf[1])
	}
	if creation == 0 {
		return 0, fmt.Errorf("epmd: EPMD at %s answered creation 0, which OTP nodes reject; use a newer EPMD", c.addr())
	}
	// Detach ctx before clearing the deadline, so that a late cancellation
	// cannot break the registration that now outlives this call.
	if !stop() {
		return 0, c.ioErr(ctx, "register with", ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return creation, nil
}

// Registration is a live EPMD registration: the open ALIVE2 connection.
// Nothing may be sent on it; closing it unregisters the name.
type Registration struct {
	node     NodeInfo
	creation uint32
	conn     net.Conn
	done     chan struct{}
	once     sync.Once
	err      error
}

// Node returns the registered node (with defaults filled in).
func (r *Registration) Node() NodeInfo { return r.node }

// Creation returns the creation number EPMD assigned (nonzero).
func (r *Registration) Creation() uint32 { return r.creation }

// Done returns a channel closed when the registration ends: the EPMD
// connection was lost or Close was called.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Err returns why the registration ended, once Done is closed: nil after
// Close, else the connection error.
func (r *Registration) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// watch waits for EPMD to close the connection (or send anything, which the
// protocol does not allow) and marks the registration as lost.
func (r *Registration) watch() {
	var b [1]byte
	_, err := r.conn.Read(b[:])
	if err == nil {
		err = errors.New("epmd sent unexpected data on the registration connection")
	}
	r.end(fmt.Errorf("epmd: registration of %q lost: %w", r.node.Name, err))
}

func (r *Registration) end(err error) {
	r.once.Do(func() {
		r.err = err
		r.conn.Close()
		close(r.done)
	})
}

// Close unregisters the name by closing the connection. It is safe to call
// more than once and after the connection was lost.
func (r *Registration) Close() error {
	r.end(nil)
	return nil
}
