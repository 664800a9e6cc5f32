package epmd

import (
	"bytes"
	"context"
	"testing"
)

// FuzzServerRequest feeds arbitrary bytes to the server as one connection's
// input: it must never panic, and whatever it answers must parse with the
// client's readers.
func FuzzServerRequest(f *testing.F) {
	node := NodeInfo{Name: "seed", Port: 4000, NodeType: NodeTypeNormal, HighestVersion: 6, LowestVersion: 6}
	f.Add(encodeAlive2Req(node), true)
	f.Add(encodeAlive2Req(NodeInfo{Name: "old", Port: 1, HighestVersion: 5, LowestVersion: 5}), false)
	f.Add(frame([]byte("zseed")), true)
	f.Add(frame([]byte("zseed\x00")), false)
	f.Add(frame([]byte{tagNamesReq}), true)
	f.Add(frame([]byte{tagDumpReq}), true)
	f.Add(frame([]byte{tagKillReq}), true)
	f.Add([]byte{0, 0}, true)
	f.Add([]byte{0xff, 0xff, 'x'}, true)
	srv := &Server{Logger: quietLogger()}
	// A registered node so that lookups can succeed.
	holder := &memConn{in: bytes.NewReader(nil)}
	srv.nodes = map[string]*serverEntry{"fixed": {info: NodeInfo{Name: "fixed", Port: 9, NodeType: NodeTypeHidden, HighestVersion: 6, LowestVersion: 6}, conn: holder}}
	f.Fuzz(func(t *testing.T, in []byte, local bool) {
		c := &memConn{in: bytes.NewReader(in)}
		srv.serveConn(c, local, false)
		out := c.out.Bytes()
		if len(out) == 0 || len(in) < 3 {
			return
		}
		switch in[2] {
		case tagPortPlease2:
			if _, _, err := parsePort2Resp(out); err != nil {
				t.Fatalf("server PORT2_RESP %v does not parse: %v", out, err)
			}
		case tagNamesReq:
			if _, _, err := parseNames(out); err != nil {
				t.Fatalf("server NAMES reply %q does not parse: %v", out, err)
			}
		case tagAlive2Req:
			if (out[0] != tagAlive2XResp || len(out) != 6) && (out[0] != tagAlive2Resp || len(out) != 4) {
				t.Fatalf("server ALIVE2 reply %v has a wrong layout", out)
			}
		}
		// The connection ended, so nothing it registered may remain.
		if n := srv.Names(); len(n) != 1 || n[0].Name != "fixed" {
			t.Fatalf("registrations left after the connection ended: %v", n)
		}
	})
}

// FuzzParseNames checks the NAMES reader never panics and that what it
// accepts survives a re-encode.
func FuzzParseNames(f *testing.F) {
	f.Add(encodeNames(4369, []NodeInfo{{Name: "a", Port: 1}, {Name: "bb", Port: 65535}}))
	f.Add([]byte("\x00\x00\x11\x11name x at port 12\n\nname y at port 3"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		port, names, err := parseNames(b)
		if err != nil {
			return
		}
		nodes := make([]NodeInfo, len(names))
		for i, n := range names {
			nodes[i] = NodeInfo{Name: n.Name, Port: n.Port}
		}
		p2, again, err := parseNames(encodeNames(int(port), nodes))
		if err != nil || p2 != port || len(again) != len(names) {
			t.Fatalf("re-encoded NAMES reply does not round-trip: %v %v %v", again, names, err)
		}
		for i := range names {
			if again[i] != names[i] {
				t.Fatalf("entry %d: %v != %v", i, again[i], names[i])
			}
		}
	})
}

// FuzzParsePort2Resp checks the PORT2_RESP reader never panics and that a
// found node re-encodes to the same bytes.
func FuzzParsePort2Resp(f *testing.F) {
	n := NodeInfo{Name: "x", Port: 5, NodeType: NodeTypeNormal, HighestVersion: 6, LowestVersion: 6, Extra: []byte{1}}
	f.Add(encodePort2Resp(&n))
	f.Add(encodePort2Resp(nil))
	f.Add([]byte{tagPort2Resp, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, found, err := parsePort2Resp(b)
		if err != nil || !found {
			return
		}
		if out := encodePort2Resp(&n); !bytes.Equal(out, b) {
			t.Fatalf("PORT2_RESP %v re-encodes to %v", b, out)
		}
	})
}

// FuzzAliveResponse feeds arbitrary replies to the client's registration
// reader: it must never panic and must only accept a nonzero creation.
func FuzzAliveResponse(f *testing.F) {
	f.Add(encodeAliveResp(6, 0, 77))
	f.Add(encodeAliveResp(5, 0, 2))
	f.Add(encodeAliveResp(6, 1, 99))
	f.Add([]byte{tagAlive2XResp, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &Client{}
		conn := &memConn{in: bytes.NewReader(b)}
		creation, err := c.alive(context.Background(), conn, NodeInfo{Name: "n", Port: 1, HighestVersion: 6, LowestVersion: 6})
		if err == nil && creation == 0 {
			t.Fatal("accepted creation 0")
		}
	})
}
