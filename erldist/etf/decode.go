package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// emptyList is [] boxed once, so that decoding NIL_EXT does not allocate.
var emptyList Term = List{}

type decoder struct {
	b           []byte
	pos         int
	tagAt       int  // offset of the tag being decoded, for messages
	base        int  // offset of b[0] in the caller's input, for messages
	inflated    bool // b is the inflated data of a compressed term
	limited     bool // b was cut short to enforce MaxSize
	maxSize     int
	maxDepth    int
	maxAtomLen  int
	maxInflated int
	maxAlloc    uint64 // the allocation budget, for messages
	budget      uint64 // what is left of it

	// When hashing is set (inside the keys of a large map), every decoded
	// term leaves its Equal-consistent hash in h. Containers combine their
	// children's hashes and set hashed; leaves are hashed by term.
	hashing bool
	hashed  bool
	h       uint64
}

func (d *decoder) fail(at int, tag byte, format string, args ...any) *DecodeError {
	e := &DecodeError{Offset: d.base + at, Tag: tag, Reason: fmt.Sprintf(format, args...)}
	if d.inflated {
		e.Reason += " (offset counted in the inflated data of a compressed term)"
	}
	return e
}

func (d *decoder) limit(at int, tag byte, format string, args ...any) *DecodeError {
	e := d.fail(at, tag, format, args...)
	e.Err = ErrLimit
	return e
}

// truncated reports that the term needs n more bytes at d.pos than remain.
func (d *decoder) truncated(tag byte, what string) *DecodeError {
	if d.limited {
		return d.limit(d.tagAt, tag, "term is larger than Limits.MaxSize (%d bytes); raise the limit if such terms are expected", d.maxSize)
	}
	return d.fail(d.tagAt, tag, "input ends at offset %d inside %s; the term is truncated", d.base+len(d.b), what)
}

func (d *decoder) remaining() int { return len(d.b) - d.pos }

// Approximate bytes the Go form of a term takes, charged against the
// allocation budget before the memory is allocated.
const (
	costSlot   = 16 // one interface value: an element of a tuple, list or fun
	costPair   = 32 // one map pair
	costHashed = 16 // one entry of the key-hash index of a large map
	costBox    = 24 // a slice, string or small struct boxed in an interface
	costPid    = 48 // a Pid or Port boxed in an interface
)

// setBudget sets the allocation budget for decoding the n bytes of d.b.
func (d *decoder) setBudget(lim Limits, n int) {
	if lim.MaxAlloc > 0 {
		d.maxAlloc = uint64(lim.MaxAlloc)
	} else {
		d.maxAlloc = DefaultAllocFactor*uint64(n) + DefaultAllocSlack
	}
	d.budget = d.maxAlloc
}

// charge takes n bytes from the allocation budget, failing once it is
// spent: the decoded form of the term would take more memory than allowed.
func (d *decoder) charge(start int, tag byte, n uint64) error {
	if n > d.budget {
		return d.limit(start, tag, "the decoded term needs more than Limits.MaxAlloc (%d bytes) of memory; the input holds very many small elements (raise the limit if such terms are expected)", d.maxAlloc)
	}
	d.budget -= n
	return nil
}

func (d *decoder) need(n int, tag byte, what string) error {
	if n < 0 || d.remaining() < n {
		return d.truncated(tag, what)
	}
	return nil
}

func (d *decoder) u8() byte {
	v := d.b[d.pos]
	d.pos++
	return v
}

func (d *decoder) u16() uint16 {
	v := binary.BigEndian.Uint16(d.b[d.pos:])
	d.pos += 2
	return v
}

func (d *decoder) u32() uint32 {
	v := binary.BigEndian.Uint32(d.b[d.pos:])
	d.pos += 4
	return v
}

func (d *decoder) u64() uint64 {
	v := binary.BigEndian.Uint64(d.b[d.pos:])
	d.pos += 8
	return v
}

