package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func atomBytes(s string) []byte { return append([]byte{tagSmallAtomUTF8, byte(len(s))}, s...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func bigFromString(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad big %q", s)
	}
	return v
}

// gossipTerms are heartbeat terms as sent by libcluster's Gossip strategy,
// taken from captured packets after the 11-byte "heartbeat::" prefix.
var gossipTerms = []struct {
	hex  string
	node Atom
}{
	// OTP 25 term_to_binary: ATOM_EXT (100)
	{"83 74 00000001 64 0004 6e6f6465 64 000b 61403132372e302e302e31", "a@127.0.0.1"},
	{"83 74 00000001 64 0004 6e6f6465 64 000b 67403130 2e37372e302e32", "g@10.77.0.2"},
	{"83 74 00000001 64 0004 6e6f6465 64 000c 7331403132372e302e302e31", "s1@127.0.0.1"},
	{"83 74 00000001 64 0004 6e6f6465 64 000b 77403132372e302e302e31", "w@127.0.0.1"},
	// OTP 26+ default: SMALL_ATOM_UTF8_EXT (119)
	{"83 74 00000001 77 04 6e6f6465 77 0b 61403132372e302e302e31", "a@127.0.0.1"},
	{"83 74 00000001 77 04 6e6f6465 77 0b 62403132372e302e302e31", "b@127.0.0.1"},
}

func TestGossipHeartbeatGolden(t *testing.T) {
	for _, g := range gossipTerms {
		got, err := Decode(unhex(t, g.hex))
		if err != nil {
			t.Fatalf("decode %s: %v", g.hex, err)
		}
		want := Map{{Key: Atom("node"), Value: g.node}}
		if !Equal(got, want) {
			t.Errorf("decode %s = %#v, want %#v", g.hex, got, want)
		}
		m := got.(Map)
		if m[0].Key != Atom("node") || m[0].Value != g.node {
			t.Errorf("decoded pair %#v, want node => %q", m[0], g.node)
		}
	}
	enc, err := Encode(Map{{Key: Atom("node"), Value: Atom("myapp@10.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "83 74 00000001 77 04 6e6f6465 77 0e")
	want = append(want, "myapp@10.0.0.1"...)
	if !bytes.Equal(enc, want) {
		t.Errorf("heartbeat encodes as % x, want % x", enc, want)
	}
}

// TestEncodeGolden checks exact encodings derived from the format's layout.
func TestEncodeGolden(t *testing.T) {
	long := Atom(strings.Repeat("é", 200)) // 200 characters, 400 bytes: ATOM_UTF8_EXT
	u64max := new(big.Int).SetUint64(math.MaxUint64)
	two100 := new(big.Int).Lsh(big.NewInt(1), 100)
	bigBytes := make([]byte, 300) // 2^(8*299): LARGE_BIG_EXT with 300 bytes
	bigBytes[0] = 1
	large := new(big.Int).SetBytes(bigBytes)
	le := make([]byte, 300)
	le[299] = 1
	cases := []struct {
		name string
		in   Term
		want []byte
	}{
		{"zero", 0, []byte{131, 97, 0}},
		{"255", uint8(255), []byte{131, 97, 255}},
		{"256", 256, []byte{131, 98, 0, 0, 1, 0}},
		{"-1", int8(-1), []byte{131, 98, 0xff, 0xff, 0xff, 0xff}},
		{"maxint32", int32(math.MaxInt32), []byte{131, 98, 0x7f, 0xff, 0xff, 0xff}},
		{"minint32", int64(math.MinInt32), []byte{131, 98, 0x80, 0, 0, 0}},
		{"maxint32+1", int64(math.MaxInt32) + 1, []byte{131, 110, 4, 0, 0, 0, 0, 0x80}},
		{"minint32-1", int64(math.MinInt32) - 1, []byte{131, 110, 4, 1, 1, 0, 0, 0x80}},
		{"minint64", int64(math.MinInt64), []byte{131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80}},
		{"maxuint64", uint64(math.MaxUint64), []byte{131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255}},
		{"big maxuint64", u64max, []byte{131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255}},
		{"big small", big.NewInt(7), []byte{131, 97, 7}},
		{"-2^100", new(big.Int).Neg(two100), cat([]byte{131, 110, 13, 1}, make([]byte, 12), []byte{16})},
		{"large big", large, cat([]byte{131, 111, 0, 0, 1, 44, 0}, le)},
		{"float", 1.5, []byte{131, 70, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{"float32", float32(-2), []byte{131, 70, 0xc0, 0, 0, 0, 0, 0, 0, 0}},
		{"atom", Atom("ok"), []byte{131, 119, 2, 'o', 'k'}},
		{"utf8 atom", Atom("é"), []byte{131, 119, 2, 0xc3, 0xa9}},
		{"long atom", long, cat([]byte{131, 118, 1, 144}, []byte(long))},
		{"empty atom", Atom(""), []byte{131, 119, 0}},
		{"true", true, []byte{131, 119, 4, 't', 'r', 'u', 'e'}},
		{"false", false, []byte{131, 119, 5, 'f', 'a', 'l', 's', 'e'}},
		{"nil", nil, []byte{131, 106}},
		{"empty list", List{}, []byte{131, 106}},
		{"list", List{1, Atom("a")}, []byte{131, 108, 0, 0, 0, 2, 97, 1, 119, 1, 'a', 106}},
		{"[]any", []any{2}, []byte{131, 108, 0, 0, 0, 1, 97, 2, 106}},
		{"improper", ImproperList{Elems: []Term{Atom("alias")}, Tail: Ref{Node: "n@h", Creation: 1, ID: []uint32{1, 2, 3}}},
			cat([]byte{131, 108, 0, 0, 0, 1}, atomBytes("alias"), []byte{90, 0, 3}, atomBytes("n@h"), be32(1), be32(1), be32(2), be32(3))},
		{"string", String("hi"), []byte{131, 107, 0, 2, 'h', 'i'}},
		{"empty string", String(""), []byte{131, 106}},
		{"small tuple", Tuple{}, []byte{131, 104, 0}},
		{"tuple", Tuple{Atom("ok"), 1}, []byte{131, 104, 2, 119, 2, 'o', 'k', 97, 1}},
		{"binary", Binary("ab"), []byte{131, 109, 0, 0, 0, 2, 'a', 'b'}},
		{"[]byte", []byte{}, []byte{131, 109, 0, 0, 0, 0}},
		{"bitstring", BitBinary{Data: []byte{0xff}, Bits: 3}, []byte{131, 77, 0, 0, 0, 1, 3, 0xe0}},
		{"bitstring of 8", BitBinary{Data: []byte{1}, Bits: 8}, []byte{131, 109, 0, 0, 0, 1, 1}},
		{"pid", Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}, cat([]byte{131, 88}, atomBytes("a@b"), be32(1), be32(2), be32(3))},
		{"port", Port{Node: "a@b", ID: 7, Creation: 3}, cat([]byte{131, 89}, atomBytes("a@b"), be32(7), be32(3))},
		{"v4 port", Port{Node: "a@b", ID: 1 << 40, Creation: 3}, cat([]byte{131, 120}, atomBytes("a@b"), []byte{0, 0, 1, 0, 0, 0, 0, 0}, be32(3))},
		{"ref", Ref{Node: "a@b", Creation: 9, ID: []uint32{5}}, cat([]byte{131, 90, 0, 1}, atomBytes("a@b"), be32(9), be32(5))},
		{"map", Map{{Key: 1, Value: Binary("x")}}, []byte{131, 116, 0, 0, 0, 1, 97, 1, 109, 0, 0, 0, 1, 'x'}},
		{"export", ExportFun{Module: "lists", Function: "map", Arity: 2}, cat([]byte{131, 113}, atomBytes("lists"), atomBytes("map"), []byte{97, 2})},
	}
	for _, c := range cases {
		got, err := Encode(c.in)
		if err != nil {
			t.Errorf("%s: Encode: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s: Encode = % x\nwant          % x", c.name, got, c.want)
		}
		back, err := Decode(got)
		if err != nil {
			t.Errorf("%s: Decode: %v", c.name, err)
			continue
		}
		if !Equal(back, c.in) {
			t.Errorf("%s: round trip gave %#v, want %#v", c.name, back, c.in)
		}
	}
}

func TestLargeTupleAndLongString(t *testing.T) {
	tup := make(Tuple, 300)
	for i := range tup {
		tup[i] = i
	}
	enc, err := Encode(tup)
	if err != nil {
		t.Fatal(err)
	}
	if enc[1] != tagLargeTuple || binary.BigEndian.Uint32(enc[2:]) != 300 {
		t.Fatalf("300-tuple encoded with header % x, want LARGE_TUPLE_EXT arity 300", enc[:6])
	}
	back, err := Decode(enc)
	if err != nil || !Equal(back, tup) {
		t.Fatalf("300-tuple round trip: %v, equal=%v", err, Equal(back, tup))
	}

	s := String(strings.Repeat("x", 70000))
	enc, err = Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if enc[1] != tagList || len(enc) != 1+5+2*70000+1 {
		t.Fatalf("long String encoded with tag %d, length %d; want LIST_EXT of small integers", enc[1], len(enc))
	}
	back, err = Decode(enc)
	if err != nil || !Equal(back, s) {
		t.Fatalf("long String round trip: %v", err)
	}
	if _, isList := back.(List); !isList {
		t.Fatalf("long charlist decoded as %T, want List", back)
	}
}

// TestDecodeLegacy covers tags that OTP no longer writes but may still send.
func TestDecodeLegacy(t *testing.T) {
	floatStr := make([]byte, 31)
	copy(floatStr, "1.50000000000000000000e+00")
	cases := []struct {
		name string
		in   []byte
		want Term
	}{
		{"ATOM_EXT latin-1", []byte{131, 100, 0, 2, 'h', 0xe9}, Atom("hé")},
		{"SMALL_ATOM_EXT", []byte{131, 115, 2, 'o', 'k'}, Atom("ok")},
		{"ATOM_UTF8_EXT", []byte{131, 118, 0, 2, 0xc3, 0xa9}, Atom("é")},
		{"true atom", []byte{131, 100, 0, 4, 't', 'r', 'u', 'e'}, Atom("true")},
		{"PID_EXT", cat([]byte{131, 103}, atomBytes("a@b"), be32(1), be32(2), []byte{3}), Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}},
		{"PORT_EXT", cat([]byte{131, 102, 100, 0, 3}, []byte("a@b"), be32(4), []byte{2}), Port{Node: "a@b", ID: 4, Creation: 2}},
		{"REFERENCE_EXT", cat([]byte{131, 101}, atomBytes("a@b"), be32(4), []byte{2}), Ref{Node: "a@b", ID: []uint32{4}, Creation: 2}},
		{"NEW_REFERENCE_EXT", cat([]byte{131, 114, 0, 2}, atomBytes("a@b"), []byte{1}, be32(4), be32(5)), Ref{Node: "a@b", ID: []uint32{4, 5}, Creation: 1}},
		{"FLOAT_EXT", cat([]byte{131, 99}, floatStr), 1.5},
		{"non-canonical big", []byte{131, 110, 3, 1, 5, 0, 0}, int64(-5)},
		{"negative zero big", []byte{131, 110, 1, 1, 0}, int64(0)},
		{"big -2^63", []byte{131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80}, int64(math.MinInt64)},
		{"big 2^63", []byte{131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x80}, new(big.Int).Lsh(big.NewInt(1), 63)},
		{"empty bitstring", []byte{131, 77, 0, 0, 0, 0, 0}, Binary{}},
		{"bitstring of 8 bits", []byte{131, 77, 0, 0, 0, 1, 8, 7}, Binary{7}},
		{"list with list tail", []byte{131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106}, List{int64(1), int64(2)}},
		{"list with string tail", []byte{131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 1, 2}, List{int64(1), int64(2)}},
		{"LARGE_TUPLE_EXT small", []byte{131, 105, 0, 0, 0, 1, 97, 1}, Tuple{int64(1)}},
	}
	for _, c := range cases {
		got, err := Decode(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !Equal(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
	// Integers that fit decode as int64, bigger ones as *big.Int.
	if v, _ := Decode([]byte{131, 98, 0xff, 0xff, 0xff, 0xfe}); v != int64(-2) {
		t.Errorf("INTEGER_EXT -2 decoded as %#v", v)
	}
	if v, _ := Decode([]byte{131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}); func() bool { _, ok := v.(*big.Int); return !ok }() {
		t.Errorf("2^64 decoded as %T, want *big.Int", v)
	}
}

// TestDecodeOTPFun decodes a closure written by OTP 25's term_to_binary of
// fun(X) -> X end in the shell, and re-encodes it byte for byte.
func TestDecodeOTPFun(t *testing.T) {
	in := []byte{131, 112, 0, 0, 0, 160, 1, 6, 83, 97, 170, 70, 21, 144, 209, 189, 241, 235, 98, 209, 166, 235, 8, 0, 0, 0, 42, 0, 0, 0, 1, 100, 0, 8, 101, 114, 108, 95, 101, 118, 97, 108, 97, 42, 98, 0, 50, 155, 13, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 104, 6, 97, 16, 106, 100, 0, 4, 110, 111, 110, 101, 100, 0, 4, 110, 111, 110, 101, 116, 0, 0, 0, 0, 108, 0, 0, 0, 1, 104, 5, 100, 0, 6, 99, 108, 97, 117, 115, 101, 97, 16, 108, 0, 0, 0, 1, 104, 3, 100, 0, 3, 118, 97, 114, 97, 16, 100, 0, 1, 88, 106, 106, 108, 0, 0, 0, 1, 104, 3, 100, 0, 3, 118, 97, 114, 97, 16, 100, 0, 1, 88, 106, 106}
	got, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := got.(Fun)
	if !ok {
		t.Fatalf("decoded %T, want Fun", got)
	}
	if f.Module != "erl_eval" || f.Arity != 1 || f.Index != 42 || f.OldIndex != 42 || len(f.Free) != 1 || f.Pid.Node != "nonode@nohost" || f.Pid.ID != 9 {
		t.Fatalf("decoded fun %+v", f)
	}
	enc, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Atoms are re-encoded as UTF-8, so compare by decoding again.
	back, err := Decode(enc)
	if err != nil || !Equal(back, f) {
		t.Fatalf("fun round trip: %v", err)
	}
	if binary.BigEndian.Uint32(enc[2:]) != uint32(len(enc)-2) {
		t.Errorf("fun size field %d, want %d", binary.BigEndian.Uint32(enc[2:]), len(enc)-2)
	}
}

func compress(t testing.TB, term []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	if _, err := w.Write(term[1:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return cat([]byte{131, 80}, be32(uint32(len(term)-1)), z.Bytes())
}

func TestCompressed(t *testing.T) {
	term := Tuple{Binary(strings.Repeat("abc", 1000)), Atom("done")}
	plain, err := Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	comp := compress(t, plain)
	if len(comp) >= len(plain) {
		t.Fatalf("compressed %d bytes, plain %d", len(comp), len(plain))
	}
	got, err := Decode(comp)
	if err != nil || !Equal(got, term) {
		t.Fatalf("compressed decode: %v", err)
	}
	// Stream: compressed term followed by a plain one.
	stream := append(append([]byte{}, comp...), 131, 97, 5)
	got, rest, err := DecodeNext(stream, Limits{})
	if err != nil || !Equal(got, term) || !bytes.Equal(rest, []byte{131, 97, 5}) {
		t.Fatalf("DecodeNext over compressed term: rest % x, err %v", rest, err)
	}
	// Size field lies.
	bad := append([]byte{}, comp...)
	binary.BigEndian.PutUint32(bad[2:], uint32(len(plain)-2))
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "COMPRESSED") {
		t.Errorf("short size field: err %v", err)
	}
	binary.BigEndian.PutUint32(bad[2:], uint32(len(plain)))
	if _, err := Decode(bad); err == nil {
		t.Errorf("long size field accepted")
	}
	// Over the inflate limit.
	_, _, err = DecodeNext(comp, Limits{MaxSize: 100})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("inflate limit: err %v, want ErrLimit", err)
	}
	// Corrupt zlib stream.
	bad = append([]byte{}, comp...)
	bad[len(bad)-1] ^= 0xff
	if _, err := Decode(bad); err == nil {
		t.Errorf("corrupt checksum accepted")
	}
}

func TestDecodeNextStream(t *testing.T) {
	ctrl, _ := Encode(Tuple{2, Atom(""), Pid{Node: "a@b", ID: 1}})
	msg, _ := Encode(Binary("payload"))
	stream := append(append([]byte{}, ctrl...), msg...)
	t1, rest, err := DecodeNext(stream, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t2, rest, err := DecodeNext(rest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 || !Equal(t1, Tuple{2, Atom(""), Pid{Node: "a@b", ID: 1}}) || !Equal(t2, Binary("payload")) {
		t.Fatalf("stream decoded to %#v, %#v, rest %d", t1, t2, len(rest))
	}
	if _, err := Decode(stream); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("Decode of two terms: err %v, want trailing bytes error", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name  string
		in    []byte
		want  string // substring of the error
		limit bool
		lim   Limits
	}{
		{"empty", nil, "empty input", false, Limits{}},
		{"no version", []byte{97, 1}, "version byte", false, Limits{}},
		{"no tag", []byte{131}, "truncated", false, Limits{}},
		{"unknown tag", []byte{131, 200}, "unknown tag 200", false, Limits{}},
		{"LOCAL_EXT", []byte{131, 121, 0}, "LOCAL_EXT", false, Limits{}},
		{"atom cache", []byte{131, 82, 0}, "ATOM_CACHE_REF", false, Limits{}},
		{"FUN_EXT", []byte{131, 117, 0}, "FUN_EXT", false, Limits{}},
		{"nested version", []byte{131, 104, 1, 131, 97, 1}, "version byte 131 inside", false, Limits{}},
		{"nested compressed", []byte{131, 104, 1, 80, 0, 0, 0, 1}, "compressed term may only", false, Limits{}},
		{"binary too long", []byte{131, 109, 0xff, 0xff, 0xff, 0xff, 1}, "BINARY_EXT (tag 109) at offset 1", false, Limits{}},
		{"list too long", []byte{131, 108, 0xff, 0xff, 0xff, 0xff, 106}, "LIST_EXT", false, Limits{}},
		{"map too long", []byte{131, 116, 0x80, 0, 0, 0, 97, 1}, "MAP_EXT", false, Limits{}},
		{"tuple too long", []byte{131, 105, 0xff, 0xff, 0xff, 0xff}, "LARGE_TUPLE_EXT", false, Limits{}},
		{"large big too long", []byte{131, 111, 0xff, 0xff, 0xff, 0xff, 0}, "LARGE_BIG_EXT", false, Limits{}},
		{"duplicate map key", []byte{131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3}, "appears twice", false, Limits{}},
		{"NaN", []byte{131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, "NaN", false, Limits{}},
		{"+Inf", []byte{131, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, "infinite", false, Limits{}},
		{"bad float string", cat([]byte{131, 99}, make([]byte, 31)), "FLOAT_EXT", false, Limits{}},
		{"invalid utf8 atom", []byte{131, 119, 1, 0xff}, "UTF-8", false, Limits{}},
		{"bits 0", []byte{131, 77, 0, 0, 0, 1, 0, 1}, "1..8", false, Limits{}},
		{"bits 9", []byte{131, 77, 0, 0, 0, 1, 9, 1}, "1..8", false, Limits{}},
		{"empty bitstring bits", []byte{131, 77, 0, 0, 0, 0, 3}, "BIT_BINARY_EXT", false, Limits{}},
		{"ref 0 words", cat([]byte{131, 90, 0, 0}, atomBytes("a")), "ID words", false, Limits{}},
		{"ref 6 words", cat([]byte{131, 90, 0, 6}, atomBytes("a")), "ID words", false, Limits{}},
		{"pid node not atom", []byte{131, 88, 97, 1}, "must be an atom", false, Limits{}},
		{"export arity not small int", cat([]byte{131, 113}, atomBytes("m"), atomBytes("f"), []byte{98, 0, 0, 0, 1}), "SMALL_INTEGER_EXT", false, Limits{}},
		{"fun size too small", []byte{131, 112, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "smaller than", false, Limits{}},
		{"depth", bytes.Repeat([]byte{104, 1}, 10), "MaxDepth", true, Limits{MaxDepth: 5}},
		{"default depth", cat([]byte{131}, bytes.Repeat([]byte{108, 0, 0, 0, 1}, DefaultMaxDepth+1)), "MaxDepth", true, Limits{}},
		{"atom length", cat([]byte{131}, atomBytes("abcdef")), "MaxAtomLen", true, Limits{MaxAtomLen: 5}},
		{"latin-1 atom length", []byte{131, 100, 1, 0, 0}, "MaxAtomLen", true, Limits{}},
		{"max size", cat([]byte{131, 109, 0, 0, 0, 10}, make([]byte, 10)), "MaxSize", true, Limits{MaxSize: 8}},
	}
	for _, c := range cases {
		in := c.in
		if c.name == "depth" {
			in = cat([]byte{131}, c.in, []byte{106})
		}
		_, _, err := DecodeNext(in, c.lim)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %T is not a *DecodeError", c.name, err)
		}
		if errors.Is(err, ErrLimit) != c.limit {
			t.Errorf("%s: errors.Is(err, ErrLimit) = %v, want %v (%v)", c.name, !c.limit, c.limit, err)
		}
	}
}

// TestTruncatedPrefixes decodes every proper prefix of valid encodings:
// each must fail cleanly.
func TestTruncatedPrefixes(t *testing.T) {
	for _, term := range sampleTerms(t) {
		enc, err := Encode(term)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(enc); i++ {
			if _, err := Decode(enc[:i]); err == nil {
				t.Fatalf("prefix %d of % x decoded without error", i, enc)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	self := Tuple{nil}
	self[0] = self
	cases := []struct {
		name string
		in   Term
		want string
	}{
		{"plain string", Tuple{1, "x"}, "tuple[1]: plain Go string"},
		{"NaN", math.NaN(), "not finite"},
		{"Inf", List{math.Inf(1)}, "list[0]: float"},
		{"long atom", Atom(strings.Repeat("a", 256)), "256 characters"},
		{"invalid utf8 atom", Atom("\xff"), "UTF-8"},
		{"pid node", Pid{Node: Atom(strings.Repeat("n", 300))}, "pid.Node"},
		{"empty ref", Ref{Node: "a"}, "0 ID words"},
		{"long ref", Ref{Node: "a", ID: make([]uint32, 6)}, "6 ID words"},
		{"bits 0", BitBinary{Data: []byte{1}}, "Bits is 0"},
		{"bits no data", BitBinary{Bits: 3}, "no data"},
		{"empty improper", ImproperList{Tail: 1}, "no elements"},
		{"nil big", (*big.Int)(nil), "nil *big.Int"},
		{"map value", Map{{Key: 1, Value: struct{}{}}}, "map[0].value: unsupported Go type struct {}"},
		{"self reference", self, "nesting deeper"},
	}
	for _, c := range cases {
		dst := []byte("prefix")
		out, err := AppendTerm(dst, c.in)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if string(out) != "prefix" {
			t.Errorf("%s: AppendTerm returned %q after an error, want dst unchanged", c.name, out)
		}
	}
}

func TestEqual(t *testing.T) {
	b := bigFromString(t, "123456789012345678901234567890")
	same := [][2]Term{
		{int64(5), 5},
		{uint64(5), big.NewInt(5)},
		{b, new(big.Int).Set(b)},
		{Atom("true"), true},
		{String("ab"), List{97, int64(98)}},
		{String(""), nil},
		{nil, List{}},
		{ImproperList{Elems: []Term{1}, Tail: List{2}}, List{1, 2}},
		{ImproperList{Elems: []Term{1}, Tail: ImproperList{Elems: []Term{2}, Tail: 3}}, ImproperList{Elems: []Term{1, 2}, Tail: 3}},
		{Binary{1}, BitBinary{Data: []byte{1}, Bits: 8}},
		{BitBinary{Data: []byte{0xff}, Bits: 1}, BitBinary{Data: []byte{0x80}, Bits: 1}},
		{Map{{1, 2}, {Atom("a"), Atom("b")}}, Map{{Atom("a"), Atom("b")}, {int64(1), 2}}},
		{Ref{Node: "a", ID: []uint32{1, 2}}, Ref{Node: "a", ID: []uint32{1, 2}}},
		{Tuple{[]byte("x")}, Tuple{Binary("x")}},
	}
	differ := [][2]Term{
		{1, 1.0},
		{0.0, math.Copysign(0, -1)},
		{b, int64(1)},
		{Atom("a"), Binary("a")},
		{String("a"), Binary("a")},
		{List{1}, ImproperList{Elems: []Term{1}, Tail: 2}},
		{Tuple{1}, List{1}},
		{Map{{1, 2}}, Map{{1, 3}}},
		{Map{{1, 2}}, Map{{2, 2}}},
		{Map{{1, 2}, {1, 2}}, Map{{1, 2}, {2, 2}}},
		{Ref{Node: "a", ID: []uint32{1}}, Ref{Node: "a", ID: []uint32{1, 0}}},
		{Pid{Node: "a", Creation: 1}, Pid{Node: "a", Creation: 2}},
		{BitBinary{Data: []byte{0x80}, Bits: 1}, BitBinary{Data: []byte{0x80}, Bits: 2}},
		{struct{}{}, struct{}{}},
	}
	for _, p := range same {
		if !Equal(p[0], p[1]) || !Equal(p[1], p[0]) {
			t.Errorf("Equal(%#v, %#v) = false, want true", p[0], p[1])
		}
		if hashTerm(p[0], 0) != hashTerm(p[1], 0) {
			t.Errorf("equal terms %#v and %#v hash differently", p[0], p[1])
		}
	}
	for _, p := range differ {
		if Equal(p[0], p[1]) || Equal(p[1], p[0]) {
			t.Errorf("Equal(%#v, %#v) = true, want false", p[0], p[1])
		}
	}
	// Large maps go through canonical keys.
	var m1, m2 Map
	for i := 0; i < 40; i++ {
		m1 = append(m1, Pair{Tuple{i, String("k")}, i})
		m2 = append(Map{{Tuple{int64(i), List{int64('k')}}, big.NewInt(int64(i))}}, m2...)
	}
	if !Equal(m1, m2) {
		t.Error("large maps with equal pairs in other order differ")
	}
	m2[0].Value = 99
	if Equal(m1, m2) {
		t.Error("large maps with a different value are equal")
	}
}

func TestLargeMapDuplicateKey(t *testing.T) {
	var m Map
	for i := 0; i < 20; i++ {
		m = append(m, Pair{String("k" + string(rune('a'+i))), i})
	}
	m = append(m, Pair{List{int64('k'), int64('c')}, 0}) // same as String("kc")
	enc, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(enc); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("duplicate key in large map: err %v", err)
	}
	enc, _ = Encode(m[:20])
	if _, err := Decode(enc); err != nil {
		t.Fatalf("large map without duplicates: %v", err)
	}
	// Keys that are maps with the same pairs in another order.
	m = append(m[:20:20], Pair{Map{{1, 2}, {Atom("x"), String("y")}}, 0}, Pair{Map{{Atom("x"), List{int64('y')}}, {1, 2}}, 1})
	enc, _ = Encode(m)
	if _, err := Decode(enc); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("duplicate map-valued key in large map: err %v", err)
	}
}

// sampleTerms holds one value of every kind, nested.
func sampleTerms(t testing.TB) []Term {
	b := bigFromString(t, "-340282366920938463463374607431768211456")
	return []Term{
		0, 255, 256, -1, math.MaxInt64, math.MinInt64, uint64(math.MaxUint64), b,
		1.5, math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64,
		Atom("ok"), Atom("héllo wörld"), Atom(strings.Repeat("ü", 255)), true, false,
		nil, List{1, List{2}, Tuple{}}, ImproperList{Elems: []Term{Atom("alias")}, Tail: Atom("x")},
		String("hello"), Binary("bin"), Binary{}, BitBinary{Data: []byte{1, 0xf0}, Bits: 4},
		Tuple{Atom("ok"), Map{{Atom("node"), Atom("a@h")}, {Binary("k"), List{}}, {Tuple{1}, 2.5}}},
		Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3},
		Port{Node: "a@h", ID: 5, Creation: 3}, Port{Node: "a@h", ID: 1 << 50, Creation: 3},
		Ref{Node: "a@h", Creation: 7, ID: []uint32{1, 2, 3, 4, 5}},
		ExportFun{Module: "erlang", Function: "node", Arity: 0},
		Fun{Arity: 1, Index: 3, Module: "m", OldIndex: 3, OldUniq: 99999, Pid: Pid{Node: "a@h"}, Free: []Term{1, Atom("x")}},
	}
}

func TestRoundTripAll(t *testing.T) {
	terms := sampleTerms(t)
	terms = append(terms, Tuple(terms), List(terms))
	for _, term := range terms {
		enc, err := Encode(term)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", term, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%#v)): %v", term, err)
		}
		if !Equal(got, term) {
			t.Errorf("round trip of %#v gave %#v", term, got)
		}
		again, err := Encode(got)
		if err != nil || !bytes.Equal(again, enc) {
			t.Errorf("re-encoding %#v is not byte-identical: % x vs % x (%v)", term, again, enc, err)
		}
	}
}
