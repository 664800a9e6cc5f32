package epmd

import (
	"context"
	"time"
)

// Client talks to one EPMD. The zero value talks to 127.0.0.1 on Port().
type Client struct {
	// Host is the EPMD host; "" means "127.0.0.1".
	Host string
	// Port is the EPMD port; 0 means Port().
	Port int
	// Timeout bounds each request (dial, write and read); 0 means 5 s.
	Timeout time.Duration
}

// Names asks EPMD for all registered nodes (NAMES_REQ).
func (c *Client) Names(ctx context.Context) ([]NameEntry, error) {
	return nil, errNotYet
}

// PortPlease looks up the node registered as name (PORT_PLEASE2_REQ). When
// EPMD has no such node the error wraps ErrNotRegistered.
func (c *Client) PortPlease(ctx context.Context, name string) (NodeInfo, error) {
	return NodeInfo{}, errNotYet
}

// Register registers n with EPMD (ALIVE2_X, or ALIVE2 for old servers) and
// keeps the connection open; the name stays registered until the returned
// Registration is closed or the connection is lost. A refusal wraps ErrNameInUse.
func (c *Client) Register(ctx context.Context, n NodeInfo) (*Registration, error) {
	return nil, errNotYet
}

// Registration is a live EPMD registration: the open ALIVE2 connection.
type Registration struct {
	creation uint32
	done     chan struct{}
}

// Creation returns the creation number EPMD assigned (nonzero).
func (r *Registration) Creation() uint32 { return r.creation }

// Done returns a channel closed when the registration ends: the EPMD
// connection was lost or Close was called.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Close unregisters the name by closing the connection.
func (r *Registration) Close() error { return nil }
