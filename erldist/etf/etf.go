// Package etf encodes and decodes the Erlang External Term Format (ETF), the
// binary form produced by erlang:term_to_binary/1 and used by the Erlang
// distribution protocol and by libcluster's Gossip heartbeats.
//
// Erlang terms map to Go values as follows:
//
//	atom              Atom (true/false decode as Atom("true")/Atom("false"))
//	integer           int64 when it fits, *big.Int otherwise
//	float             float64 (finite only)
//	tuple             Tuple
//	proper list       List (an empty list decodes as List{} ; nil encodes as [])
//	improper list     ImproperList
//	charlist (bytes)  String (from STRING_EXT; encodes back as STRING_EXT)
//	map               Map (ordered pairs; keys may be any term)
//	binary            Binary
//	bitstring         BitBinary
//	pid, port, ref    Pid, Port, Ref
//	fun M:F/A         ExportFun
//	closure           Fun
//	native record     Record (OTP 29's RECORD_EXT)
//
// For encoding, Go bool becomes the atom true or false, every Go integer type
// and *big.Int becomes an integer, float32/float64 a float, []byte a binary
// and []any a proper list. Plain Go strings are rejected because Erlang has
// no single string type: pick Binary (Elixir strings), String (Erlang
// charlists) or Atom.
//
// Decoding is bounded by [Limits]: nesting depth, atom length, the size of a
// term's encoding, the inflated size of compressed terms, and an allocation
// budget. Length and element counts are checked against the bytes that
// remain, and every element is charged against the budget before memory is
// allocated for it, so a decode allocates at most Limits.MaxAlloc (by
// default DefaultAllocFactor times the input length plus DefaultAllocSlack;
// for a compressed term, the inflated length and the inflated data itself
// on top) and stops as soon as the budget is spent. Malformed input yields a
// *[DecodeError] naming the tag and byte offset; the decoder never panics.
package etf

import (
	"errors"
	"fmt"
)

// Version is the version byte that starts every encoded term (131).
const Version = 131

// Term is any Erlang term in its Go form; see the package documentation for
// the mapping.
type Term = any

// Atom is an Erlang atom, held as UTF-8. An atom has at most 255 characters.
type Atom string

// Pid is an Erlang process identifier. It encodes as NEW_PID_EXT; PID_EXT is
// accepted on decode.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// Port is an Erlang port identifier. It encodes as NEW_PORT_EXT when ID fits
// in 32 bits and as V4_PORT_EXT otherwise; PORT_EXT is accepted on decode.
type Port struct {
	Node     Atom
	ID       uint64
	Creation uint32
}

// Ref is an Erlang reference. It encodes as NEWER_REFERENCE_EXT with 1 to 5
// ID words (3 is usual); the older REFERENCE_EXT and NEW_REFERENCE_EXT are
// accepted on decode.
type Ref struct {
	Node     Atom
	Creation uint32
	ID       []uint32
}

// Tuple is an Erlang tuple.
type Tuple []Term

// List is a proper Erlang list. An empty List is the empty list [].
type List []Term

// ImproperList is a list whose tail is not [], such as [a|b]. Elems holds at
// least one element.
type ImproperList struct {
	Elems []Term
	Tail  Term
}

// Pair is one key/value association of a Map.
type Pair struct {
	Key, Value Term
}

// Map is an Erlang map as an ordered list of pairs. Order is kept as decoded
// and as given when encoding; [Equal] ignores it. Keys must not repeat.
type Map []Pair

// Binary is an Erlang binary (a whole number of bytes).
type Binary []byte

// BitBinary is an Erlang bitstring whose length is not a whole number of
// bytes. Bits is the number of bits used in the last byte of Data (1 to 8),
// counted from the most significant bit.
type BitBinary struct {
	Data []byte
	Bits uint8
}

// String is an Erlang charlist whose elements are all in 0..255, as carried
// by STRING_EXT. Each byte of the Go string is one element (Latin-1, not
// UTF-8). It encodes back as STRING_EXT when it has at most 65535 bytes, and
// as a list of integers otherwise. The empty String is [].
type String string

// ExportFun is an external fun, fun Module:Function/Arity (EXPORT_EXT).
type ExportFun struct {
	Module, Function Atom
	Arity            uint8
}

// Fun is a local fun (closure), NEW_FUN_EXT. A Go node cannot run it; it is
// decoded so that it can be inspected, compared and sent back.
type Fun struct {
	Arity    uint8
	Uniq     [16]byte
	Index    uint32
	Module   Atom
	OldIndex int64
	OldUniq  int64
	Pid      Pid
	Free     []Term
}