func decodeNext(b []byte, lim Limits) (Term, []byte, error) {
	d := decoder{maxSize: lim.MaxSize, maxDepth: lim.MaxDepth, maxAtomLen: lim.MaxAtomLen, maxInflated: lim.MaxInflated}
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	if d.maxAtomLen <= 0 {
		d.maxAtomLen = DefaultMaxAtomLen
	}
	if len(b) == 0 {
		return nil, b, &DecodeError{Reason: "empty input; expected a term starting with the version byte 131"}
	}
	if b[0] != Version {
		return nil, b, &DecodeError{Reason: fmt.Sprintf("first byte is %d, not the version byte 131; the data is not an Erlang external term", b[0])}
	}
	if len(b) >= 2 && b[1] == tagCompressed {
		return d.compressed(b, lim)
	}
	d.b = b[1:]
	d.base = 1
	if d.maxSize > 0 && len(d.b) > d.maxSize {
		d.b = d.b[:d.maxSize]
		d.limited = true
	}
	d.setBudget(lim, len(d.b))
	t, err := d.term(0)
	if err != nil {
		return nil, b, err
	}
	return t, b[1+d.pos:], nil
}

func (d *decoder) compressed(b []byte, lim Limits) (Term, []byte, error) {
	if len(b) < 6 {
		return nil, b, &DecodeError{Offset: 1, Tag: tagCompressed, Reason: "input ends inside the uncompressed size; the term is truncated"}
	}
	size := binary.BigEndian.Uint32(b[2:])
	maxSize, field := d.maxInflated, "Limits.MaxInflated"
	if maxSize <= 0 {
		maxSize = DefaultMaxInflated
	}
	if d.maxSize > 0 && d.maxSize < maxSize {
		maxSize, field = d.maxSize, "Limits.MaxSize"
	}
	if uint64(size) > uint64(maxSize) {
		return nil, b, &DecodeError{Offset: 2, Tag: tagCompressed, Err: ErrLimit,
			Reason: fmt.Sprintf("compressed term inflates to %d bytes, more than %s (%d); raise the limit if such terms are expected", size, field, maxSize)}
	}
	if size == 0 {
		return nil, b, &DecodeError{Offset: 2, Tag: tagCompressed, Reason: "compressed term with uncompressed size 0; a term needs at least one byte"}
	}
	src := bytes.NewReader(b[6:])
	zr, err := zlib.NewReader(src)
	if err != nil {
		return nil, b, &DecodeError{Offset: 6, Tag: tagCompressed, Reason: "bad zlib header: " + err.Error()}
	}
	// zlib inflates at most about 1032:1, so the buffer starts at the size
	// field (plus one byte, to notice more data) or at 1032 times the input,
	// whichever is less: a true size field is allocated once, a false one
	// costs no more than the input can inflate to.
	buf, err := inflate(zr, int(size)+1, len(b)*1032+64)
	if err != nil {
		return nil, b, &DecodeError{Offset: 6, Tag: tagCompressed, Reason: "corrupt zlib data: " + err.Error()}
	}
	if len(buf) != int(size) {
		return nil, b, &DecodeError{Offset: 2, Tag: tagCompressed,
			Reason: fmt.Sprintf("zlib data inflates to %s bytes but the header says %d", sizeDesc(len(buf), int(size)), size)}
	}
	if zr.Close() != nil {
		return nil, b, &DecodeError{Offset: 6, Tag: tagCompressed, Reason: "corrupt zlib data"}
	}
	consumed := 6 + len(b[6:]) - src.Len()
	d.b = buf
	d.inflated = true
	d.setBudget(lim, len(d.b))
	t, err := d.term(0)
	if err != nil {
		return nil, b, err
	}
	if d.pos != len(d.b) {
		return nil, b, d.fail(d.pos, 0, "%d bytes left over in the inflated data after the term", len(d.b)-d.pos)
	}
	return t, b[consumed:], nil
}

