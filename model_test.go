package libcluster_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

var (
	modelSeeds = flag.Int("model.seeds", 200, "how many random schedules TestReconcilerModel runs")
	modelSteps = flag.Int("model.steps", 300, "steps per schedule of TestReconcilerModel")
	modelSeed  = flag.Uint64("model.seed", 0, "run only this seed of TestReconcilerModel (to replay a failure)")
)

// TestReconcilerModel drives one to three topologies sharing a scriptable
// connector through random schedules (discovery updates, connects that
// succeed, fail, hang, are slow or drop before they return, peers that
// drop or connect in by themselves; one schedule in four on a connector
// without node events, so only resyncs tell) and, once each schedule
// quiesces,
// checks the invariants that must always hold. A failure prints its seed;
// replay it with -model.seed=N.
func TestReconcilerModel(t *testing.T) {
	seeds := make([]uint64, 0, *modelSeeds)
	if *modelSeed != 0 {
		seeds = append(seeds, *modelSeed)
	} else {
		for i := range *modelSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	start := time.Now()
	for _, seed := range seeds {
		if err := runModel(seed, *modelSteps); err != nil {
			t.Fatalf("seed %d failed (replay: go test -race -run 'TestReconcilerModel$' -model.seed=%d -model.steps=%d .):\n%v",
				seed, seed, *modelSteps, err)
		}
	}
	t.Logf("%d seeds × %d steps in %v", len(seeds), *modelSteps, time.Since(start).Round(time.Millisecond))
}

type modelTopo struct {
	topo   *libcluster.Topology
	strat  *chanStrategy
	log    *eventLog
	want   map[libcluster.Node]bool // what it has been told and acknowledged
	ever   map[libcluster.Node]bool // every node it ever wanted
	cancel context.CancelFunc
	done   chan error
}

type model struct {
	rng   *rand.Rand
	conn  *scriptConn
	pool  []libcluster.Node
	topos []*modelTopo
	trace []string

	mu sync.Mutex // guards every want map
}

func (m *model) wantedByAny(n libcluster.Node) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mt := range m.topos {
		if mt.want[n] {
			return true
		}
	}
	return false
}

func (m *model) note(format string, args ...any) {
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
}

func (m *model) subset() []libcluster.Node {
	var out []libcluster.Node
	for _, n := range m.pool {
		if m.rng.IntN(2) == 0 {
			out = append(out, n)
		}
	}
	return out
}

func runModel(seed uint64, steps int) (err error) {
	m := &model{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), conn: newScriptConn("self@127.0.0.1")}
	m.conn.wanted = m.wantedByAny
	for i := range 6 {
		m.pool = append(m.pool, libcluster.MustParseNode(fmt.Sprintf("n%d@127.0.0.1", i)))
	}
	m.pool = append(m.pool, m.conn.self) // discovery sets may name self
	k := 1 + m.rng.IntN(3)
	// One schedule in four runs on a connector without node events: only
	// the resync then tells the topologies about drops.
	var conn libcluster.Connector = m.conn
	resync := time.Hour
	if seed%4 == 0 {
		conn, resync = &unwatched{m.conn}, 5*time.Millisecond
	}
	for i := range k {
		name := fmt.Sprintf("t%d", i)
		mt := &modelTopo{strat: newChanStrategy(), log: &eventLog{}, want: map[libcluster.Node]bool{}, ever: map[libcluster.Node]bool{}, done: make(chan error, 1)}
		mt.topo = &libcluster.Topology{Name: name, Strategy: mt.strat, Connector: conn, Logger: quiet,
			Observers: []libcluster.Observer{mt.log.observe},
			Policy: libcluster.Policy{Backoff: fastBackoff, Resync: resync, ConnectTimeout: 20 * time.Millisecond,
				Parallelism: 1 + m.rng.IntN(4), MinNodes: m.rng.IntN(3)}}
		ctx, cancel := context.WithCancel(tagged(context.Background(), name))
		mt.cancel = cancel
		go func() { mt.done <- mt.topo.Run(ctx) }()
		m.topos = append(m.topos, mt)
	}
	defer func() {
		for _, mt := range m.topos {
			mt.cancel()
			if e := <-mt.done; e != nil && err == nil {
				err = fmt.Errorf("Run %s: %v", mt.topo.Name, e)
			}
		}
		if err != nil {
			from := max(0, len(m.trace)-40)
			err = fmt.Errorf("%w\nlast steps:\n  %s", err, strings.Join(m.trace[from:], "\n  "))
		}
	}()
	m.note("%d topologies, node events: %v", k, resync == time.Hour)
	for step := range steps {
		if err := m.step(step); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	// Quiesce: every node ends reachable or refusing, nothing hangs or flaps.
	final := map[libcluster.Node]int{}
	for _, n := range m.pool {
		final[n] = []int{modeUp, modeUp, modeRefuse, modeSlow}[m.rng.IntN(4)]
		m.conn.setMode(n, final[n])
		m.note("final mode %s %s", n, modeNames[final[n]])
	}
	return m.settle(final)
}

