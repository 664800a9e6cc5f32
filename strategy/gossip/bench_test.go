package gossip

import (
	"slices"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// convergeOnce starts two members, waits for their mesh, then starts a
// third and returns how long until all three have connected each other.
// The heartbeat interval is libcluster's 5 s, so anything much faster
// than that comes from the immediate replies.
func convergeOnce(t testing.TB) time.Duration {
	port := clustertest.FreeUDPPort(t)
	sa, sb := loopbackMulticast(0, port), loopbackMulticast(1, port)
	sa.Interval, sb.Interval = DefaultInterval, DefaultInterval
	a, b := startMember(t, sa), startMember(t, sb)
	waitMesh(t, []*member{a, b}, 30*time.Second)
	s := loopbackMulticast(2, port)
	s.Interval = DefaultInterval
	start := time.Now()
	c := startMember(t, s)
	last := waitMesh(t, []*member{a, b, c}, 30*time.Second)
	d := last.Sub(start)
	a.stop()
	b.stop()
	c.stop()
	return d
}

// TestConvergence measures, over several runs, the time from the third
// node's start to a full mesh. It must be far below the 5 s heartbeat
// interval; run with -v for the figures.
func TestConvergence(t *testing.T) {
	var ds []time.Duration
	for range 10 {
		ds = append(ds, convergeOnce(t))
	}
	slices.Sort(ds)
	t.Logf("convergence of a third node over %d runs: min %v, median %v, max %v", len(ds), ds[0], ds[len(ds)/2], ds[len(ds)-1])
	if med := ds[len(ds)/2]; med > time.Second {
		t.Fatalf("median convergence %v: immediate replies are not working (heartbeat interval is 5s)", med)
	}
}

// BenchmarkConvergence reports the time from a third node's start to a
// full mesh of three on the host loopback.
func BenchmarkConvergence(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		total += convergeOnce(b)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/converge")
}
