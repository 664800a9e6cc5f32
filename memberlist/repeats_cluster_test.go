package memberlist_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/memberlist"
)

// startMesh starts the first n nodes of f with cfg changed by edit, joins
// them all through node 0 and waits until each lists all the others.
func startMesh(t *testing.T, f *fleet, n int, edit func(*memberlist.Config)) []*memberlist.Node {
	t.Helper()
	names := f.names()[:n]
	var nodes []*memberlist.Node
	for i := range names {
		cfg := f.config(i)
		edit(&cfg)
		n, err := memberlist.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", names[i], err)
		}
		t.Cleanup(n.Kill)
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, n := range nodes[1:] {
		if err := n.Connect(ctx, names[0]); err != nil {
			t.Fatalf("%s joins %s: %v", n.Self(), names[0], err)
		}
	}
	eventually(t, wait, "every node lists all the others", func() bool {
		for i, n := range nodes {
			if !sameSet(n.Nodes(), without(names, names[i])) {
				return false
			}
		}
		return true
	})
	return nodes
}

func dropped(nodes []*memberlist.Node) (sum uint64) {
	for _, n := range nodes {
		sum += n.RepeatsDropped()
	}
	return sum
}

// The repeat filter drops the copies of alive messages that gossip brings
// each member, encrypted, compressed or neither, and the cluster still
// forms; with the filter off nothing is dropped.
func TestRepeatFilterInCluster(t *testing.T) {
	f := newFleet(t, 6, 41)
	nodes := startMesh(t, f, 5, func(*memberlist.Config) {})
	eventually(t, wait, "some node drops a repeated alive message", func() bool { return dropped(nodes) > 0 })
	t.Logf("filter on, 5 nodes: %d repeats dropped", dropped(nodes))

	off := startMesh(t, newFleet(t, 3, 47), 3, func(c *memberlist.Config) { c.Tuning.RepeatFilter = new(false) })
	keyed := startMesh(t, newFleet(t, 4, 50), 4, func(c *memberlist.Config) { c.SecretKey = bytes.Repeat([]byte{7}, 16) })
	eventually(t, wait, "an encrypted node drops a repeated alive message", func() bool { return dropped(keyed) > 0 })
	t.Logf("encrypted, 4 nodes: %d repeats dropped", dropped(keyed))
	squeezed := startMesh(t, newFleet(t, 4, 54), 4, func(c *memberlist.Config) {
		c.SecretKey = bytes.Repeat([]byte{8}, 32)
		c.Tuning.Compression = new(true)
	})
	eventually(t, wait, "an encrypted, compressing node drops a repeated alive message", func() bool { return dropped(squeezed) > 0 })
	t.Logf("encrypted and compressed, 4 nodes: %d repeats dropped", dropped(squeezed))
	// The encrypted fleet has gossiped as long as the filtering ones.
	if d := dropped(off); d != 0 {
		t.Errorf("filter off: %d dropped, want 0", d)
	}
	// A new member still joins a filtering cluster and is listed by all.
	late := f.start(5)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := late.Connect(ctx, nodes[2].Self()); err != nil {
		t.Fatalf("late member joins: %v", err)
	}
	all := append([]*memberlist.Node{late}, nodes...)
	var names []libcluster.Node
	for _, n := range all {
		names = append(names, n.Self())
	}
	eventually(t, wait, "every node lists the late member", func() bool {
		for _, n := range all {
			if !sameSet(n.Nodes(), without(names, n.Self())) {
				return false
			}
		}
		return true
	})
}
