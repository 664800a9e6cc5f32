package etf

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that the decoder never panics, stays within its
// limits, and that whatever it accepts re-encodes to a term that decodes
// to an equal one.
func FuzzDecode(f *testing.F) {
	for _, g := range gossipTerms {
		f.Add(unhex(f, g.hex))
	}
	for _, term := range append(sampleTerms(f), recordTerms()...) {
		enc, err := Encode(term)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	big, _ := Encode(Tuple{Binary(bytes.Repeat([]byte("ab"), 200)), List{1, 2, 3}})
	f.Add(compress(f, big))
	f.Add([]byte{131, 100, 0, 2, 'h', 0xe9})
	f.Add([]byte{131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 1, 2})
	f.Add([]byte{131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3})
	f.Add([]byte{131, 67, 0, 0, 0, 2, 0, 119, 1, 'm', 119, 1, 'n', 119, 1, 'a', 119, 1, 'a', 97, 1, 97, 2})
	f.Add([]byte{131, 67, 0, 0, 0, 0, 2, 119, 1, 'm', 119, 1, 'n'})
	f.Fuzz(func(t *testing.T, in []byte) {
		term, rest, err := DecodeNext(in, Limits{MaxDepth: 64, MaxSize: 1 << 20})
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			return
		}
		if len(rest) > len(in) {
			t.Fatalf("rest longer than input")
		}
		enc, err := Encode(term)
		if err != nil {
			t.Fatalf("decoded %#v does not re-encode: %v", term, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding % x of %#v does not decode: %v", enc, term, err)
		}
		if !Equal(back, term) {
			t.Fatalf("round trip changed %#v into %#v", term, back)
		}
	})
}
