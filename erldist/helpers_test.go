package erldist

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

func testLogger() *slog.Logger {
	if os.Getenv("DIST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNode starts a node with EPMD on epmdPort (auto mode) and closes it
// at the end of the test.
func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.Cookie == "" {
		cfg.Cookie = "testcookie"
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// events records node events.
type events struct {
	mu  sync.Mutex
	evs []libcluster.NodeEvent
	ch  chan struct{}
}

func watch(t testing.TB, n *Node) *events {
	e := &events{ch: make(chan struct{}, 1)}
	stop := n.WatchNodes(func(ev libcluster.NodeEvent) {
		e.mu.Lock()
		e.evs = append(e.evs, ev)
		e.mu.Unlock()
		select {
		case e.ch <- struct{}{}:
		default:
		}
	})
	t.Cleanup(stop)
	return e
}

func (e *events) all() []libcluster.NodeEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]libcluster.NodeEvent(nil), e.evs...)
}

// wait waits until an event matching f arrives, and returns it.
func (e *events) wait(t testing.TB, d time.Duration, what string, f func(libcluster.NodeEvent) bool) libcluster.NodeEvent {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		for _, ev := range e.all() {
			if f(ev) {
				return ev
			}
		}
		select {
		case <-e.ch:
		case <-deadline.C:
			t.Fatalf("no %s event within %v; events: %+v", what, d, e.all())
		}
	}
}

func recvMsg(t testing.TB, ch <-chan Message, d time.Duration) Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("mailbox closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return Message{}
}
