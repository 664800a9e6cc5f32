package libcluster_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/libcluster-go/libcluster"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkReconcile measures the reconciler alone: one complete discovery
// update of N nodes, from the report to every node connected, with an
// in-memory connector that connects at once.
func BenchmarkReconcile(b *testing.B) {
	for _, n := range []int{100, 1000} {
		ns := make([]libcluster.Node, n)
		for i := range ns {
			ns[i] = libcluster.Node(fmt.Sprintf("n%d@10.0.%d.%d", i, i/250, i%250+1))
		}
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				conn := newMem("self@127.0.0.1")
				conn.connected = make(chan libcluster.Node, n)
				s := newChanStrategy()
				topo := &libcluster.Topology{Name: "bench", Strategy: s, Connector: conn,
					Policy: libcluster.Policy{Parallelism: 64}, Logger: quiet}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { _ = topo.Run(ctx); close(done) }()
				s.ch <- libcluster.Complete(ns)
				for range n {
					<-conn.connected
				}
				cancel()
				<-done
			}
		})
	}
}
