package gossip

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
)

// FuzzDecode feeds arbitrary datagrams to every decoder mode. It must never
// panic, and whatever it accepts must be a valid node name that encodes
// back to a heartbeat naming the same node.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{capPlainA, capUTF8B, capSecretS1, capWrongW, capInjected} {
		f.Add(unhex(f, s))
	}
	f.Add([]byte(Prefix + "\x83t\x00\x00\x00\x02d\x00\x03agea\x07d\x00\x04noded\x00\x0bx@127.0.0.1"))
	f.Add([]byte(Prefix + "\x83\xff\x00"))
	blue := testRunner(f, SecurityAEAD, "s3cret")
	enc, _ := EncodeHeartbeat("n1@10.0.0.1")
	pkt, _ := blue.aead.seal(enc, time.Unix(1700000000, 0))
	f.Add(pkt)
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := DecodeHeartbeat(b); err == nil {
			if _, perr := libcluster.ParseNode(string(n)); perr != nil {
				t.Fatalf("accepted invalid name %q", n)
			}
			again, err := EncodeHeartbeat(n)
			if err != nil {
				t.Fatal(err)
			}
			if m, err := DecodeHeartbeat(again); err != nil || m != n {
				t.Fatalf("re-encode of %q decodes to %q %v", n, m, err)
			}
		} else if reasonOf(err) == DropMalformed {
			t.Fatalf("unclassified error %v", err)
		}
		for _, x := range []*runner{testRunner(t, SecurityCBC, "somepassword"), testRunner(t, SecurityAEAD, "s3cret")} {
			_, _ = x.decode(b, time.Unix(1700000000, 0))
		}
	})
}

// TestFloodOfGarbage sends 10 000 random and malformed datagrams at a live
// node: it keeps running, counts every one of them as dropped, and still
// accepts a good heartbeat afterwards.
func TestFloodOfGarbage(t *testing.T) {
	port := clustertest.FreeUDPPort(t)
	s := loopbackMulticast(0, port)
	s.Interval = time.Hour // only the first heartbeat: the counters stay exact
	m := startMember(t, s)
	clustertest.Eventually(t, "own first heartbeat", func() bool { return m.s.Stats().Own == 1 })

	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good, _ := EncodeHeartbeat("good@127.0.0.1")
	rng := rand.New(rand.NewPCG(1, 2))
	const N = 10000
	for i := range N {
		var pkt []byte
		switch i % 5 {
		case 0: // random bytes
			pkt = make([]byte, rng.IntN(300))
			for j := range pkt {
				pkt[j] = byte(rng.Uint32())
			}
		case 1: // truncated heartbeat
			pkt = good[:rng.IntN(len(good))]
		case 2: // heartbeat with a flipped byte after the prefix
			pkt = bytes.Clone(good)
			j := len(Prefix) + rng.IntN(len(good)-len(Prefix))
			pkt[j] ^= byte(1 + rng.IntN(255))
			if _, err := DecodeHeartbeat(pkt); err == nil {
				pkt = []byte(Prefix + "\x83\xff\x00") // flip made another valid name: use libcluster's crasher instead
			}
		case 3: // libcluster's crasher
			pkt = []byte(Prefix + "\x83\xff\x00")
		case 4: // oversized
			pkt = make([]byte, MaxDatagram+1+rng.IntN(1000))
		}
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // let the reader keep up, so the socket buffer does not overflow
			want := uint64(i + 1)
			clustertest.Eventually(t, "flood received", func() bool { return m.s.Stats().DroppedTotal() >= want })
		}
	}
	clustertest.Eventually(t, "flood counted", func() bool { return m.s.Stats().DroppedTotal() == N })
	if _, err := c.Write(good); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, "good heartbeat connected", func() bool {
		_, ok := m.rec.AllConnected([]libcluster.Node{"good@127.0.0.1"})
		return ok
	})
	st := m.s.Stats()
	t.Logf("after flood: %+v", st)
	if st.Accepted != 1 || st.DroppedTotal() != N {
		t.Fatalf("stats %+v: want exactly 1 accepted and %d dropped", st, N)
	}
	if st.Dropped[DropOversize] != N/5 {
		t.Fatalf("oversize drops %d, want %d", st.Dropped[DropOversize], N/5)
	}
	// The same counts, as exported to /metrics.
	byReason := m.s.DroppedByReason()
	for r, n := range st.Dropped {
		if byReason[string(r)] != n {
			t.Errorf("DroppedByReason()[%s] = %d, Stats says %d", r, byReason[string(r)], n)
		}
	}
}
