package libcluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Behaviours of one node in a scriptConn.
const (
	modeUp      = iota // connects succeed
	modeRefuse         // connects fail at once
	modeHang           // connects block until their ctx ends
	modeFlap           // the connection comes up and drops before Connect returns
	modeSlow           // connects succeed after a short wait
	modeFailOne        // the next connect fails, later ones succeed
)

var modeNames = []string{"up", "refuse", "hang", "flap", "slow", "fail-once"}

// topoKey tags the context a topology runs under, so scriptConn can tell
// which topology called it (every connect ctx derives from Run's ctx).
type topoKey struct{}

func tagged(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, topoKey{}, name)
}

func tagOf(ctx context.Context) string {
	s, _ := ctx.Value(topoKey{}).(string)
	return s
}

// scriptConn is a scriptable connector: every node has a mode that says how
// its connects behave, and the test can drop or raise connections by
// itself. Events go to the watchers in one global order, from the goroutine
// that caused them, as a real connector's single event queue does.
type scriptConn struct {
	self libcluster.Node

	evMu     sync.Mutex // orders events across goroutines
	mu       sync.Mutex
	up       map[libcluster.Node]bool
	mode     map[libcluster.Node]int
	watchers map[int]func(libcluster.NodeEvent)
	nextW    int
	inflight int
	// per topology tag
	connectsDone map[string]int // connect calls that returned
	discsOK      map[string]int // disconnect calls that closed a connection
	// wanted, when set, says whether some topology wants n; a disconnect
	// of a wanted node is recorded as a violation.
	wanted     func(libcluster.Node) bool
	violations []string
	slowDelay  time.Duration
}

func newScriptConn(self string) *scriptConn {
	return &scriptConn{
		self: libcluster.MustParseNode(self), up: map[libcluster.Node]bool{}, mode: map[libcluster.Node]int{},
		watchers: map[int]func(libcluster.NodeEvent){}, connectsDone: map[string]int{}, discsOK: map[string]int{},
		slowDelay: 3 * time.Millisecond,
	}
}

func (s *scriptConn) Self() libcluster.Node { return s.self }

func (s *scriptConn) setMode(n libcluster.Node, m int) {
	s.mu.Lock()
	s.mode[n] = m
	s.mu.Unlock()
}

// emit changes n's state and tells the watchers, in one global order.
func (s *scriptConn) emit(n libcluster.Node, up bool, reason string) bool {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.mu.Lock()
	if s.up[n] == up {
		s.mu.Unlock()
		return false
	}
	if up {
		s.up[n] = true
	} else {
		delete(s.up, n)
	}
	ids := make([]int, 0, len(s.watchers))
	for id := range s.watchers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(libcluster.NodeEvent), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, s.watchers[id])
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(libcluster.NodeEvent{Node: n, Up: up, Reason: reason})
	}
	return true
}

func (s *scriptConn) Connect(ctx context.Context, n libcluster.Node) error {
	tag := tagOf(ctx)
	s.mu.Lock()
	s.inflight++
	mode := s.mode[n]
	if s.up[n] {
		mode = modeUp // "returns nil once it is up (or already was)"
	} else if mode == modeFailOne {
		s.mode[n] = modeUp
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.connectsDone[tag]++
		s.mu.Unlock()
	}()
	switch mode {
	case modeRefuse, modeFailOne:
		return fmt.Errorf("%s refused the connection", n)
	case modeHang:
		<-ctx.Done()
		return ctx.Err()
	case modeSlow:
		t := time.NewTimer(s.slowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	case modeFlap:
		s.emit(n, true, "")
		s.emit(n, false, "connection_closed")
		return nil
	}
	s.emit(n, true, "")
	return nil
}

func (s *scriptConn) Disconnect(ctx context.Context, n libcluster.Node) error {
	s.mu.Lock()
	if s.wanted != nil && s.wanted(n) {
		s.violations = append(s.violations, fmt.Sprintf("%s disconnected %s while another topology wanted it", tagOf(ctx), n))
	}
	s.mu.Unlock()
	if !s.emit(n, false, "disconnect") {
		return libcluster.ErrNotConnected
	}
	s.mu.Lock()
	s.discsOK[tagOf(ctx)]++
	s.mu.Unlock()
	return nil
}

func (s *scriptConn) Nodes() []libcluster.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]libcluster.Node, 0, len(s.up))
	for n := range s.up {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *scriptConn) isUp(n libcluster.Node) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up[n]
}

func (s *scriptConn) WatchNodes(fn func(libcluster.NodeEvent)) func() {
	s.mu.Lock()
	id := s.nextW
	s.nextW++
	s.watchers[id] = fn
	s.mu.Unlock()
	return func() {
		s.evMu.Lock() // no event is being delivered once stop returns
		s.mu.Lock()
		delete(s.watchers, id)
		s.mu.Unlock()
		s.evMu.Unlock()
	}
}

// drop closes n's connection as a crashing peer would.
func (s *scriptConn) drop(n libcluster.Node) bool { return s.emit(n, false, "connection_closed") }

// raise brings n's connection up by itself, as a peer connecting in does.
func (s *scriptConn) raise(n libcluster.Node) bool { return s.emit(n, true, "") }

func (s *scriptConn) stats(tag string) (connects, discs, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectsDone[tag], s.discsOK[tag], s.inflight
}
