package memberlist_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/memberlist"
)

// BenchmarkConvergence measures how long N nodes that know only a seed
// take, from the first Connect, until every node lists all N-1 others.
// Starting and stopping the nodes is not timed. One op is one whole
// convergence; ms/converge reports the mean in milliseconds and max-ms the
// slowest iteration.
func BenchmarkConvergence(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	for _, profile := range []memberlist.Profile{memberlist.ProfileLocal, memberlist.ProfileLAN} {
		for _, size := range []int{10, 50} {
			b.Run(fmt.Sprintf("%s/N=%d", profile, size), func(b *testing.B) {
				var total, worst time.Duration
				for b.Loop() {
					b.StopTimer()
					nodes := startSeeded(b, size, profile, nil, quiet)
					seed := nodes[0].Self()
					b.StartTimer()
					start := time.Now()
					var wg sync.WaitGroup
					for _, n := range nodes[1:] {
						wg.Go(func() {
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							defer cancel()
							if err := n.Connect(ctx, seed); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
					deadline := start.Add(2 * time.Minute)
					for !converged(nodes) {
						if time.Now().After(deadline) {
							b.Fatalf("no convergence after 2m; counts %v", counts(nodes))
						}
						time.Sleep(2 * time.Millisecond)
					}
					took := time.Since(start)
					total += took
					worst = max(worst, took)
					b.StopTimer()
					for _, n := range nodes {
						n.Kill()
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/converge")
				b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
			})
		}
	}
}