// inflate reads at most max bytes from r into a buffer that starts at
// initial bytes (at most max) and doubles as needed, never beyond max.
func inflate(r io.Reader, max, initial int) ([]byte, error) {
	buf := make([]byte, 0, min(max, initial))
	for len(buf) < max {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), max-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func sizeDesc(got, want int) string {
	if got > want {
		return "more than " + strconv.Itoa(want)
	}
	return strconv.Itoa(got)
}

func (d *decoder) term(depth int) (Term, error) {
	t, err := d.term0(depth)
	if d.hashing && err == nil {
		if !d.hashed {
			d.h = hashLeaf(t)
		}
		d.hashed = false
	}
	return t, err
}

// setHash records the hash of a container just decoded.
func (d *decoder) setHash(h uint64) {
	if d.hashing {
		d.h = h
		d.hashed = true
	}
}

func (d *decoder) term0(depth int) (Term, error) {
	if d.pos >= len(d.b) {
		return nil, d.truncated(0, "a term (no tag byte)")
	}
	start := d.pos
	d.tagAt = start
	tag := d.u8()
	switch tag {
	case tagSmallInteger:
		if err := d.need(1, tag, "the integer"); err != nil {
			return nil, err
		}
		return int64(d.u8()), nil
	case tagInteger:
		if err := d.need(4, tag, "the integer"); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, 8); err != nil {
			return nil, err
		}
		return int64(int32(d.u32())), nil
	case tagSmallBig, tagLargeBig:
		return d.bigInt(tag)
	case tagNewFloat:
		if err := d.need(8, tag, "the float"); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, 8); err != nil {
			return nil, err
		}
		f := math.Float64frombits(d.u64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, d.fail(start, tag, "float is NaN or infinite, which Erlang cannot represent")
		}
		return f, nil
	case tagFloat:
		if err := d.need(31, tag, "the float string"); err != nil {
			return nil, err
		}
		s := string(d.b[d.pos : d.pos+31])
		d.pos += 31
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, d.fail(start, tag, "float string %q is not a finite number", s)
		}
		return f, nil
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8, tagAtomCacheRef:
		d.pos = start
		return d.atom("an atom")
	case tagSmallTuple, tagLargeTuple:
		var n uint64
		if tag == tagSmallTuple {
			if err := d.need(1, tag, "the arity"); err != nil {
				return nil, err
			}
			n = uint64(d.u8())
		} else {
			if err := d.need(4, tag, "the arity"); err != nil {
				return nil, err
			}
			n = uint64(d.u32())
		}
		if err := d.enter(start, tag, depth, n); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, costBox+costSlot*n); err != nil {
			return nil, err
		}
		t := make(Tuple, n)
		h := mix(hashStart(kTuple), n)
		for i := range t {
			e, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			t[i] = e
			h = mix(h, d.h)
		}
		d.setHash(h)
		return t, nil
	case tagNil:
		return emptyList, nil
	case tagString:
		if err := d.need(2, tag, "the length"); err != nil {
			return nil, err
		}
		n := int(d.u16())
		if err := d.need(n, tag, "the string"); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, costBox+uint64(n)); err != nil {
			return nil, err
		}
		s := String(d.b[d.pos : d.pos+n])
		d.pos += n
		return s, nil
	case tagList:
		return d.list(start, depth)
	case tagMap:
		return d.mapTerm(start, depth)
	case tagBinary:
		if err := d.need(4, tag, "the length"); err != nil {
			return nil, err
		}
		n := uint64(d.u32())
		if uint64(d.remaining()) < n {
			return nil, d.truncated(tag, "the binary ("+strconv.FormatUint(n, 10)+" bytes announced)")
		}
		if err := d.charge(start, tag, costBox+n); err != nil {
			return nil, err
		}
		bin := make(Binary, n)
		d.pos += copy(bin, d.b[d.pos:])
		return bin, nil
	case tagBitBinary:
		if err := d.need(5, tag, "the length"); err != nil {
			return nil, err
		}
		n := uint64(d.u32())
		bits := d.u8()
		if uint64(d.remaining()) < n {
			return nil, d.truncated(tag, "the bitstring ("+strconv.FormatUint(n, 10)+" bytes announced)")
		}
		if n == 0 {
			if bits != 0 {
				return nil, d.fail(start, tag, "empty bitstring with %d bits in its last byte; it must be 0", bits)
			}
			return Binary{}, nil
		}
		if bits < 1 || bits > 8 {
			return nil, d.fail(start, tag, "bits in last byte is %d; it must be 1..8", bits)
		}
		if err := d.charge(start, tag, costPid+n); err != nil {
			return nil, err
		}
		data := make([]byte, n)
		d.pos += copy(data, d.b[d.pos:])
		if bits == 8 {
			return Binary(data), nil
		}
		data[n-1] &= byte(0xFF << (8 - bits))
		return BitBinary{Data: data, Bits: bits}, nil
	case tagNewPid, tagPid:
		d.pos = start
		return d.pid()
	case tagNewPort, tagV4Port, tagPort:
		node, err := d.atom("the port's node")
		if err != nil {
			return nil, err
		}
		d.tagAt = start
		if err := d.charge(start, tag, costPid); err != nil {
			return nil, err
		}
		p := Port{Node: node}
		switch tag {
		case tagV4Port:
			if err := d.need(12, tag, "the port"); err != nil {
				return nil, err
			}
			p.ID, p.Creation = d.u64(), d.u32()
		case tagNewPort:
			if err := d.need(8, tag, "the port"); err != nil {
				return nil, err
			}
			p.ID, p.Creation = uint64(d.u32()), d.u32()
		default:
			if err := d.need(5, tag, "the port"); err != nil {
				return nil, err
			}
			p.ID, p.Creation = uint64(d.u32()), uint32(d.u8())
		}
		return p, nil
	case tagNewerReference, tagNewReference:
		if err := d.need(2, tag, "the ID length"); err != nil {
			return nil, err
		}
		n := int(d.u16())
		if n < 1 || n > maxRefWords {
			return nil, d.fail(start, tag, "reference has %d ID words; OTP uses 1 to %d", n, maxRefWords)
		}
		node, err := d.atom("the reference's node")
		if err != nil {
			return nil, err
		}
		d.tagAt = start
		r := Ref{Node: node}
		cw := 4
		if tag == tagNewReference {
			cw = 1
		}
		if err := d.need(cw+4*n, tag, "the reference"); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, costPid+costBox+4*uint64(n)); err != nil {
			return nil, err
		}
		if cw == 4 {
			r.Creation = d.u32()
		} else {
			r.Creation = uint32(d.u8())
		}
		r.ID = make([]uint32, n)
		for i := range r.ID {
			r.ID[i] = d.u32()
		}
		return r, nil
	case tagReference:
		node, err := d.atom("the reference's node")
		if err != nil {
			return nil, err
		}
		d.tagAt = start
		if err := d.need(5, tag, "the reference"); err != nil {
			return nil, err
		}
		if err := d.charge(start, tag, costPid+costBox); err != nil {
			return nil, err
		}
		id := d.u32()
		return Ref{Node: node, ID: []uint32{id}, Creation: uint32(d.u8())}, nil
	case tagExport:
		m, err := d.atom("the fun's module")
		if err != nil {
			return nil, err
		}
		f, err := d.atom("the fun's function name")
		if err != nil {
			return nil, err
		}
		d.tagAt = start
		if err := d.need(2, tag, "the arity"); err != nil {
			return nil, err
		}
		if d.b[d.pos] != tagSmallInteger {
			return nil, d.fail(d.pos, tag, "arity has tag %d; it must be a SMALL_INTEGER_EXT (97)", d.b[d.pos])
		}
		d.pos++
		if err := d.charge(start, tag, costPid); err != nil {
			return nil, err
		}
		return ExportFun{Module: m, Function: f, Arity: d.u8()}, nil
	case tagNewFun:
		return d.fun(start, depth)
	case tagRecord:
		return d.record(start, depth)
	case tagFun:
		return nil, d.fail(start, tag, "the old FUN_EXT format (before OTP 23) is not supported")
	case tagLocal:
		return nil, d.fail(start, tag, "LOCAL_EXT is node-local and must not cross nodes")
	case tagCompressed:
		return nil, d.fail(start, tag, "a compressed term may only appear right after the version byte")
	case Version:
		return nil, d.fail(start, tag, "version byte 131 inside a term; terms are not nested with their own version byte")
	default:
		return nil, d.fail(start, tag, "unknown tag %d; the data is corrupt or uses a format newer than OTP 29", tag)
	}
}

