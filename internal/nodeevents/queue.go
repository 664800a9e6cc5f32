// Package nodeevents hands node up/down events from a connector's network
// goroutines to its watchers, in order and from one goroutine of its own, so
// that a slow watcher never blocks the network side. Both connectors (dist
// and memberlist) use it to implement libcluster.NodeWatcher.
package nodeevents

import (
	"slices"
	"sync"

	"github.com/libcluster-go/libcluster"
)

// Queue is an unbounded, ordered event queue with any number of watchers.
// Call Start before use and Close when done.
type Queue struct {
	mu       sync.Mutex
	q        []libcluster.NodeEvent
	watchers map[int]func(libcluster.NodeEvent)
	next     int
	calling  int        // id of the watcher being called; -1 none
	idle     *sync.Cond // signalled when a call ends
	closed   bool
	wake     chan struct{}
	done     chan struct{}
}

// Start starts the delivering goroutine.
func (e *Queue) Start() {
	e.watchers = map[int]func(libcluster.NodeEvent){}
	e.calling = -1
	e.idle = sync.NewCond(&e.mu)
	e.wake = make(chan struct{}, 1)
	e.done = make(chan struct{})
	go e.run()
}

// Push queues ev for every watcher. It never blocks; after Close it drops
// the event.
func (e *Queue) Push(ev libcluster.NodeEvent) {
	e.mu.Lock()
	if !e.closed {
		e.q = append(e.q, ev)
	}
	e.mu.Unlock()
	e.poke()
}

// Watch adds fn as a watcher until the returned stop function is called.
// fn is called from one goroutine, one event at a time, in order. Once stop
// has returned, fn is never called again: stop waits for a call in
// progress, so it must not be called from fn itself.
func (e *Queue) Watch(fn func(libcluster.NodeEvent)) (stop func()) {
	e.mu.Lock()
	id := e.next
	e.next++
	e.watchers[id] = fn
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		delete(e.watchers, id)
		for e.calling == id {
			e.idle.Wait()
		}
		e.mu.Unlock()
	}
}

// Close delivers what is queued, then stops the goroutine and waits for it.
// It is safe to call more than once.
func (e *Queue) Close() {
	e.mu.Lock()
	already := e.closed
	e.closed = true
	e.mu.Unlock()
	if already {
		return
	}
	e.poke()
	<-e.done
}

func (e *Queue) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Queue) run() {
	defer close(e.done)
	for {
		e.mu.Lock()
		q, closed := e.q, e.closed
		e.q = nil
		ids := make([]int, 0, len(e.watchers))
		for id := range e.watchers {
			ids = append(ids, id)
		}
		e.mu.Unlock()
		slices.Sort(ids)
		for _, ev := range q {
			for _, id := range ids {
				e.call(id, ev)
			}
		}
		if closed {
			return
		}
		if len(q) == 0 {
			<-e.wake
		}
	}
}

// call gives ev to watcher id unless it has been stopped, marking the call
// so that its stop waits for it.
func (e *Queue) call(id int, ev libcluster.NodeEvent) {
	e.mu.Lock()
	fn := e.watchers[id]
	if fn == nil {
		e.mu.Unlock()
		return
	}
	e.calling = id
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.calling = -1
		e.idle.Broadcast()
		e.mu.Unlock()
	}()
	fn(ev)
}
