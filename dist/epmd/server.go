package epmd

import (
	"errors"
	"log/slog"
	"net"
)

var errNotYet = errors.New("epmd: not implemented yet")

// Server is an EPMD server compatible with real erl nodes and epmd clients.
// The zero value is ready to use.
type Server struct {
	// Logger receives connection-level diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Serve accepts connections on ln until Close. Only loopback peers may
// register (ALIVE2); PORT_PLEASE2 and NAMES are answered for anyone.
// It returns ErrServerClosed after Close.
func (s *Server) Serve(ln net.Listener) error { return errNotYet }

// ListenAndServe listens on the TCP address addr (":4369" when empty) and serves.
func (s *Server) ListenAndServe(addr string) error { return errNotYet }

// Close stops the listener and drops every connection, which unregisters all names.
func (s *Server) Close() error { return nil }

// Names returns the currently registered nodes, sorted by name.
func (s *Server) Names() []NodeInfo { return nil }
