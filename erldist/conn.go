package erldist

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libcluster-go/libcluster"
)

// conn is one established distribution connection.
type conn struct {
	n         *Node
	nc        net.Conn
	br        *bufio.Reader
	peer      libcluster.Node
	flags     uint64
	creation  uint32
	initiator libcluster.Node

	out    chan []byte   // framed packets for the writer
	closed chan struct{} // closed by shut
	gone   chan struct{} // closed when both loops ended and the node was told
	once   sync.Once
	reason string

	reads    atomic.Uint64 // packets received, ticks included
	wrote    atomic.Bool   // a packet was written since the last tick check
	loopsEnd atomic.Int32
}

func newConn(n *Node, nc net.Conn) *conn {
	return &conn{
		n:      n,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 64<<10),
		out:    make(chan []byte, 256),
		closed: make(chan struct{}),
		gone:   make(chan struct{}),
	}
}

// handshakeBufferSize is the read buffer of a connection in the handshake;
// the 64 KiB one of newConn is allocated once the peer is authenticated.
const handshakeBufferSize = 512

// newConnAfterHandshake makes the connection for nc whose handshake was
// read through hs, keeping any bytes hs read beyond it.
func newConnAfterHandshake(n *Node, nc net.Conn, hs *bufio.Reader) *conn {
	c := newConn(n, nc)
	if k := hs.Buffered(); k > 0 {
		early, _ := hs.Peek(k)
		c.br.Reset(io.MultiReader(bytes.NewReader(bytes.Clone(early)), nc))
	}
	return c
}

// shut closes the connection once, remembering the first reason.
func (c *conn) shut(reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.closed)
		c.nc.Close()
	})
}

// loopDone is called by each of the two loops; the last one reports the
// node down.
func (c *conn) loopDone() {
	if c.loopsEnd.Add(1) == 2 {
		c.n.down(c, c.reason)
		close(c.gone)
	}
	c.n.wg.Done()
}

// send queues one framed packet.
func (c *conn) send(ctx context.Context, pkt []byte) error {
	select {
	case <-c.closed:
		return fmt.Errorf("dist: connection to %s closed (%s)", c.peer, c.reason)
	default:
	}
	select {
	case c.out <- pkt:
		return nil
	case <-c.closed:
		return fmt.Errorf("dist: connection to %s closed (%s)", c.peer, c.reason)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendNow queues a packet from the reader goroutine without blocking it
// for long: a reply that cannot be queued within the tick time means the
// peer does not read, and the connection is closed.
func (c *conn) sendNow(pkt []byte) {
	select {
	case c.out <- pkt:
		return
	default:
	}
	t := time.NewTimer(c.n.cfg.TickTime)
	defer t.Stop()
	select {
	case c.out <- pkt:
	case <-c.closed:
	case <-t.C:
		c.shut("send_queue_full")
	}
}

var tick = []byte{0, 0, 0, 0}

func (c *conn) writeLoop() {
	defer c.loopDone()
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	interval := c.n.cfg.TickTime / 4
	t := time.NewTicker(interval)
	defer t.Stop()
	lastReads, idle := c.reads.Load(), 0
	write := func(p []byte) bool {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.n.cfg.TickTime))
		if _, err := bw.Write(p); err != nil {
			c.shut("connection_closed")
			return false
		}
		return true
	}
	for {
		select {
		case p := <-c.out:
			if !write(p) {
				return
			}
			for more := true; more; {
				select {
				case p := <-c.out:
					if !write(p) {
						return
					}
				default:
					more = false
				}
			}
			if err := bw.Flush(); err != nil {
				c.shut("connection_closed")
				return
			}
			c.wrote.Store(true)
		case <-t.C:
			if c.n.paused.Load() {
				lastReads, idle = c.reads.Load(), 0
				continue
			}
			r := c.reads.Load()
			if !c.wrote.Swap(false) || r == lastReads {
				if !write(tick) || bw.Flush() != nil {
					c.shut("connection_closed")
					return
				}
			}
			if r == lastReads {
				idle++
				if idle >= 4 {
					c.n.log.Warn("dist: node not responding; removing the connection", "peer", string(c.peer), "ticktime", c.n.cfg.TickTime)
					c.shut("net_tick_timeout")
					return
				}
			} else {
				lastReads, idle = r, 0
			}
		case <-c.closed:
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.loopDone()
	var hdr [4]byte
	max := c.n.cfg.MaxMessageSize
	for {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			c.shut("connection_closed")
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		c.reads.Add(1)
		if size == 0 {
			continue
		}
		if uint64(size) > uint64(max) {
			c.n.log.Warn("dist: packet too large; closing the connection (raise Config.MaxMessageSize to accept it)", "peer", string(c.peer), "size", size, "max", max)
			c.shut("protocol_error")
			return
		}
		var p []byte
		if size <= 64<<10 {
			p = make([]byte, size)
			if _, err := io.ReadFull(c.br, p); err != nil {
				c.shut("connection_closed")
				return
			}
		} else {
			// Grow with the data actually received, not the claimed size.
			var err error
			if p, err = readGrowing(c.br, int(size)); err != nil {
				c.shut("connection_closed")
				return
			}
		}
		c.reads.Add(1)
		if err := c.n.handlePacket(c, p); err != nil {
			c.n.log.Warn("dist: invalid packet; closing the connection", "peer", string(c.peer), "err", err)
			c.shut("protocol_error")
			return
		}
	}
}

// readGrowing reads exactly n bytes into a buffer that starts at 64 KiB and
// doubles as data arrives, never beyond n: a peer claiming a large packet
// costs only what it sends, and the final buffer is at most n bytes.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	p := make([]byte, 0, min(n, 64<<10))
	for len(p) < n {
		if len(p) == cap(p) {
			p = slices.Grow(p, min(cap(p), n-len(p)))
		}
		k, err := io.ReadFull(r, p[len(p):min(cap(p), n)])
		p = p[:len(p)+k]
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

var errPassThrough = errors.New("packet does not start with the pass-through byte 112")
