package memberlist

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	ml "github.com/hashicorp/memberlist"
)

// The filter reads memberlist's framing only, so these tests build packets
// of opaque messages: a type byte and a body.

func msg(typ byte, body string) []byte { return append([]byte{typ}, body...) }

func compound(parts ...[]byte) []byte {
	keep := make([]bool, len(parts))
	for i := range keep {
		keep[i] = true
	}
	return joinCompound(parts, keep, len(parts))
}

func withCRC(b []byte) []byte {
	out := make([]byte, 5, 5+len(b))
	out[0] = mlHasCrcMsg
	binary.BigEndian.PutUint32(out[1:], crc32.ChecksumIEEE(b))
	return append(out, b...)
}

// expect runs in through f at now and checks the outcome: want nil means
// dropped, anything else the packet handed on.
func expect(t *testing.T, what string, f *repeatFilter, in []byte, now time.Time, want []byte) {
	t.Helper()
	out, ok := f.filter(in, now)
	switch {
	case want == nil && ok:
		t.Fatalf("%s: passed %q, want it dropped", what, out)
	case want != nil && !ok:
		t.Fatalf("%s: dropped, want %q passed", what, want)
	case want != nil && !bytes.Equal(out, want):
		t.Fatalf("%s: passed %q, want %q", what, out, want)
	}
}

func TestRepeatFilterSingleAlive(t *testing.T) {
	f := newRepeatFilter("", nil, 100*time.Millisecond) // window 1 s
	t0 := time.Unix(1000, 0)
	a := msg(mlAliveMsg, "n1@h inc 1")
	newer := msg(mlAliveMsg, "n1@h inc 2")
	expect(t, "first copy", f, a, t0, a)
	expect(t, "copy within the window", f, bytes.Clone(a), t0.Add(500*time.Millisecond), nil)
	expect(t, "newer alive message", f, newer, t0.Add(500*time.Millisecond), newer)
	// memberlist may have lost the first copy from a full handler queue.
	expect(t, "copy after the window", f, bytes.Clone(a), t0.Add(1100*time.Millisecond), a)
	expect(t, "copy in the new window", f, bytes.Clone(a), t0.Add(1200*time.Millisecond), nil)
	if f.dropped.Load() != 2 {
		t.Fatalf("dropped = %d, want 2", f.dropped.Load())
	}
}

func TestRepeatFilterCompound(t *testing.T) {
	f := newRepeatFilter("", nil, time.Second)
	now := time.Unix(1000, 0)
	a, b, c := msg(mlAliveMsg, "a"), msg(mlAliveMsg, "b"), msg(mlAliveMsg, "c")
	ping, suspect, dead := msg(0, "ping"), msg(3, "suspect"), msg(5, "dead")
	first := compound(ping, a, b, suspect, dead)
	expect(t, "first packet", f, first, now, first)
	// The repeated alive messages go; the repeated suspect and dead
	// messages and a new alive message stay.
	expect(t, "second packet", f, compound(a, suspect, b, c, dead), now, compound(suspect, c, dead))
	expect(t, "repeats only", f, compound(a, b, c), now, nil)
	if f.dropped.Load() != 5 {
		t.Fatalf("dropped = %d, want 5", f.dropped.Load())
	}
	if parts, ok := splitCompound(compound(suspect, c, dead)[1:]); !ok || len(parts) != 3 {
		t.Fatalf("a rebuilt packet does not split into 3 parts: %v %q", ok, parts)
	}
}

func TestRepeatFilterChecksum(t *testing.T) {
	f := newRepeatFilter("", nil, time.Second)
	now := time.Unix(1000, 0)
	a, ping := msg(mlAliveMsg, "a"), msg(0, "ping")
	expect(t, "first copy with a checksum", f, withCRC(a), now, withCRC(a))
	expect(t, "repeat with a checksum", f, withCRC(a), now, nil)
	bad := withCRC(a)
	bad[1] ^= 0xff
	expect(t, "bad checksum (memberlist rejects it)", f, bad, now, bad)
	expect(t, "compound with a checksum", f, withCRC(compound(a, ping)), now, compound(ping))
}

