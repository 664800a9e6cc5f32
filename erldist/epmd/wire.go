package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Request and response tags.
const (
	tagAlive2Req   = 120 // 'x'
	tagAlive2Resp  = 121 // 'y', 16-bit creation
	tagAlive2XResp = 118 // 'v', 32-bit creation
	tagPortPlease2 = 122 // 'z'
	tagPort2Resp   = 119 // 'w'
	tagNamesReq    = 110 // 'n'
	tagDumpReq     = 100 // 'd'
	tagKillReq     = 107 // 'k'
	tagStopReq     = 115 // 's'
)

// Size limits. maxExtraLen bounds the opaque Extra field a node may register;
// maxRequestLen bounds any framed request the server reads.
const (
	maxExtraLen   = 1024
	maxRequestLen = 1 + 2 + 1 + 1 + 2 + 2 + 2 + MaxNameLen + 2 + maxExtraLen
	// maxPort2RespLen bounds a PORT2_RESP a client reads (the name and the
	// extra field carry 16-bit lengths).
	maxPort2RespLen = 2 + 2 + 1 + 1 + 2 + 2 + 2 + 65535 + 2 + 65535
	// maxNamesRespLen bounds a NAMES reply a client reads.
	maxNamesRespLen = 4 << 20
)

// errInvalidNode marks NodeInfo validation failures (no retry helps).
var errInvalidNode = errors.New("epmd: invalid node")

// ValidateName reports whether name can be registered with EPMD: 1–255
// bytes of UTF-8 without NUL, control characters or spaces (the NAMES reply
// is line- and space-separated text).
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty node name; give the part before '@', e.g. \"app\"", errInvalidNode)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: node name is %d bytes, EPMD allows at most %d; use a shorter name", errInvalidNode, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: node name %q is not valid UTF-8", errInvalidNode, name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%w: node name %q contains a space or control character; use letters, digits, '_' or '-'", errInvalidNode, name)
		}
	}
	return nil
}

// normalize fills defaults of a NodeInfo about to be registered and validates it.
func (n NodeInfo) normalize() (NodeInfo, error) {
	if err := ValidateName(n.Name); err != nil {
		return n, err
	}
	if n.Port <= 0 || n.Port > 65535 {
		return n, fmt.Errorf("%w: distribution port %d of node %q is out of range 1-65535", errInvalidNode, n.Port, n.Name)
	}
	if len(n.Extra) > maxExtraLen {
		return n, fmt.Errorf("%w: extra data of node %q is %d bytes, at most %d allowed", errInvalidNode, n.Name, len(n.Extra), maxExtraLen)
	}
	if n.NodeType == 0 {
		n.NodeType = NodeTypeNormal
	}
	if n.HighestVersion == 0 {
		n.HighestVersion = HighestVersion
	}
	if n.LowestVersion == 0 {
		n.LowestVersion = LowestVersion
	}
	if n.LowestVersion > n.HighestVersion {
		return n, fmt.Errorf("%w: lowest version %d above highest version %d for node %q", errInvalidNode, n.LowestVersion, n.HighestVersion, n.Name)
	}
	return n, nil
}

// frame prefixes a request with its 16-bit length.
func frame(req []byte) []byte {
	out := make([]byte, 2, 2+len(req))
	binary.BigEndian.PutUint16(out, uint16(len(req)))
	return append(out, req...)
}

// appendNodeBody appends the fields shared by ALIVE2_REQ and PORT2_RESP:
// port, type, protocol, versions, name and extra.
func appendNodeBody(b []byte, n NodeInfo) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(n.Port))
	b = append(b, n.NodeType, n.Protocol)
	b = binary.BigEndian.AppendUint16(b, n.HighestVersion)
	b = binary.BigEndian.AppendUint16(b, n.LowestVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.Name)))
	b = append(b, n.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.Extra)))
	return append(b, n.Extra...)
}

// parseNodeBody is the inverse of appendNodeBody. It requires b to be
// consumed exactly.
func parseNodeBody(b []byte) (NodeInfo, error) {
	var n NodeInfo
	if len(b) < 10 {
		return n, fmt.Errorf("node record truncated: %d bytes, need at least 10", len(b))
	}
	n.Port = int(binary.BigEndian.Uint16(b))
	n.NodeType, n.Protocol = b[2], b[3]
	n.HighestVersion = binary.BigEndian.Uint16(b[4:])
	n.LowestVersion = binary.BigEndian.Uint16(b[6:])
	nlen := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) < nlen+2 {
		return n, fmt.Errorf("node record truncated: name length %d but %d bytes left", nlen, len(b))
	}
	n.Name = string(b[:nlen])
	b = b[nlen:]
	elen := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) != elen {
		return n, fmt.Errorf("node record: extra length %d but %d bytes left", elen, len(b))
	}
	if elen > 0 {
		n.Extra = bytes.Clone(b)
	}
	return n, nil
}