// enter checks depth and that n elements (each at least one byte) fit in
// the remaining input before a container of n elements is allocated.
func (d *decoder) enter(start int, tag byte, depth int, n uint64) error {
	if depth+1 > d.maxDepth {
		return d.limit(start, tag, "nesting deeper than Limits.MaxDepth (%d); raise the limit if such terms are expected", d.maxDepth)
	}
	if uint64(d.remaining()) < n {
		return d.truncated(tag, strconv.FormatUint(n, 10)+" elements")
	}
	return nil
}

func (d *decoder) list(start, depth int) (Term, error) {
	const tag = tagList
	var elems []Term
	h := hashStart(kList)
	// A tail that is itself a LIST_EXT or STRING_EXT continues the list; it
	// is read in this loop, so long chains cost neither stack nor copies.
	for {
		d.tagAt = start
		if err := d.need(4, tag, "the length"); err != nil {
			return nil, err
		}
		n := uint64(d.u32())
		if err := d.enter(start, tag, depth, n+1); err != nil { // elements and tail
			return nil, err
		}
		if err := d.charge(start, tag, costBox+costSlot*n); err != nil {
			return nil, err
		}
		elems = slices.Grow(elems, int(n))
		for range n {
			e, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
			h = mix(h, d.h)
		}
		if d.pos >= len(d.b) {
			d.tagAt = start
			return nil, d.truncated(tag, "the list tail")
		}
		switch d.b[d.pos] {
		case tagNil:
			d.pos++
			d.setHash(mix(h, kNil))
			if len(elems) == 0 {
				return emptyList, nil
			}
			return List(elems), nil
		case tagList:
			start = d.pos
			d.pos++
			continue
		case tagString:
			s, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			str := s.(String)
			if err := d.charge(start, tag, costSlot*uint64(len(str))); err != nil {
				return nil, err
			}
			elems = slices.Grow(elems, len(str))
			for i := 0; i < len(str); i++ {
				elems = append(elems, int64(str[i]))
				if d.hashing {
					h = mix(h, hashInt(int64(str[i])))
				}
			}
			d.setHash(mix(h, kNil))
			if len(elems) == 0 {
				return emptyList, nil
			}
			return List(elems), nil
		}
		tail, err := d.term(depth + 1)
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 { // [|Tail] is just Tail; d.h is already its hash
			d.setHash(d.h)
			return tail, nil
		}
		d.setHash(mix(mix(h, kTail), d.h))
		if err := d.charge(start, tag, costPid); err != nil {
			return nil, err
		}
		return ImproperList{Elems: elems, Tail: tail}, nil
	}
}

