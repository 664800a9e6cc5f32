package epmd

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
)

func BenchmarkPortPlease(b *testing.B) {
	_, port := startServer(b)
	c := &Client{Port: port}
	ctx := testCtx(b)
	reg, err := c.Register(ctx, NodeInfo{Name: "bench", Port: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	for b.Loop() {
		if _, err := c.PortPlease(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNames100(b *testing.B) {
	_, port := startServer(b)
	c := &Client{Port: port}
	ctx := testCtx(b)
	for i := range 100 {
		reg, err := c.Register(ctx, NodeInfo{Name: fmt.Sprintf("node%03d", i), Port: 1000 + i})
		if err != nil {
			b.Fatal(err)
		}
		defer reg.Close()
	}
	for b.Loop() {
		if n, err := c.Names(ctx); err != nil || len(n) != 100 {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkRegisterClose(b *testing.B) {
	_, port := startServer(b)
	c := &Client{Port: port}
	ctx := testCtx(b)
	i := 0
	for b.Loop() {
		// A fresh name each time: the server notices a close asynchronously.
		i++
		reg, err := c.Register(ctx, NodeInfo{Name: "bench" + strconv.Itoa(i), Port: 1})
		if err != nil {
			b.Fatal(err)
		}
		reg.Close()
	}
}

func BenchmarkParseNames1000(b *testing.B) {
	nodes := make([]NodeInfo, 1000)
	for i := range nodes {
		nodes[i] = NodeInfo{Name: fmt.Sprintf("node%04d", i), Port: 20000 + i}
	}
	reply := encodeNames(4369, nodes)
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		if _, n, err := parseNames(reply); err != nil || len(n) != 1000 {
			b.Fatal(err)
		}
	}
}

func BenchmarkServerPortPleaseInMemory(b *testing.B) {
	srv := &Server{Logger: quietLogger()}
	srv.nodes = map[string]*serverEntry{"bench": {info: NodeInfo{Name: "bench", Port: 1, HighestVersion: 6, LowestVersion: 6}}}
	req := frame([]byte("zbench"))
	for b.Loop() {
		c := &memConn{in: bytes.NewReader(req)}
		srv.serveConn(c, true, false)
		if c.out.Len() == 2 {
			b.Fatal("not found")
		}
	}
}

// BenchmarkPortPleaseRealEpmd is the same lookup against the stock epmd,
// for comparison.
func BenchmarkPortPleaseRealEpmd(b *testing.B) {
	port := startRealEpmd(b)
	c := &Client{Port: port}
	ctx := testCtx(b)
	reg, err := c.Register(ctx, NodeInfo{Name: "bench", Port: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	for b.Loop() {
		if _, err := c.PortPlease(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
