package memberlist_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/memberlist"
)

// Nodes with different secret keys never merge; nodes with the same key do.
func TestWrongKeyDoesNotMerge(t *testing.T) {
	f := newFleet(t, 3, 31)
	names := f.names()
	keyA := bytes.Repeat([]byte{0xA1}, 32)
	keyB := bytes.Repeat([]byte{0xB2}, 32)

	f.key = keyA
	a := f.start(0)
	c := f.start(2)
	f.key = keyB
	b := f.start(1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Connect(ctx, names[1])
	if err == nil {
		t.Fatal("Connect to a node with another key succeeded")
	}
	t.Logf("wrong key: %v", err)
	if !strings.Contains(err.Error(), "SecretKey") {
		t.Errorf("error does not point at the key: %v", err)
	}
	if err := b.Connect(ctx, names[0]); err == nil {
		t.Fatal("Connect from the node with another key succeeded")
	}
	// Same key: they merge. This also gives gossip time to leak across,
	// if it could.
	if err := a.Connect(ctx, names[2]); err != nil {
		t.Fatalf("Connect with the same key: %v", err)
	}
	eventually(t, wait, "a and c see each other", func() bool {
		return sameSet(a.Nodes(), names[2:3]) && sameSet(c.Nodes(), names[0:1])
	})
	if got := b.Nodes(); len(got) != 0 {
		t.Errorf("node with another key lists %v", got)
	}
	if got := a.Nodes(); !sameSet(got, names[2:3]) {
		t.Errorf("a lists %v, want only %s", got, names[2])
	}
}

// A node name whose address is held by a node with another name is
// reported as a mismatch naming the node found there.
func TestNameMismatch(t *testing.T) {
	f := newFleet(t, 2, 34)
	a := f.start(0)
	f.start(1)
	impostor := libcluster.MustParseNode("other@" + f.ips[1])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Connect(ctx, impostor)
	var mm *memberlist.NameMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Connect(%s) = %v, want a NameMismatchError", impostor, err)
	}
	if mm.Want != impostor || mm.Got != f.name(1) || mm.Addr.Port() != uint16(f.port) {
		t.Errorf("mismatch error fields: %+v", mm)
	}
	if !strings.Contains(err.Error(), string(f.name(1))) {
		t.Errorf("error does not name the node found: %v", err)
	}
	// The node found is a member now (memberlist merged on contact), so
	// connecting it by its right name is immediate.
	if err := a.Connect(ctx, f.name(1)); err != nil {
		t.Fatalf("Connect(%s): %v", f.name(1), err)
	}
	if !sameSet(a.Nodes(), []libcluster.Node{f.name(1)}) {
		t.Errorf("a lists %v", a.Nodes())
	}
}

// Connect gives up when its context ends and rejects invalid names.
func TestConnectBounds(t *testing.T) {
	f := newFleet(t, 1, 36)
	a := f.start(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := a.Connect(ctx, "nobody@127.0.0.37")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with a cancelled context = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect with a cancelled context took %v", d)
	}
	if err := a.Connect(context.Background(), "no-at-sign"); !errors.Is(err, libcluster.ErrIgnored) {
		t.Errorf("Connect(invalid name) = %v, want ErrIgnored", err)
	}
	if err := a.Connect(context.Background(), a.Self()); err != nil {
		t.Errorf("Connect(self) = %v", err)
	}
	// A name that maps to this node's own address is refused, not joined.
	err = a.Connect(context.Background(), libcluster.MustParseNode("twin@"+f.ips[0]))
	if err == nil || !strings.Contains(err.Error(), "own address") {
		t.Errorf("Connect(name at own address) = %v, want an own-address error", err)
	}
	// Nobody listens at the fleet port on that address.
	err = a.Connect(context.Background(), "nobody@127.0.0.37")
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Connect(absent node) = %v, want connection refused", err)
	}
}

// A member on a port other than the fleet's is reconnected at the address
// it advertised, after it crashed and came back.
func TestReconnectAtLearnedAddress(t *testing.T) {
	log := testLogger(t)
	fleetPort := clustertest.FreeSharedPort(t, "127.0.0.1")
	ownPort := clustertest.FreeSharedPort(t, "127.0.0.1")
	start := func(name string, port int) *memberlist.Node {
		cfg := memberlist.DefaultConfig(libcluster.MustParseNode(name))
		cfg.BindAddr, cfg.BindPort, cfg.PeerPort = "127.0.0.1", port, fleetPort
		cfg.Profile = memberlist.ProfileLocal
		cfg.Logger = log
		cfg.Tune = fastTimings
		n, err := memberlist.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Kill)
		return n
	}
	seed := start("seed@127.0.0.1", fleetPort)
	other := start("other@127.0.0.1", ownPort)
	rec := watch(t, seed)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := other.Connect(ctx, seed.Self()); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "seed sees other", func() bool { return rec.has(0, other.Self(), true, "") })

	// Before it has been seen, a name on the fleet port's host would be
	// dialled at the fleet port; after a crash the learned port is used.
	mark := rec.len()
	other.Kill()
	eventually(t, wait, "seed finds other failed", func() bool {
		return rec.has(mark, other.Self(), false, memberlist.ReasonFailed)
	})
	other = start("other@127.0.0.1", ownPort)
	if err := seed.Connect(ctx, other.Self()); err != nil {
		t.Fatalf("reconnect at the learned address: %v", err)
	}
	eventually(t, wait, "both members again", func() bool {
		return sameSet(seed.Nodes(), []libcluster.Node{other.Self()}) && sameSet(other.Nodes(), []libcluster.Node{seed.Self()})
	})
}
