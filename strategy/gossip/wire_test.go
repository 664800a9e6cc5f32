package gossip

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Datagrams captured from libcluster 3.5.0 on OTP 25 (see the package
// README for the capture setup).
const (
	capPlainA   = "68 65 61 72 74 62 65 61 74 3a 3a 83 74 00 00 00 01 64 00 04 6e 6f 64 65 64 00 0b 61 40 31 32 37 2e 30 2e 30 2e 31"
	capUTF8B    = "6865617274626561743a3a83740000000177046e6f6465770b62403132372e302e302e31"
	capSecretS1 = "54692443e5753064b96be3e0978493eab3a4d18d5f2d59ad6415e042603d52bf298f08bc5fe932cf011023fdd70deb8bb74082a982233f5e701e5467d71614a7"
	capWrongW   = "c6278e391919fbe348c127c5dbd9603795279b88afc82aa2cfcc9d829f2a7fdd2514a950e67a0d57f83f412df0fa65cbca9dca6fb17ce5a35db7597aefe01f58"
	capInjected = "00112233445566778899aabbccddeeff1a7d4fae83605a591c60f9c39191f52a5735407b23865526e48f1b9840390565e339d6db80874e78729ab1c8142c0249"
)

func TestEncodeMatchesCapture(t *testing.T) {
	got, err := EncodeHeartbeat("a@127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, capPlainA); !bytes.Equal(got, want) {
		t.Fatalf("encode a@127.0.0.1:\n got %x\nwant %x", got, want)
	}
	if len(got) != 27+len("a@127.0.0.1") {
		t.Fatalf("length %d, want 27+len(name)", len(got))
	}
	g, _ := EncodeHeartbeat("g@10.77.0.2")
	if want := unhex(t, "6865617274626561743a3a8374000000016400046e6f646564000b6740"+hex.EncodeToString([]byte("10.77.0.2"))); !bytes.Equal(g, want) {
		t.Fatalf("encode g@10.77.0.2: got %x want %x", g, want)
	}
	if _, err := EncodeHeartbeat("nonode"); err == nil {
		t.Fatal("invalid node name encoded")
	}
}

func TestDecodeCapturedPlain(t *testing.T) {
	for _, tc := range []struct{ hex, node string }{
		{capPlainA, "a@127.0.0.1"},
		{"6865617274626561743a3a8374000000016400046e6f646564000b6740" + hex.EncodeToString([]byte("10.77.0.2")), "g@10.77.0.2"},
		{capUTF8B, "b@127.0.0.1"},
		// OTP 26+ form of a@127.0.0.1 from the capture notes.
		{"6865617274626561743a3a" + "8374000000017704 6e6f6465770b 61403132372e302e302e31", "a@127.0.0.1"},
		// SMALL_ATOM_EXT (115) and ATOM_UTF8_EXT (118).
		{"6865617274626561743a3a" + "83740000000173046e6f6465" + "76000b61403132372e302e302e31", "a@127.0.0.1"},
	} {
		n, err := DecodeHeartbeat(unhex(t, tc.hex))
		if err != nil || n != libcluster.Node(tc.node) {
			t.Errorf("decode %s: got %q, %v; want %s", tc.hex, n, err, tc.node)
		}
	}
}

func TestDecodeCapturedCBC(t *testing.T) {
	for _, tc := range []struct {
		pkt, secret, node string
	}{
		{capSecretS1, "somepassword", "s1@127.0.0.1"},
		{capWrongW, "wrongpassword", "w@127.0.0.1"},
		{capInjected, "somepassword", "c@127.0.0.1"},
	} {
		plain, err := OpenCBC([]byte(tc.secret), unhex(t, tc.pkt))
		if err != nil {
			t.Fatalf("open %s with %s: %v", tc.node, tc.secret, err)
		}
		n, err := DecodeHeartbeat(plain)
		if err != nil || n != libcluster.Node(tc.node) {
			t.Fatalf("decode: got %q, %v; want %s", n, err, tc.node)
		}
	}
	// The plaintext of s1 must be exactly what our encoder makes.
	plain, _ := OpenCBC([]byte("somepassword"), unhex(t, capSecretS1))
	enc, _ := EncodeHeartbeat("s1@127.0.0.1")
	if !bytes.Equal(plain, enc) {
		t.Fatalf("s1 plaintext %x, encoder %x", plain, enc)
	}
	// Our encryption with the captured IV reproduces the captured packet.
	pkt := unhex(t, capSecretS1)
	again, err := sealCBCWithIV([]byte("somepassword"), pkt[:16], enc)
	if err != nil || !bytes.Equal(again, pkt) {
		t.Fatalf("re-encrypt with captured IV:\n got %x\nwant %x", again, pkt)
	}
}

func TestCapturedMixedRunKeys(t *testing.T) {
	// Wrong secret: each captured packet fails with the other key.
	for _, tc := range []struct{ pkt, secret string }{{capSecretS1, "wrongpassword"}, {capWrongW, "somepassword"}} {
		x := testRunner(t, SecurityCBC, tc.secret)
		if _, err := x.decode(unhex(t, tc.pkt), time.Now()); reasonOf(err) != DropDecrypt && reasonOf(err) != DropNotHeartbeat && reasonOf(err) != DropBadTerm {
			t.Fatalf("wrong secret %s: got %v, want a drop", tc.secret, err)
		}
	}
}

func testRunner(t testing.TB, sec Security, secret string) *runner {
	t.Helper()
	s, err := New(Config{Security: sec, Secret: secret, Cluster: "blue", ReplayWindow: time.Second}, strategy.Options{Self: "me@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.c
	x := &runner{s: s, c: c, replay: map[string]time.Time{}, seen: map[libcluster.Node]time.Time{}, logged: map[netip.Addr]time.Time{}}
	if sec == SecurityAEAD {
		if x.aead, err = newAEAD(c.secret, c.cluster); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func TestDropReasons(t *testing.T) {
	plainA := unhex(t, capPlainA)
	cbc := testRunner(t, SecurityCBC, "somepassword")
	plain := testRunner(t, SecurityPlain, "")
	check := func(name string, x *runner, pkt []byte, want DropReason) {
		t.Helper()
		n, err := x.decode(pkt, time.Now())
		if err == nil {
			t.Fatalf("%s: accepted as %q, want drop %s", name, n, want)
		}
		if got := reasonOf(err); got != want {
			t.Fatalf("%s: reason %s (%v), want %s", name, got, err, want)
		}
	}
	check("plain to secret", cbc, plainA, DropFormat)
	check("cbc to plain", plain, unhex(t, capSecretS1), DropNotHeartbeat)
	check("truncated cbc", cbc, unhex(t, capSecretS1)[:40], DropDecrypt)
	check("short cbc", cbc, unhex(t, capSecretS1)[:20], DropShort)
	check("truncated plain", plain, plainA[:30], DropBadTerm)
	check("trailing byte", plain, append(bytes.Clone(plainA), 0), DropBadTerm)
	check("bad version", plain, []byte(Prefix+"\x83\xff\x00"), DropBadTerm)
	check("bad name", plain, []byte(Prefix+"\x83t\x00\x00\x00\x01d\x00\x04noded\x00\x04nope"), DropBadName)
	check("huge arity", plain, []byte(Prefix+"\x83t\xff\xff\xff\xffd\x00\x04node"), DropBadTerm)
	check("no node key", plain, []byte(Prefix+"\x83t\x00\x00\x00\x01d\x00\x04nodxd\x00\x04nope"), DropBadTerm)
	// Extra keys with scalar values are tolerated, as libcluster does.
	extra := []byte(Prefix + "\x83t\x00\x00\x00\x02d\x00\x03agea\x07d\x00\x04noded\x00\x0bx@127.0.0.1")
	if n, err := plain.decode(extra, time.Now()); err != nil || n != "x@127.0.0.1" {
		t.Fatalf("extra key: %q %v", n, err)
	}
}

func TestAEAD(t *testing.T) {
	blue := testRunner(t, SecurityAEAD, "s3cret")
	enc, _ := EncodeHeartbeat("n1@10.0.0.1")
	now := time.Now()
	pkt, err := blue.aead.seal(enc, now)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := blue.decode(pkt, now); err != nil || n != "n1@10.0.0.1" {
		t.Fatalf("aead round trip: %q %v", n, err)
	}
	want := func(name string, x *runner, p []byte, at time.Time, r DropReason) {
		t.Helper()
		_, err := x.decode(p, at)
		if reasonOf(err) != r || err == nil {
			t.Fatalf("%s: got %v, want %s", name, err, r)
		}
	}
	want("replayed", blue, pkt, now, DropReplay)
	fresh, _ := blue.aead.seal(enc, now)
	want("stale", blue, fresh, now.Add(2*time.Second), DropStale)
	want("future", blue, fresh, now.Add(-2*time.Second), DropStale)
	forged := bytes.Clone(fresh)
	forged[len(forged)-20] ^= 1
	want("forged", blue, forged, now, DropAuth)
	want("truncated", blue, fresh[:aeadHeader+10], now, DropShort)
	want("truncated tag", blue, fresh[:len(fresh)-1], now, DropAuth)
	wrong := testRunner(t, SecurityAEAD, "other")
	want("wrong secret", wrong, fresh, now, DropAuth)
	other := testRunner(t, SecurityAEAD, "s3cret")
	other.aead, _ = newAEAD([]byte("s3cret"), "green")
	want("other cluster", other, fresh, now, DropOtherCluster)
	want("plain to aead", blue, enc, now, DropFormat)
	cbc := testRunner(t, SecurityCBC, "s3cret")
	want("aead to cbc", cbc, fresh, now, DropFormat)
	want("cbc to aead", blue, unhex(t, capSecretS1), now, DropFormat)
	plain := testRunner(t, SecurityPlain, "")
	want("aead to plain", plain, fresh, now, DropFormat)
}
