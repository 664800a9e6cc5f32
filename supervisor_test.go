package libcluster_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

func TestSupervisorRestartsPanickingStrategyAndIsolatesOthers(t *testing.T) {
	base := runtime.NumGoroutine()
	var runs atomic.Int32
	panicky := libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
		n := runs.Add(1)
		r.Report(libcluster.Seen(nodes("p@127.0.0.1")))
		if n <= 3 {
			panic("strategy bug")
		}
		<-ctx.Done()
		return nil
	})
	connA := newMem("self@127.0.0.1")
	connB := newMem("self@127.0.0.1")
	steady := newChanStrategy()
	logA, logB := &eventLog{}, &eventLog{}
	restart := libcluster.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	a := &libcluster.Topology{Name: "a", Strategy: panicky, Connector: connA,
		Policy: libcluster.Policy{Backoff: fastBackoff, Restart: restart}, Observers: []libcluster.Observer{logA.observe}}
	b := &libcluster.Topology{Name: "b", Strategy: steady, Connector: connB,
		Policy: libcluster.Policy{Backoff: fastBackoff}, Observers: []libcluster.Observer{logB.observe}}

	sup := libcluster.NewSupervisor(a, b)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// While a's strategy keeps panicking, b keeps connecting new nodes.
	eventually(t, "a's strategy failed at least once", func() bool { return logA.count(libcluster.EventStrategyFailed, "") >= 1 })
	steady.send(t, libcluster.Seen(nodes("b1@127.0.0.1")))
	eventually(t, "b1 connected during a's restarts", func() bool { return connB.isUp("b1@127.0.0.1") })
	steady.send(t, libcluster.Seen(nodes("b2@127.0.0.1")))
	eventually(t, "b2 connected", func() bool { return connB.isUp("b2@127.0.0.1") })

	eventually(t, "a restarted 3 times and running", func() bool { return runs.Load() == 4 })
	if got := a.Status().Restarts; got != 3 {
		t.Fatalf("a restarts = %d, want 3", got)
	}
	var pe *libcluster.PanicError
	logA.mu.Lock()
	for _, e := range logA.evs {
		if e.Kind == libcluster.EventStrategyFailed && !errors.As(e.Err, &pe) {
			t.Errorf("strategy_failed error %v is not a PanicError", e.Err)
		}
	}
	logA.mu.Unlock()
	if !connA.isUp("p@127.0.0.1") {
		t.Fatal("a's node is not connected")
	}
	if b.Status().Restarts != 0 || logB.count(libcluster.EventStrategyFailed, "") != 0 {
		t.Fatal("b was restarted although only a failed")
	}
	if !sup.Ready() {
		t.Fatal("supervisor not ready with min_nodes 0")
	}

	sup.Stop()
	sup.Stop() // idempotent
	for _, st := range sup.Status() {
		if st.Running || st.Ready {
			t.Fatalf("topology %s still running/ready after Stop", st.Name)
		}
	}
	eventually(t, "no goroutine left after Stop", func() bool { return runtime.NumGoroutine() <= base })
}

func TestSupervisorRestartsFailingStrategyWithBackoff(t *testing.T) {
	var runs atomic.Int32
	var last atomic.Int64
	var tooSoon atomic.Bool
	failing := libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
		now := time.Now().UnixNano()
		if prev := last.Swap(now); prev != 0 && time.Duration(now-prev) < 40*time.Millisecond {
			tooSoon.Store(true)
		}
		runs.Add(1)
		return errors.New("cannot reach the source")
	})
	topo := &libcluster.Topology{Name: "f", Strategy: failing, Connector: newMem("self@127.0.0.1"),
		Policy: libcluster.Policy{Restart: libcluster.Backoff{Initial: 50 * time.Millisecond, Jitter: 0.1}}}
	sup := libcluster.NewSupervisor(topo)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop()
	eventually(t, "three runs", func() bool { return runs.Load() >= 3 })
	if tooSoon.Load() {
		t.Fatal("restart came sooner than the back-off allows")
	}
	if st := topo.Status(); st.LastError == nil || st.Restarts < 2 {
		t.Fatalf("status = %+v, want the error and restarts recorded", st)
	}
}

func TestSupervisorRejectsDuplicateNames(t *testing.T) {
	mk := func() *libcluster.Topology {
		return &libcluster.Topology{Name: "same", Strategy: newChanStrategy(), Connector: newMem("a@b")}
	}
	if err := libcluster.NewSupervisor(mk(), mk()).Start(context.Background()); err == nil {
		t.Fatal("duplicate topology names accepted")
	}
}