// Limits bound the work and memory of a decode. A zero field takes its
// default.
type Limits struct {
	// MaxDepth is the deepest nesting of tuples, lists, maps and funs
	// (default 512).
	MaxDepth int
	// MaxSize is the largest encoding of one term in bytes (default: the
	// input length). It also caps MaxInflated.
	MaxSize int
	// MaxInflated is the largest inflated size of a compressed term
	// (default DefaultMaxInflated, 16 MiB). Compression lets a few
	// kilobytes claim megabytes, so keep it much smaller than MaxSize.
	MaxInflated int
	// MaxAlloc is the allocation budget of one decode in bytes: every
	// element is charged about the memory its Go form takes (16 bytes per
	// tuple or list element, 32 per map pair, the bytes of binaries and
	// atoms, ...) before it is allocated, and the decode fails with
	// ErrLimit once the budget is spent. Default: DefaultAllocFactor times
	// the input length (the inflated length for a compressed term) plus
	// DefaultAllocSlack, enough for ordinary terms; a term of very many tiny
	// elements (say a long list of [] or of small integers, 8 to 16 bytes
	// of Go memory per input byte) needs more.
	MaxAlloc int
	// MaxAtomLen is the longest atom in characters (default 255, Erlang's
	// own limit).
	MaxAtomLen int
}

// Default limits used for zero fields of Limits.
const (
	DefaultMaxDepth      = 512
	DefaultMaxInflated   = 16 << 20
	DefaultAllocFactor   = 4
	DefaultAllocSlack    = 8 << 20
	DefaultMaxAtomLen    = 255
	maxEncodeDepth       = 10000
	maxRefWords          = 5
	maxSmallAtomUTF8Size = 255
)

// ErrLimit is wrapped by decode errors caused by a Limits bound rather than
// by malformed input.
var ErrLimit = errors.New("decode limit exceeded")

// DecodeError reports malformed or over-limit input.
type DecodeError struct {
	Offset int    // byte offset in the input (in the inflated data for compressed terms)
	Tag    byte   // the tag being decoded, 0 if none
	Reason string // what is wrong and how to fix it
	Err    error  // wrapped cause, such as ErrLimit; may be nil
}

func (e *DecodeError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("etf: decoding %s (tag %d) at offset %d: %s", tagName(e.Tag), e.Tag, e.Offset, e.Reason)
	}
	return fmt.Sprintf("etf: decoding at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns the wrapped cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a Go value that cannot be encoded.
type EncodeError struct {
	Path   string // where in the term, e.g. "[2].key"
	Reason string
}

func (e *EncodeError) Error() string {
	if e.Path == "" {
		return "etf: encoding: " + e.Reason
	}
	return "etf: encoding " + e.Path + ": " + e.Reason
}

// Encode returns the ETF encoding of t, starting with the version byte 131.
func Encode(t Term) ([]byte, error) {
	return AppendTerm(nil, t)
}

// AppendTerm appends the ETF encoding of t, starting with the version byte
// 131, to dst and returns the extended slice. On error dst is returned
// unchanged in length.
func AppendTerm(dst []byte, t Term) ([]byte, error) {
	n := len(dst)
	out, err := appendTerm(append(dst, Version), t, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// Decode decodes exactly one term, framed with the version byte 131, from b
// with default limits. Compressed terms (tag 80) are inflated. Bytes after
// the term are an error.
func Decode(b []byte) (Term, error) {
	t, rest, err := DecodeNext(b, Limits{})
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, &DecodeError{Offset: len(b) - len(rest), Reason: fmt.Sprintf("%d trailing bytes after the term; send exactly one term", len(rest))}
	}
	return t, nil
}

// DecodeNext decodes one term framed with the version byte 131 from the
// start of b and returns it with the bytes that follow it, so that several
// terms sent back to back (a distribution control message and its payload)
// can be read in turn.
func DecodeNext(b []byte, lim Limits) (t Term, rest []byte, err error) {
	return decodeNext(b, lim)
}

// Equal reports whether a and b are exactly equal in Erlang's =:= sense:
// integers compare by value whatever their Go type (int, int64, *big.Int),
// an integer never equals a float, String equals the List of its bytes,
// nil equals the empty list, a BitBinary with Bits 8 equals the Binary of its
// Data, and Maps compare without regard to order. Floats compare bit for
// bit, as OTP 27 does (0.0 and -0.0 differ).
func Equal(a, b Term) bool {
	return equal(a, b, 0)
}

// Hash returns a hash of t consistent with [Equal]: Equal(a, b) implies
// Hash(a) == Hash(b), so terms can key a Go map of buckets (as Erlang
// terms key ETS tables). It is seeded once per process, so its values
// must not be stored or sent elsewhere.
func Hash(t Term) uint64 {
	return hashTerm(t, 0)
}
