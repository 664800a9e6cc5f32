package etf

import (
	"strings"
	"testing"
)

// controlMessage is a distribution REG_SEND control tuple:
// {6, FromPid, Unused, ToName}.
var controlMessage = Tuple{6, Pid{Node: "app@10.0.0.1", ID: 93, Serial: 0, Creation: 1700000000}, Atom(""), Atom("net_kernel")}

// mixedTerm is about 1 KiB of mixed data.
func mixedTerm() Term {
	var nodes List
	for i := 0; i < 8; i++ {
		nodes = append(nodes, Atom("node"+strings.Repeat("x", i)+"@10.0.0.1"))
	}
	return Map{
		{Atom("nodes"), nodes},
		{Atom("payload"), Binary(strings.Repeat("p", 680))},
		{Atom("ids"), List{1, 300, -5, 1 << 40, 2.5}},
		{Binary("name"), String("a charlist of moderate length")},
		{Atom("ref"), Ref{Node: "app@10.0.0.1", Creation: 1, ID: []uint32{1, 2, 3}}},
		{Atom("meta"), Tuple{Atom("ok"), Map{{Atom("a"), 1}, {Atom("b"), Tuple{true, false, nil}}}}},
	}
}

func benchEncode(b *testing.B, term Term) {
	buf, err := AppendTerm(nil, term)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendTerm(buf[:0], term); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, term Term) {
	enc, err := Encode(term)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	b.Run("control", func(b *testing.B) { benchEncode(b, controlMessage) })
	b.Run("mixed1KiB", func(b *testing.B) { benchEncode(b, mixedTerm()) })
}

func BenchmarkDecode(b *testing.B) {
	b.Run("control", func(b *testing.B) { benchDecode(b, controlMessage) })
	b.Run("mixed1KiB", func(b *testing.B) { benchDecode(b, mixedTerm()) })
}
