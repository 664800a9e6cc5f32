// Package libcluster forms and heals clusters of nodes automatically, the way
// Elixir's libcluster does for BEAM nodes.
//
// A [Strategy] discovers peer node names (from a static list, DNS, UDP gossip,
// the Kubernetes API, ...). A [Topology] binds one strategy to one [Connector]
// and keeps what is connected equal to what was discovered: it connects what is
// missing (retrying with back-off until it succeeds, which is how a cluster
// heals) and disconnects what the source says is gone, following its [Prune]
// policy. A [Supervisor] runs many topologies side by side and restarts a
// strategy that fails or panics without touching the others.
//
// Node names keep the Erlang form basename@host, so Go nodes can join a
// cluster of Erlang and Elixir nodes through the erldist package's connector.
package libcluster

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxNodeNameLen is the longest node name accepted, in bytes. Node names are
// Erlang atoms, and an atom holds at most 255 characters.
const MaxNodeNameLen = 255

// Node is the name of a cluster member in Erlang form: basename@host, for
// example "app@10.0.0.5", "app@::1" or "app@app-0.app.default.svc.cluster.local".
// A host without a dot or colon is a short name ("app@myhost"), as with erl -sname.
//
// Use [ParseNode] to build a Node from untrusted text; the zero Node is empty
// and invalid.
type Node string

// ParseNode checks that s is a valid node name and returns it as a Node.
// The error says what is wrong and how a valid name looks.
func ParseNode(s string) (Node, error) {
	if err := validateNode(s); err != nil {
		return "", &NodeNameError{Name: s, Reason: err.Error()}
	}
	return Node(s), nil
}

// MustParseNode is like [ParseNode] but panics on an invalid name. It is meant
// for constants in programs and tests, never for input.
func MustParseNode(s string) Node {
	n, err := ParseNode(s)
	if err != nil {
		panic(err)
	}
	return n
}

// NodeNameError reports an invalid node name.
type NodeNameError struct {
	Name   string // the rejected text
	Reason string // what is wrong with it
}

func (e *NodeNameError) Error() string {
	return fmt.Sprintf("invalid node name %q: %s (want basename@host, e.g. app@10.0.0.5 or app@host.example.com)", e.Name, e.Reason)
}

func validateNode(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxNodeNameLen {
		return fmt.Errorf("%d bytes long, longer than the %d an Erlang atom allows", len(s), MaxNodeNameLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	name, host, ok := strings.Cut(s, "@")
	if !ok {
		return errors.New("no '@' between basename and host")
	}
	if strings.Contains(host, "@") {
		return errors.New("more than one '@'")
	}
	if name == "" {
		return errors.New("empty basename before '@'")
	}
	if host == "" {
		return errors.New("empty host after '@'")
	}
	for i, r := range name {
		if !basenameRune(r) {
			return fmt.Errorf("basename has %q at byte %d; use letters, digits, '_', '-' or '.'", r, i)
		}
	}
	return validateHost(host)
}

func basenameRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r == '_' || r == '-' || r == '.' || r == '+':
		return true
	}
	return false
}

func validateHost(host string) error {
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return fmt.Errorf("host %q has ':' but is not an IPv6 address", host)
		}
		return nil
	}
	if strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return fmt.Errorf("host %q has an empty DNS label (leading, trailing or double '.')", host)
	}
	for i, r := range host {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return fmt.Errorf("host has %q at byte %d; use a DNS name, an IPv4 or an IPv6 address", r, i)
		}
	}
	for label := range strings.SplitSeq(host, ".") {
		if len(label) > 63 {
			return fmt.Errorf("host label %q is longer than 63 bytes", label)
		}
	}
	return nil
}

// Name returns the basename: the part before '@'.
func (n Node) Name() string {
	name, _, _ := strings.Cut(string(n), "@")
	return name
}

// Host returns the host: the part after '@'.
func (n Node) Host() string {
	_, host, _ := strings.Cut(string(n), "@")
	return host
}

// Addr returns the host as an IP address, and false when the host is a name.
func (n Node) Addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(n.Host())
	return a, err == nil
}

// IsLong reports whether n is a long name (erl -name): its host is an IP
// address or contains a dot. Short names (erl -sname) and long names do not
// mix in one Erlang cluster.
func (n Node) IsLong() bool {
	h := n.Host()
	return strings.ContainsAny(h, ".:")
}

// String returns the node name.
func (n Node) String() string { return string(n) }

// NodeFromAddr builds basename@addr with the address in its canonical text
// form (IPv6 compressed and lower case, as libcluster writes it).
func NodeFromAddr(basename string, addr netip.Addr) (Node, error) {
	return ParseNode(basename + "@" + addr.Unmap().WithZone("").String())
}
