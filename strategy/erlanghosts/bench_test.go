package erlanghosts

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/strategy"
)

// BenchmarkParseHostsFile parses a 100-host file with comments.
func BenchmarkParseHostsFile(b *testing.B) {
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "'app-%d.prod.example.com'.   %% rack %d\n", i, i%8)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHostsFile(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiscover runs whole rounds: read the file, ask two loopback
// EPMDs (the project's server) in parallel, 10 names each.
func BenchmarkDiscover(b *testing.B) {
	port, _ := epmdtest.Serve(b, "127.0.0.1:0")
	epmdtest.Serve(b, fmt.Sprintf("127.0.0.2:%d", port))
	for i := range 10 {
		epmdtest.Register(b, "127.0.0.1", port, fmt.Sprintf("a%d", i))
		epmdtest.Register(b, "127.0.0.2", port, fmt.Sprintf("b%d", i))
	}
	path := writeFile(b, filepath.Join(b.TempDir(), "hosts"), "'127.0.0.1'.\n'127.0.0.2'.\n")
	s, err := New(Config{Path: path, EPMDPort: port}, strategy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		u, err := s.Discover(context.Background())
		if err != nil || len(u.Nodes()) != 20 {
			b.Fatalf("%d nodes, %v", len(u.Nodes()), err)
		}
	}
}