func TestRepeatFilterLabel(t *testing.T) {
	f := newRepeatFilter("blue", nil, time.Second)
	now := time.Unix(1000, 0)
	label := func(b []byte, l string) []byte {
		out, err := ml.AddLabelHeaderToPacket(b, l)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, ping := msg(mlAliveMsg, "a"), msg(0, "ping")
	expect(t, "first copy", f, label(a, "blue"), now, label(a, "blue"))
	// Unlabelled and foreign packets are memberlist's to reject.
	for _, p := range [][]byte{a, label(a, "green"), {244, 200}} {
		expect(t, fmt.Sprintf("packet %q", p), f, p, now, p)
	}
	expect(t, "labelled compound", f, label(compound(a, ping), "blue"), now, label(compound(ping), "blue"))
}

func TestRepeatFilterMalformed(t *testing.T) {
	f := newRepeatFilter("", nil, time.Second)
	now := time.Unix(1000, 0)
	a := msg(mlAliveMsg, "a")
	f.filter(a, now)
	good := compound(a, msg(0, "p"))
	for what, p := range map[string][]byte{
		"empty":            {},
		"no count":         {mlCompoundMsg},
		"zero parts":       {mlCompoundMsg, 0},
		"short lengths":    {mlCompoundMsg, 2, 0},
		"part too long":    append(bytes.Clone(good[:4]), 0xff, 0xff),
		"trailing bytes":   append(bytes.Clone(good), 'x'),
		"compressed":       msg(9, "lzw"),
		"encrypted (v1)":   {1, 2, 3, 4},
		"unknown type 200": msg(200, "a"),
	} {
		expect(t, what, f, p, now, p)
	}
}

func TestRepeatFilterBounded(t *testing.T) {
	f := newRepeatFilter("", nil, time.Second)
	now := time.Unix(1000, 0)
	for i := range maxRepeatEntries + 100 {
		f.filter(msg(mlAliveMsg, string(binary.BigEndian.AppendUint32(nil, uint32(i)))), now)
	}
	if len(f.seen) != maxRepeatEntries {
		t.Fatalf("remembers %d messages, want the bound %d", len(f.seen), maxRepeatEntries)
	}
	// Once the window has passed, the next packet sweeps them away.
	f.filter(msg(0, "ping"), now.Add(11*time.Second))
	if len(f.seen) != 0 {
		t.Fatalf("remembers %d messages after the window, want 0", len(f.seen))
	}
}

func TestRepeatFilterEncrypted(t *testing.T) {
	key, other := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	kr, err := ml.NewKeyring([][]byte{other}, key) // primary key, and a second one
	if err != nil {
		t.Fatal(err)
	}
	f := newRepeatFilter("blue", kr, time.Second)
	// A peer's filter on another key, to seal packets as memberlist does.
	sealer := func(k []byte) *repeatFilter {
		r, err := ml.NewKeyring(nil, k)
		if err != nil {
			t.Fatal(err)
		}
		return newRepeatFilter("blue", r, time.Second)
	}
	byOther, byStranger := sealer(other), sealer(bytes.Repeat([]byte{3}, 16))
	label := func(b []byte) []byte {
		out, err := ml.AddLabelHeaderToPacket(b, "blue")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	now := time.Unix(1000, 0)
	a, ping := msg(mlAliveMsg, "a"), msg(0, "ping")
	first := label(byOther.seal(withCRC(a)))
	expect(t, "first copy, sealed with the second key", f, first, now, first)
	expect(t, "repeat", f, label(byOther.seal(a)), now, nil)
	stranger := label(byStranger.seal(a))
	expect(t, "sealed with a key not held (memberlist rejects it)", f, stranger, now, stranger)
	plain := label(a)
	expect(t, "plaintext (memberlist decides)", f, plain, now, plain)

	out, ok := f.filter(label(byOther.seal(compound(a, ping))), now)
	if !ok {
		t.Fatal("compound with a new part was dropped")
	}
	body, l, err := ml.RemoveLabelHeaderFromPacket(out)
	if err != nil || l != "blue" {
		t.Fatalf("rebuilt packet lost its label: %q %v", l, err)
	}
	got, opened := f.open(body)
	if !opened || !bytes.Equal(got, compound(ping)) {
		t.Fatalf("rebuilt packet opens to %q (opened %v), want %q", got, opened, compound(ping))
	}
	if _, opened := byOther.open(body); opened {
		t.Fatal("rebuilt packet was not sealed with the primary key")
	}
}

// compressed wraps msg as memberlist's compressPayload does: its compress
// struct, LZW-compressed, encoded by go-msgpack as memberlist encodes it.
func compressed(t *testing.T, msg []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := lzw.NewWriter(&z, lzw.LSB, 8)
	w.Write(msg)
	w.Close()
	out := bytes.NewBuffer([]byte{mlCompressMsg})
	c := struct {
		Algo uint8
		Buf  []byte
	}{0, z.Bytes()}
	if err := codec.NewEncoder(out, &codec.MsgpackHandle{}).Encode(&c); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRepeatFilterCompressed(t *testing.T) {
	f := newRepeatFilter("", nil, time.Second)
	now := time.Unix(1000, 0)
	a, b, ping := msg(mlAliveMsg, "a"), msg(mlAliveMsg, "b"), msg(0, "ping")
	// Handed on decompressed, so that memberlist does not decompress again.
	expect(t, "first packet", f, compressed(t, compound(a, ping)), now, compound(a, ping))
	expect(t, "repeat in a compressed packet with a checksum", f, withCRC(compressed(t, compound(a, b))), now, compound(b))
	expect(t, "repeats only", f, compressed(t, compound(a, b)), now, nil)
	big := compressed(t, bytes.Repeat([]byte{0}, maxUDPPacket+1))
	expect(t, "more than a UDP packet when decompressed", f, big, now, big)
	nested := compressed(t, compressed(t, a))
	expect(t, "compressed twice", f, nested, now, nested)
	for what, p := range map[string][]byte{
		"not a map":     {mlCompressMsg, 0x90},
		"unknown key":   {mlCompressMsg, 0x82, 0xa4, 'A', 'l', 'g', 'x', 0, 0xa3, 'B', 'u', 'f', 0xa0},
		"other algo":    {mlCompressMsg, 0x82, 0xa4, 'A', 'l', 'g', 'o', 1, 0xa3, 'B', 'u', 'f', 0xa0},
		"short buf":     {mlCompressMsg, 0x82, 0xa4, 'A', 'l', 'g', 'o', 0, 0xa3, 'B', 'u', 'f', 0xa5, 1},
		"not lzw":       {mlCompressMsg, 0x82, 0xa4, 'A', 'l', 'g', 'o', 0, 0xa3, 'B', 'u', 'f', 0xa2, 0xff, 0xff},
		"trailing byte": append(compressed(t, a), 0),
	} {
		expect(t, what, f, p, now, p)
	}
}

// The filter reads packets from the network: any input is handed on whole,
// rebuilt or dropped, never a panic, and a rebuilt compound splits again.
func FuzzRepeatFilter(f *testing.F) {
	a, ping := msg(mlAliveMsg, "a"), msg(0, "ping")
	f.Add(compound(a, ping))
	f.Add(withCRC(compound(a, a)))
	f.Add([]byte{mlCompressMsg, 0x82, 0xa4, 'A', 'l', 'g', 'o', 0, 0xa3, 'B', 'u', 'f', 0xa2, 0x04, 0x01})
	f.Add([]byte{244, 4, 'b', 'l', 'u', 'e', mlAliveMsg})
	kr, err := ml.NewKeyring(nil, bytes.Repeat([]byte{1}, 16))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		now := time.Unix(1000, 0)
		for _, rf := range []*repeatFilter{newRepeatFilter("", nil, time.Second), newRepeatFilter("blue", kr, time.Second)} {
			for range 2 { // the second time, its alive messages are repeats
				out, ok := rf.filter(bytes.Clone(p), now)
				if !ok || rf.keyring != nil || bytes.Equal(out, p) {
					continue
				}
				if len(out) > 0 && out[0] == mlCompoundMsg {
					if _, ok := splitCompound(out[1:]); !ok {
						t.Fatalf("rebuilt compound %q does not split", out)
					}
				}
			}
		}
	})
}
