package nodeevents_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/nodeevents"
)

func TestOrderedDeliveryAndCloseDrains(t *testing.T) {
	var q nodeevents.Queue
	q.Start()
	var mu sync.Mutex
	var got []libcluster.Node
	block := make(chan struct{})
	q.Watch(func(ev libcluster.NodeEvent) {
		<-block // a slow watcher must not block Push
		mu.Lock()
		got = append(got, ev.Node)
		mu.Unlock()
	})
	want := []libcluster.Node{"a@h", "b@h", "c@h"}
	pushed := make(chan struct{})
	go func() {
		for _, n := range want {
			q.Push(libcluster.NodeEvent{Node: n, Up: true})
		}
		close(pushed)
	}()
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("Push blocked on a slow watcher")
	}
	close(block)
	q.Close() // delivers what is queued
	q.Close() // idempotent
	q.Push(libcluster.NodeEvent{Node: "late@h"})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v in order", got, want)
	}
}

func TestStoppedWatcherGetsNothing(t *testing.T) {
	var q nodeevents.Queue
	q.Start()
	calls := 0
	stop := q.Watch(func(libcluster.NodeEvent) { calls++ })
	stop()
	q.Push(libcluster.NodeEvent{Node: "a@h"})
	q.Close()
	if calls != 0 {
		t.Fatalf("stopped watcher called %d times", calls)
	}
}

// Once stop has returned, fn is never called again, even when stop races
// with a delivery that already took the watcher list.
func TestNoCallAfterStopReturns(t *testing.T) {
	for i := range 200 {
		var q nodeevents.Queue
		q.Start()
		var mu sync.Mutex
		stopped, late := false, 0
		inFn := make(chan struct{}, 1)
		stopping := make(chan struct{})
		stop := q.Watch(func(ev libcluster.NodeEvent) {
			if ev.Node == "a@h" {
				inFn <- struct{}{}
				<-stopping // hold the delivery until stop is being called
			}
			mu.Lock()
			if stopped {
				late++
			}
			mu.Unlock()
		})
		q.Push(libcluster.NodeEvent{Node: "a@h"})
		q.Push(libcluster.NodeEvent{Node: "b@h"})
		<-inFn // a delivery is under way
		close(stopping)
		stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
		q.Push(libcluster.NodeEvent{Node: "c@h"})
		q.Close() // delivers the rest
		mu.Lock()
		if late > 0 {
			mu.Unlock()
			t.Fatalf("round %d: fn called %d times after stop returned", i, late)
		}
		mu.Unlock()
	}
}
