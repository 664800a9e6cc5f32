package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/libcluster-go/libcluster"
)

// watchedConn is a connector whose members and events the test sets.
type watchedConn struct {
	mu    sync.Mutex
	nodes []libcluster.Node
	fn    func(libcluster.NodeEvent)
}

func (c *watchedConn) Self() libcluster.Node                             { return "a@127.0.0.1" }
func (c *watchedConn) Connect(context.Context, libcluster.Node) error    { return nil }
func (c *watchedConn) Disconnect(context.Context, libcluster.Node) error { return nil }
func (c *watchedConn) Close() error                                      { return nil }
func (c *watchedConn) Nodes() []libcluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]libcluster.Node(nil), c.nodes...)
}
func (c *watchedConn) WatchNodes(fn func(libcluster.NodeEvent)) func() {
	c.fn = fn
	return func() { c.fn = nil }
}

// A member that joined before the watch started is logged as joined; a
// repeated up event is not logged twice; a leave and a rejoin are.
func TestLogMembers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	b := libcluster.Node("b@127.0.0.2")
	c := &watchedConn{nodes: []libcluster.Node{b}}
	stop := logMembers(c, log)
	c.fn(libcluster.NodeEvent{Node: b, Up: true}) // queued before the watch, delivered after
	c.mu.Lock()
	c.nodes = nil
	c.mu.Unlock()
	c.fn(libcluster.NodeEvent{Node: b, Reason: "left"})
	c.fn(libcluster.NodeEvent{Node: b, Up: true})
	stop()
	if c.fn != nil {
		t.Error("stop did not end the watch")
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if i := strings.Index(l, "msg="); i >= 0 {
			got = append(got, l[i:])
		}
	}
	want := []string{
		`msg="member joined" node=b@127.0.0.2 members=1`,
		`msg="member left" node=b@127.0.0.2 reason=left members=0`,
		`msg="member joined" node=b@127.0.0.2 members=0`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