func (d *decoder) mapTerm(start, depth int) (Term, error) {
	const tag = tagMap
	if err := d.need(4, tag, "the arity"); err != nil {
		return nil, err
	}
	n := uint64(d.u32())
	if err := d.enter(start, tag, depth, 2*n); err != nil {
		return nil, err
	}
	large := n > 16
	cost := costBox + costPair*n
	if large {
		cost += costHashed * n
	}
	if err := d.charge(start, tag, cost); err != nil {
		return nil, err
	}
	m := make(Map, n)
	outer := d.hashing
	var keyHashes map[uint64]int
	if large {
		keyHashes = make(map[uint64]int, n)
	}
	var sum uint64
	for i := range m {
		keyAt := d.pos
		d.hashing = outer || large
		k, err := d.term(depth + 1)
		hk := d.h
		d.hashing = outer
		if err != nil {
			return nil, err
		}
		v, err := d.term(depth + 1)
		if err != nil {
			return nil, err
		}
		m[i] = Pair{Key: k, Value: v}
		if outer {
			sum += hashPair(hk, d.h)
		}
		dup := false
		if large {
			if j, seen := keyHashes[hk]; seen {
				// Equal hashes: a duplicate, or (rarely) a collision that
				// needs a full scan.
				dup = Equal(m[j].Key, k)
				for j := 0; !dup && j < i; j++ {
					dup = Equal(m[j].Key, k)
				}
			}
			keyHashes[hk] = i
		} else {
			for j := 0; !dup && j < i; j++ {
				dup = Equal(m[j].Key, k)
			}
		}
		if dup {
			return nil, d.fail(keyAt, tag, "map key %s appears twice; Erlang rejects such maps", describe(k))
		}
	}
	d.setHash(hashMapEnd(len(m), sum))
	return m, nil
}