func (m *model) step(step int) error {
	n := m.pool[m.rng.IntN(len(m.pool))]
	switch a := m.rng.IntN(10); {
	case a < 3: // a complete set
		mt := m.topos[m.rng.IntN(len(m.topos))]
		set := m.subset()
		m.note("%d: %s complete %v", step, mt.topo.Name, set)
		next := map[libcluster.Node]bool{}
		for _, x := range set {
			if x != m.conn.self {
				next[x] = true
			}
		}
		m.mu.Lock()
		for x := range mt.want {
			if !next[x] {
				delete(mt.want, x) // it may be disconnected from now on
			}
		}
		m.mu.Unlock()
		return m.report(mt, libcluster.Complete(set), next)
	case a < 4: // nodes seen
		mt := m.topos[m.rng.IntN(len(m.topos))]
		set := m.subset()
		m.note("%d: %s seen %v", step, mt.topo.Name, set)
		m.mu.Lock()
		next := map[libcluster.Node]bool{}
		for x := range mt.want {
			next[x] = true
		}
		m.mu.Unlock()
		for _, x := range set {
			if x != m.conn.self {
				next[x] = true
			}
		}
		return m.report(mt, libcluster.Seen(set), next)
	case a < 6:
		mode := m.rng.IntN(len(modeNames))
		m.note("%d: mode %s %s", step, n, modeNames[mode])
		m.conn.setMode(n, mode)
	case a < 8:
		m.note("%d: drop %s: %v", step, n, m.conn.drop(n))
	default:
		if n != m.conn.self {
			m.note("%d: raise %s: %v", step, n, m.conn.raise(n))
		}
	}
	return nil
}

// report sends u and waits until the topology has taken it, then records
// the new wanted set.
func (m *model) report(mt *modelTopo, u libcluster.Update, next map[libcluster.Node]bool) error {
	// Empty Seen updates change nothing. The strategy takes the third
	// only after the loop has taken the second, which it does only after
	// applying the first and publishing its status.
	for _, u := range []libcluster.Update{u, libcluster.Seen(nil), libcluster.Seen(nil)} {
		select {
		case mt.strat.ch <- u:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s did not take an update", mt.topo.Name)
		}
	}
	want := slices.Sorted(func(yield func(libcluster.Node) bool) {
		for x := range next {
			if !yield(x) {
				return
			}
		}
	})
	if got := mt.topo.Status().Desired; !slices.Equal(got, want) {
		return fmt.Errorf("%s desired = %v, want %v", mt.topo.Name, got, want)
	}
	m.mu.Lock()
	mt.want = next
	for x := range next {
		mt.ever[x] = true
	}
	m.mu.Unlock()
	return nil
}

// settle waits until every invariant holds, and reports the ones that do
// not when the deadline passes.
func (m *model) settle(final map[libcluster.Node]int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := m.check(final)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

func (m *model) check(final map[libcluster.Node]int) error {
	m.conn.mu.Lock()
	if v := m.conn.violations; len(v) > 0 {
		m.conn.mu.Unlock()
		return fmt.Errorf("a wanted node was disconnected: %v", v)
	}
	m.conn.mu.Unlock()
	up := m.conn.Nodes()
	var problems []string
	for _, mt := range m.topos {
		st := mt.topo.Status()
		name := st.Name
		m.mu.Lock()
		want := slices.Sorted(func(yield func(libcluster.Node) bool) {
			for x := range mt.want {
				if !yield(x) {
					return
				}
			}
		})
		ever := mt.ever
		m.mu.Unlock()
		if !slices.Equal(st.Desired, want) {
			problems = append(problems, fmt.Sprintf("%s desired %v, want %v", name, st.Desired, want))
		}
		var both []libcluster.Node
		for _, x := range want {
			if slices.Contains(up, x) {
				both = append(both, x)
			} else if final[x] != modeRefuse {
				problems = append(problems, fmt.Sprintf("%s wants reachable %s, which is not connected", name, x))
			}
		}
		if !slices.Equal(st.Connected, both) {
			problems = append(problems, fmt.Sprintf("%s reports connected %v, but desired ∩ connector = %v", name, st.Connected, both))
		}
		if st.Ready != (len(st.Connected) >= mt.topo.Policy.MinNodes) {
			problems = append(problems, fmt.Sprintf("%s ready=%v with %d connected, MinNodes %d", name, st.Ready, len(st.Connected), mt.topo.Policy.MinNodes))
		}
		before, discs, inflight := m.conn.stats(name)
		outcomes := mt.log.count(libcluster.EventConnected, "") + mt.log.count(libcluster.EventConnectFailed, "")
		disconnected := mt.log.count(libcluster.EventDisconnected, "")
		after, _, inflight2 := m.conn.stats(name)
		if before == after && inflight == 0 && inflight2 == 0 && outcomes != after {
			problems = append(problems, fmt.Sprintf("%s emitted %d connect outcomes for %d connect calls", name, outcomes, after))
		}
		if inflight != 0 {
			problems = append(problems, fmt.Sprintf("%d connects in flight", inflight))
		}
		if disconnected != discs {
			problems = append(problems, fmt.Sprintf("%s emitted %d disconnected events for %d disconnects", name, disconnected, discs))
		}
		mt.log.mu.Lock()
		for _, e := range mt.log.evs {
			if (e.Kind == libcluster.EventNodeUp || e.Kind == libcluster.EventNodeDown) && !ever[e.Node] {
				problems = append(problems, fmt.Sprintf("%s emitted %s for %s, which it never wanted", name, e.Kind, e.Node))
			}
		}
		mt.log.mu.Unlock()
	}
	if len(problems) > 0 {
		return fmt.Errorf("connector has %v\n%s", up, strings.Join(problems, "\n"))
	}
	return nil
}

// unwatched is a scriptConn without WatchNodes, like a connector that
// reports no node events.
type unwatched struct{ c *scriptConn }

func (u *unwatched) Self() libcluster.Node { return u.c.Self() }
func (u *unwatched) Connect(ctx context.Context, n libcluster.Node) error {
	return u.c.Connect(ctx, n)
}
func (u *unwatched) Disconnect(ctx context.Context, n libcluster.Node) error {
	return u.c.Disconnect(ctx, n)
}
func (u *unwatched) Nodes() []libcluster.Node { return u.c.Nodes() }
