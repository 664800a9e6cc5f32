package memberlist

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	ml "github.com/hashicorp/memberlist"
)

// ctxTransport wraps memberlist's transport so that the TCP exchanges of a
// join are bounded by the join's context: memberlist's Join takes no
// context, and without this a join abandoned by its caller would run on
// for up to TCPTimeout. A dial to an address with a join context in flight
// is cut short at the context's deadline, and its connection is closed when
// the context ends. Other dials (periodic state exchanges, probes over TCP)
// are untouched.
//
// It also passes received packets through a [repeatFilter], when one is
// given, on a goroutine of its own that runs until Shutdown or stop, and
// copies each into a buffer of its own size.
type ctxTransport struct {
	ml.NodeAwareTransport

	mu   sync.Mutex
	ctxs map[string]context.Context // by "host:port"; guarded by mu

	packets  chan *ml.Packet // nil without a filter
	filter   *repeatFilter   // nil without a filter
	done     chan struct{}
	stopOnce sync.Once
}

// newCtxTransport wraps t; with a non-nil rf, received packets go through
// it.
func newCtxTransport(t ml.Transport, rf *repeatFilter) *ctxTransport {
	na, ok := t.(ml.NodeAwareTransport)
	if !ok {
		na = shim{t}
	}
	ct := &ctxTransport{NodeAwareTransport: na, ctxs: map[string]context.Context{}, done: make(chan struct{})}
	if rf != nil {
		ct.packets, ct.filter = make(chan *ml.Packet), rf
		go ct.pump(rf)
	}
	return ct
}

// PacketCh returns the received packets, filtered when there is a filter.
func (t *ctxTransport) PacketCh() <-chan *ml.Packet {
	if t.packets == nil {
		return t.NodeAwareTransport.PacketCh()
	}
	return t.packets
}

// pump moves packets from the inner transport through rf to PacketCh.
func (t *ctxTransport) pump(rf *repeatFilter) {
	in := t.NodeAwareTransport.PacketCh()
	for {
		select {
		case p, open := <-in:
			if !open {
				return
			}
			if p == nil {
				continue
			}
			buf, ok := rf.filter(p.Buf, p.Timestamp)
			if !ok {
				continue
			}
			if cap(buf) > 2*len(buf) {
				// A transport given through Tune (memberlist's own
				// NetTransport, say) may read each packet into a 64 KiB
				// buffer; a message waiting in memberlist's handler queue
				// would hold all of it.
				buf = bytes.Clone(buf)
			}
			p.Buf = buf
			select {
			case t.packets <- p:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

// Shutdown shuts the inner transport down and ends the filter goroutine.
func (t *ctxTransport) Shutdown() error {
	err := t.NodeAwareTransport.Shutdown()
	t.stop()
	return err
}

// stop ends the filter goroutine; for a memberlist that was never created.
func (t *ctxTransport) stop() { t.stopOnce.Do(func() { close(t.done) }) }

// repeatsDropped returns how many alive messages the filter dropped.
func (t *ctxTransport) repeatsDropped() uint64 {
	if t.filter == nil {
		return 0
	}
	return t.filter.dropped.Load()
}

// bind makes dials to addr use ctx until the returned function is called.
func (t *ctxTransport) bind(addr string, ctx context.Context) (unbind func()) {
	t.mu.Lock()
	t.ctxs[addr] = ctx
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if t.ctxs[addr] == ctx {
			delete(t.ctxs, addr)
		}
		t.mu.Unlock()
	}
}

func (t *ctxTransport) ctxFor(addr string) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctxs[addr]
}

// DialAddressTimeout dials addr, bounded by the join context bound to it.
func (t *ctxTransport) DialAddressTimeout(addr ml.Address, timeout time.Duration) (net.Conn, error) {
	ctx := t.ctxFor(addr.Addr)
	if ctx == nil {
		return t.NodeAwareTransport.DialAddressTimeout(addr, timeout)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr.Addr, context.Cause(ctx))
	}
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	c, err := t.NodeAwareTransport.DialAddressTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &ctxConn{Conn: c, stop: stop}, nil
}

// DialTimeout is DialAddressTimeout without a node name.
func (t *ctxTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(ml.Address{Addr: addr}, timeout)
}

// ctxConn releases its context watch when closed.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// shim adapts a plain Transport, as memberlist itself does.
type shim struct{ ml.Transport }

func (s shim) WriteToAddress(b []byte, addr ml.Address) (time.Time, error) {
	return s.WriteTo(b, addr.Addr)
}

func (s shim) DialAddressTimeout(addr ml.Address, timeout time.Duration) (net.Conn, error) {
	return s.Transport.DialTimeout(addr.Addr, timeout)
}
