package clustertest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/libcluster-go/libcluster"
)

func TestConnectorRecords(t *testing.T) {
	ctx := context.Background()
	c := NewConnector("self@127.0.0.1")
	if c.Self() != "self@127.0.0.1" {
		t.Fatalf("Self = %q", c.Self())
	}
	for _, n := range Nodes("b@h", "a@h", "b@h") {
		if err := c.Connect(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Nodes(); !slices.Equal(got, Nodes("a@h", "b@h")) {
		t.Fatalf("Nodes = %v, want sorted [a@h b@h]", got)
	}
	if got := c.Connects(); !slices.Equal(got, Nodes("b@h", "a@h", "b@h")) {
		t.Fatalf("Connects = %v", got)
	}
	first, _ := c.FirstConnect("b@h")
	if err := c.Disconnect(ctx, "b@h"); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx, "b@h"); !errors.Is(err, libcluster.ErrNotConnected) {
		t.Fatalf("second Disconnect = %v, want ErrNotConnected", err)
	}
	if _, ok := c.AllConnected(Nodes("a@h", "b@h")); ok {
		t.Fatal("AllConnected true after b@h was disconnected")
	}
	_ = c.Connect(ctx, "b@h")
	if again, _ := c.FirstConnect("b@h"); !again.Equal(first) {
		t.Fatalf("FirstConnect moved from %v to %v on reconnect", first, again)
	}
	if got := c.Disconnects(); !slices.Equal(got, Nodes("b@h")) {
		t.Fatalf("Disconnects = %v", got)
	}
	select {
	case <-c.Changed():
	default:
		t.Fatal("Changed did not signal")
	}
}

func TestRecorderAndEventLog(t *testing.T) {
	var r Recorder
	if _, ok := r.Last(); ok {
		t.Fatal("Last of an empty Recorder reported an update")
	}
	r.Report(libcluster.Seen(Nodes("a@h")))
	r.Report(libcluster.Failed(errors.New("boom")))
	if r.Len() != 2 || r.Count(true) != 1 || r.Count(false) != 1 {
		t.Fatalf("Len %d, errors %d, good %d; want 2, 1, 1", r.Len(), r.Count(true), r.Count(false))
	}
	if u, _ := r.Last(); u.Err() == nil {
		t.Fatalf("Last = %+v, want the error update", u)
	}
	var e EventLog
	e.Observe(libcluster.Event{Kind: libcluster.EventDiscoveryError})
	if len(e.Of(libcluster.EventDiscoveryError)) != 1 || len(e.All()) != 1 {
		t.Fatalf("events %+v", e.All())
	}
}

func TestEventuallyPolls(t *testing.T) {
	n := 0
	Eventually(t, "the third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
	if FreePort(t) == 0 || FreeUDPPort(t) == 0 {
		t.Fatal("port 0 returned")
	}
}