// encodeAlive2Req builds a framed ALIVE2_REQ for an already normalized node.
func encodeAlive2Req(n NodeInfo) []byte {
	return frame(appendNodeBody([]byte{tagAlive2Req}, n))
}

// parseAlive2Req parses the body of an ALIVE2_REQ (after the tag) and
// validates the node it describes.
func parseAlive2Req(b []byte) (NodeInfo, error) {
	n, err := parseNodeBody(b)
	if err != nil {
		return n, fmt.Errorf("malformed ALIVE2_REQ: %w", err)
	}
	if err := ValidateName(n.Name); err != nil {
		return n, err
	}
	if len(n.Extra) > maxExtraLen {
		return n, fmt.Errorf("%w: extra data of %d bytes exceeds %d", errInvalidNode, len(n.Extra), maxExtraLen)
	}
	if n.Port == 0 {
		return n, fmt.Errorf("%w: node %q registers port 0", errInvalidNode, n.Name)
	}
	return n, nil
}

// encodeAliveResp builds the ALIVE2 reply for a node speaking highest
// version hv: ALIVE2_X_RESP (32-bit creation) for 6 and up, else ALIVE2_RESP.
func encodeAliveResp(hv uint16, result byte, creation uint32) []byte {
	if hv >= 6 {
		b := []byte{tagAlive2XResp, result}
		return binary.BigEndian.AppendUint32(b, creation)
	}
	b := []byte{tagAlive2Resp, result}
	return binary.BigEndian.AppendUint16(b, uint16(creation))
}

// encodePort2Resp builds a PORT2_RESP; a nil node means "not found".
func encodePort2Resp(n *NodeInfo) []byte {
	if n == nil {
		return []byte{tagPort2Resp, 1}
	}
	return appendNodeBody([]byte{tagPort2Resp, 0}, *n)
}

// parsePort2Resp parses a complete PORT2_RESP (read to EOF). found is false
// when EPMD answered "not registered".
func parsePort2Resp(b []byte) (n NodeInfo, found bool, err error) {
	if len(b) < 2 {
		return n, false, fmt.Errorf("PORT2_RESP truncated: %d bytes", len(b))
	}
	if b[0] != tagPort2Resp {
		return n, false, fmt.Errorf("unexpected reply tag %d to PORT_PLEASE2_REQ (want %d); is this an EPMD?", b[0], tagPort2Resp)
	}
	if b[1] != 0 {
		return n, false, nil
	}
	n, err = parseNodeBody(b[2:])
	if err != nil {
		return n, false, fmt.Errorf("malformed PORT2_RESP: %w", err)
	}
	return n, true, nil
}

// encodeNames builds a NAMES reply: the server's own port, then one line per node.
func encodeNames(epmdPort int, nodes []NodeInfo) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(epmdPort))
	for _, n := range nodes {
		b = append(b, "name "...)
		b = append(b, n.Name...)
		b = append(b, " at port "...)
		b = strconv.AppendInt(b, int64(n.Port), 10)
		b = append(b, '\n')
	}
	return b
}

// parseNames parses a complete NAMES reply (read to EOF): the EPMD's own
// port, then "name <Name> at port <Port>" lines. Empty lines are skipped;
// any other malformed line is an error.
func parseNames(b []byte) (epmdPort uint32, names []NameEntry, err error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("NAMES reply truncated: %d bytes, need at least 4; is this an EPMD?", len(b))
	}
	epmdPort = binary.BigEndian.Uint32(b)
	rest := b[4:]
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			continue
		}
		e, err := parseNameLine(line)
		if err != nil {
			return epmdPort, names, err
		}
		names = append(names, e)
	}
	return epmdPort, names, nil
}

func parseNameLine(line []byte) (NameEntry, error) {
	const pre, mid = "name ", " at port "
	bad := func(why string) (NameEntry, error) {
		if len(line) > 80 {
			line = line[:80]
		}
		return NameEntry{}, fmt.Errorf("malformed NAMES line %q: %s", line, why)
	}
	if !bytes.HasPrefix(line, []byte(pre)) {
		return bad("does not start with \"name \"")
	}
	i := bytes.LastIndex(line, []byte(mid))
	if i < len(pre) {
		return bad("no \" at port \"")
	}
	name := string(line[len(pre):i])
	if name == "" {
		return bad("empty name")
	}
	p, err := strconv.Atoi(string(line[i+len(mid):]))
	if err != nil || p < 0 || p > 65535 {
		return bad("port is not a number in 0-65535")
	}
	return NameEntry{Name: name, Port: p}, nil
}