func describe(t Term) string {
	s := fmt.Sprintf("%v", t)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

func (d *decoder) bigInt(tag byte) (Term, error) {
	var n uint64
	if tag == tagSmallBig {
		if err := d.need(2, tag, "the length"); err != nil {
			return nil, err
		}
		n = uint64(d.u8())
	} else {
		if err := d.need(5, tag, "the length"); err != nil {
			return nil, err
		}
		n = uint64(d.u32())
	}
	neg := d.u8() != 0
	if uint64(d.remaining()) < n {
		return nil, d.truncated(tag, "the magnitude ("+strconv.FormatUint(n, 10)+" bytes announced)")
	}
	if err := d.charge(d.tagAt, tag, 2*n+costPid); err != nil {
		return nil, err
	}
	mag := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	for len(mag) > 0 && mag[len(mag)-1] == 0 { // drop high zero bytes
		mag = mag[:len(mag)-1]
	}
	if len(mag) <= 8 {
		var m uint64
		for i := len(mag) - 1; i >= 0; i-- {
			m = m<<8 | uint64(mag[i])
		}
		switch {
		case !neg && m <= math.MaxInt64:
			return int64(m), nil
		case neg && m <= 1<<63:
			return -int64(m), nil // -(1<<63) wraps to MinInt64, as intended
		}
	}
	be := make([]byte, len(mag))
	for i := range mag {
		be[len(mag)-1-i] = mag[i]
	}
	v := new(big.Int).SetBytes(be)
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// atom reads an atom term (any of the four atom tags) at d.pos.
func (d *decoder) atom(what string) (Atom, error) {
	if d.pos >= len(d.b) {
		return "", d.truncated(0, what)
	}
	start := d.pos
	d.tagAt = start
	tag := d.u8()
	var n int
	switch tag {
	case tagSmallAtom, tagSmallAtomUTF8:
		if err := d.need(1, tag, "the atom length"); err != nil {
			return "", err
		}
		n = int(d.u8())
	case tagAtom, tagAtomUTF8:
		if err := d.need(2, tag, "the atom length"); err != nil {
			return "", err
		}
		n = int(d.u16())
	case tagAtomCacheRef:
		return "", d.fail(start, tag, "atom cache reference outside a distribution header; the connection must not negotiate DFLAG_DIST_HDR_ATOM_CACHE")
	default:
		return "", d.fail(start, tag, "%s must be an atom, found %s", what, tagName(tag))
	}
	utf := tag == tagAtomUTF8 || tag == tagSmallAtomUTF8
	if (utf && n > 4*d.maxAtomLen) || (!utf && n > d.maxAtomLen) {
		return "", d.atomTooLong(start, tag, n)
	}
	if err := d.need(n, tag, "the atom text"); err != nil {
		return "", err
	}
	if err := d.charge(start, tag, costBox+2*uint64(n)); err != nil {
		return "", err
	}
	raw := d.b[d.pos : d.pos+n]
	d.pos += n
	if utf {
		if !utf8.Valid(raw) {
			return "", d.fail(start, tag, "atom text is not valid UTF-8")
		}
		if c := utf8.RuneCount(raw); c > d.maxAtomLen {
			return "", d.atomTooLong(start, tag, c)
		}
		return Atom(raw), nil
	}
	return latin1(raw), nil
}

func (d *decoder) atomTooLong(start int, tag byte, n int) error {
	return d.limit(start, tag, "atom of %d or more characters is longer than Limits.MaxAtomLen (%d)", n, d.maxAtomLen)
}

func latin1(raw []byte) Atom {
	ascii := true
	for _, c := range raw {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return Atom(raw)
	}
	var sb strings.Builder
	sb.Grow(2 * len(raw))
	for _, c := range raw {
		sb.WriteRune(rune(c))
	}
	return Atom(sb.String())
}

func (d *decoder) pid() (Pid, error) {
	start := d.pos
	tag := d.u8()
	node, err := d.atom("the pid's node")
	d.tagAt = start
	if err != nil {
		return Pid{}, err
	}
	if err := d.charge(start, tag, costPid); err != nil {
		return Pid{}, err
	}
	p := Pid{Node: node}
	if tag == tagNewPid {
		if err := d.need(12, tag, "the pid"); err != nil {
			return Pid{}, err
		}
		p.ID, p.Serial, p.Creation = d.u32(), d.u32(), d.u32()
		return p, nil
	}
	if tag != tagPid {
		return Pid{}, d.fail(start, tag, "expected a pid")
	}
	if err := d.need(9, tag, "the pid"); err != nil {
		return Pid{}, err
	}
	p.ID, p.Serial, p.Creation = d.u32(), d.u32(), uint32(d.u8())
	return p, nil
}

func (d *decoder) fun(start, depth int) (Term, error) {
	const tag = tagNewFun
	const fixed = 4 + 1 + 16 + 4 + 4
	if err := d.need(fixed, tag, "the fun header"); err != nil {
		return nil, err
	}
	size := uint64(d.u32())
	if size < fixed || uint64(len(d.b)-(start+1)) < size {
		if size >= fixed {
			return nil, d.truncated(tag, "the fun ("+strconv.FormatUint(size, 10)+" bytes announced)")
		}
		return nil, d.fail(start, tag, "fun size %d is smaller than its fixed header", size)
	}
	end := start + 1 + int(size)
	f := Fun{Arity: d.u8()}
	d.pos += copy(f.Uniq[:], d.b[d.pos:])
	f.Index = d.u32()
	numFree := uint64(d.u32())
	if err := d.enter(start, tag, depth, numFree); err != nil {
		return nil, err
	}
	var err error
	if f.Module, err = d.atom("the fun's module"); err != nil {
		return nil, err
	}
	if f.OldIndex, err = d.smallInt("the fun's OldIndex"); err != nil {
		return nil, err
	}
	if f.OldUniq, err = d.smallInt("the fun's OldUniq"); err != nil {
		return nil, err
	}
	d.tagAt = start
	if d.pos >= len(d.b) {
		return nil, d.truncated(tag, "the fun's pid")
	}
	if t := d.b[d.pos]; t != tagNewPid && t != tagPid {
		return nil, d.fail(d.pos, tag, "the fun's creator must be a pid, found %s", tagName(t))
	}
	if f.Pid, err = d.pid(); err != nil {
		return nil, err
	}
	d.tagAt = start
	if err := d.enter(start, tag, depth, numFree); err != nil {
		return nil, err
	}
	if err := d.charge(start, tag, 2*costPid+costSlot*numFree); err != nil {
		return nil, err
	}
	f.Free = make([]Term, numFree)
	h := hashFunStart(&f)
	for i := range f.Free {
		if f.Free[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
		h = mix(h, d.h)
	}
	d.setHash(h)
	if d.pos != end {
		return nil, d.fail(start, tag, "fun size field says %d bytes but the fun takes %d", size, d.pos-start-1)
	}
	return f, nil
}

func (d *decoder) smallInt(what string) (int64, error) {
	d.tagAt = d.pos
	if d.pos >= len(d.b) {
		return 0, d.truncated(tagNewFun, what)
	}
	switch tag := d.u8(); tag {
	case tagSmallInteger:
		if err := d.need(1, tag, what); err != nil {
			return 0, err
		}
		return int64(d.u8()), nil
	case tagInteger:
		if err := d.need(4, tag, what); err != nil {
			return 0, err
		}
		return int64(int32(d.u32())), nil
	default:
		return 0, d.fail(d.pos-1, tagNewFun, "%s must be an integer, found %s", what, tagName(tag))
	}
}
