// Package epmd implements the Erlang Port Mapper Daemon protocol: a client
// (register a node, look up a node's port, list names), a server that real
// erl nodes can register with, and a Keeper that keeps one name registered on
// the local host no matter which process currently serves EPMD.
//
// All requests are framed as [len:u16][request]; responses are not framed.
// Every connection carries exactly one request, except a registration
// (ALIVE2), whose connection stays open for as long as the name is
// registered.
package epmd

import (
	"errors"
	"os"
	"strconv"
)

// DefaultPort is the well-known EPMD TCP port.
const DefaultPort = 4369

// Protocol versions a node advertises. OTP 25 and later speak only the
// version-6 handshake, so a Go node registers with 6/6.
const (
	// HighestVersion is the highest distribution handshake version this package registers with by default.
	HighestVersion uint16 = 6
	// LowestVersion is the lowest distribution handshake version this package registers with by default.
	LowestVersion uint16 = 6
)

// Node types as carried in ALIVE2_REQ and PORT2_RESP.
const (
	// NodeTypeNormal marks a normal (published) node, 'M'.
	NodeTypeNormal byte = 77
	// NodeTypeHidden marks a hidden node, 'H'.
	NodeTypeHidden byte = 72
)

// ProtocolTCP is the only transport protocol value in use (TCP/IPv4 or IPv6).
const ProtocolTCP byte = 0

// MaxNameLen is the longest node name (the part before '@') EPMD accepts, in bytes.
const MaxNameLen = 255

// Errors callers can test for with errors.Is.
var (
	// ErrNotRegistered is returned by PortPlease when EPMD has no node of that name.
	ErrNotRegistered = errors.New("epmd: node name not registered")
	// ErrNameInUse is returned by Register when EPMD refused the registration
	// (an active node already holds the name, or the name was invalid).
	ErrNameInUse = errors.New("epmd: registration refused (name in use or invalid)")
	// ErrServerClosed is returned by Server.Serve after Server.Close.
	ErrServerClosed = errors.New("epmd: server closed")
)

// Port returns the EPMD port to use: ERL_EPMD_PORT when it is set to a valid
// port number (1–65535), else DefaultPort.
func Port() int {
	if v := os.Getenv("ERL_EPMD_PORT"); v != "" {
		if p, err := strconv.Atoi(v); err == nil && p > 0 && p < 65536 {
			return p
		}
	}
	return DefaultPort
}

// NodeInfo describes a node as registered with EPMD.
type NodeInfo struct {
	// Name is the alive part of the node name (before '@'), 1–255 bytes, no NUL.
	Name string
	// Port is the node's distribution listen port.
	Port int
	// NodeType is NodeTypeNormal or NodeTypeHidden (0 means NodeTypeNormal when registering).
	NodeType byte
	// Protocol is ProtocolTCP.
	Protocol byte
	// HighestVersion and LowestVersion are the handshake versions the node
	// speaks (0 means 6 when registering).
	HighestVersion, LowestVersion uint16
	// Extra is opaque data stored with the registration (usually empty).
	Extra []byte
}

// NameEntry is one line of a NAMES reply.
type NameEntry struct {
	// Name is the alive part of the node name.
	Name string
	// Port is the node's distribution listen port.
	Port int
}
