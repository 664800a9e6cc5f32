// Package clustertest holds test doubles and polling helpers shared by the
// tests of the strategies and connectors: a Connector that records calls
// instead of dialling, a Reporter that records updates, an Observer that
// records topology events, and poll-until-deadline assertions.
//
// The doubles are for tests of the logic above the distribution layer;
// the real connectors have their own tests against real nodes.
package clustertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Deadline is how long Eventually waits. It is generous on purpose: the
// tests run with -race on loaded machines.
const Deadline = 30 * time.Second

// pollEvery is how often Eventually re-checks its condition.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond until it holds, and fails the test when it still
// does not hold after Deadline. what names the awaited state in the
// failure message.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Deadline, what, cond)
}

// EventuallyWithin is Eventually with the deadline d.
func EventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pollEvery)
	}
}

// Nodes converts node names to a []libcluster.Node, in the given order.
func Nodes(names ...string) []libcluster.Node {
	out := make([]libcluster.Node, len(names))
	for i, n := range names {
		out[i] = libcluster.Node(n)
	}
	return out
}

// Connector is a libcluster.Connector that records Connect and Disconnect
// calls and dials nothing. Connect always succeeds; Disconnect of a node
// that is not connected returns libcluster.ErrNotConnected. The zero value
// is not usable: make one with NewConnector. It is safe for concurrent use.
type Connector struct {
	self    libcluster.Node
	changed chan struct{}

	mu          sync.Mutex
	up          map[libcluster.Node]time.Time // connected nodes, since when
	first       map[libcluster.Node]time.Time // first connect ever
	connects    []libcluster.Node
	disconnects []libcluster.Node
}

// NewConnector returns a Connector whose Self is self.
func NewConnector(self libcluster.Node) *Connector {
	return &Connector{
		self:    self,
		changed: make(chan struct{}, 1),
		up:      map[libcluster.Node]time.Time{},
		first:   map[libcluster.Node]time.Time{},
	}
}

// Self returns the node given to NewConnector.
func (c *Connector) Self() libcluster.Node { return c.self }

// Connect records n as connected (keeping the time of an earlier connect
// that was not undone) and succeeds.
func (c *Connector) Connect(_ context.Context, n libcluster.Node) error {
	now := time.Now()
	c.mu.Lock()
	if _, ok := c.up[n]; !ok {
		c.up[n] = now
	}
	if _, ok := c.first[n]; !ok {
		c.first[n] = now
	}
	c.connects = append(c.connects, n)
	c.mu.Unlock()
	c.notify()
	return nil
}

// Disconnect records n as disconnected, or returns
// libcluster.ErrNotConnected when it was not connected.
func (c *Connector) Disconnect(_ context.Context, n libcluster.Node) error {
	c.mu.Lock()
	if _, ok := c.up[n]; !ok {
		c.mu.Unlock()
		return libcluster.ErrNotConnected
	}
	delete(c.up, n)
	c.disconnects = append(c.disconnects, n)
	c.mu.Unlock()
	c.notify()
	return nil
}

func (c *Connector) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Nodes returns the connected nodes, sorted.
func (c *Connector) Nodes() []libcluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]libcluster.Node, 0, len(c.up))
	for n := range c.up {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Connects returns every node passed to Connect, in call order.
func (c *Connector) Connects() []libcluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.connects)
}

// Disconnects returns every node successfully disconnected, in call order.
func (c *Connector) Disconnects() []libcluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.disconnects)
}

// ConnectedAt reports whether n is connected and since when.
func (c *Connector) ConnectedAt(n libcluster.Node) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.up[n]
	return at, ok
}

// FirstConnect reports when n was first connected, even if it was
// disconnected since.
func (c *Connector) FirstConnect(n libcluster.Node) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.first[n]
	return at, ok
}

// Changed returns a channel that receives (coalesced) after each recorded
// connect or disconnect, so a test can wait instead of polling.
func (c *Connector) Changed() <-chan struct{} { return c.changed }

// ReporterFunc adapts a function to libcluster.Reporter.
type ReporterFunc func(libcluster.Update)

// Report calls f(u).
func (f ReporterFunc) Report(u libcluster.Update) { f(u) }

// Recorder is a libcluster.Reporter that records every update. The zero
// value is ready to use; it is safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	us []libcluster.Update
}

// Report records u.
func (r *Recorder) Report(u libcluster.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.us = append(r.us, u)
}

// Updates returns the recorded updates, oldest first.
func (r *Recorder) Updates() []libcluster.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.us)
}

// Len returns the number of recorded updates.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.us)
}

// Last returns the latest update, and false when there is none.
func (r *Recorder) Last() (libcluster.Update, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.us) == 0 {
		return libcluster.Update{}, false
	}
	return r.us[len(r.us)-1], true
}

// Count returns the number of updates that carry an error (errs true) or
// that do not (errs false).
func (r *Recorder) Count(errs bool) int {
	n := 0
	for _, u := range r.Updates() {
		if (u.Kind() == libcluster.KindFailed) == errs {
			n++
		}
	}
	return n
}

// EventLog records topology events; pass its Observe method in
// libcluster.Topology.Observers. The zero value is ready to use; it is safe
// for concurrent use.
type EventLog struct {
	mu  sync.Mutex
	evs []libcluster.Event
}

// Observe records ev. It has the libcluster.Observer signature.
func (e *EventLog) Observe(ev libcluster.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// All returns the recorded events, oldest first.
func (e *EventLog) All() []libcluster.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.evs)
}

// Of returns the recorded events of kind k, oldest first.
func (e *EventLog) Of(k libcluster.EventKind) []libcluster.Event {
	var out []libcluster.Event
	for _, ev := range e.All() {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// AllConnected reports whether every node in want is connected, and the
// latest of their connect times.
func (c *Connector) AllConnected(want []libcluster.Node) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, n := range want {
		at, ok := c.up[n]
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}
