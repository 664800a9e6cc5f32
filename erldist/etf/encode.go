package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

func encErr(format string, args ...any) *EncodeError {
	return &EncodeError{Reason: fmt.Sprintf(format, args...)}
}

// within prefixes the error's path with the step seg taken in the parent.
func within(err error, seg string) error {
	if e, ok := err.(*EncodeError); ok {
		e.Path = seg + e.Path
	}
	return err
}

func appendTerm(b []byte, t Term, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return b, encErr("nesting deeper than %d levels; the term may contain itself", maxEncodeDepth)
	}
	switch v := t.(type) {
	case nil:
		return append(b, tagNil), nil
	case Atom:
		return appendAtom(b, v)
	case bool:
		if v {
			return appendAtom(b, "true")
		}
		return appendAtom(b, "false")
	case int:
		return appendInt(b, int64(v)), nil
	case int8:
		return appendInt(b, int64(v)), nil
	case int16:
		return appendInt(b, int64(v)), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case int64:
		return appendInt(b, v), nil
	case uint:
		return appendUint(b, uint64(v)), nil
	case uint8:
		return appendInt(b, int64(v)), nil
	case uint16:
		return appendInt(b, int64(v)), nil
	case uint32:
		return appendInt(b, int64(v)), nil
	case uint64:
		return appendUint(b, v), nil
	case uintptr:
		return appendUint(b, uint64(v)), nil
	case *big.Int:
		if v == nil {
			return b, encErr("nil *big.Int; use a non-nil value or nil for []")
		}
		return appendBig(b, v), nil
	case float64:
		return appendFloat(b, v)
	case float32:
		return appendFloat(b, float64(v))
	case Tuple:
		return appendTuple(b, v, depth)
	case List:
		return appendList(b, v, nil, depth)
	case []any:
		return appendList(b, v, nil, depth)
	case ImproperList:
		if len(v.Elems) == 0 {
			return b, encErr("ImproperList with no elements; an Erlang list cell needs a head, so encode the tail on its own")
		}
		return appendList(b, v.Elems, v.Tail, depth)
	case Map:
		return appendMap(b, v, depth)
	case Binary:
		return appendBinary(b, v)
	case []byte:
		return appendBinary(b, v)
	case BitBinary:
		return appendBitBinary(b, v)
	case String:
		return appendString(b, v), nil
	case Pid:
		return appendPid(b, v)
	case Port:
		return appendPort(b, v)
	case Ref:
		return appendRef(b, v)
	case ExportFun:
		return appendExport(b, v)
	case Fun:
		return appendFun(b, v, depth)
	case Record:
		return appendRecordTerm(b, v, depth)
	case string:
		return b, encErr("plain Go string %q is ambiguous; use etf.Binary (Elixir string), etf.String (Erlang charlist) or etf.Atom", truncate(v))
	default:
		return b, encErr("unsupported Go type %T; see the etf package documentation for the types that map to Erlang terms", t)
	}
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

func appendAtom(b []byte, a Atom) ([]byte, error) {
	if !isASCII(string(a)) {
		if !utf8.ValidString(string(a)) {
			return b, encErr("atom %q is not valid UTF-8; atoms are encoded as UTF-8", truncate(string(a)))
		}
		if n := utf8.RuneCountInString(string(a)); n > DefaultMaxAtomLen {
			return b, encErr("atom of %d characters is longer than Erlang's limit of %d; shorten it", n, DefaultMaxAtomLen)
		}
	} else if len(a) > DefaultMaxAtomLen {
		return b, encErr("atom of %d characters is longer than Erlang's limit of %d; shorten it", len(a), DefaultMaxAtomLen)
	}
	if len(a) <= maxSmallAtomUTF8Size {
		b = append(b, tagSmallAtomUTF8, byte(len(a)))
	} else {
		b = append(b, tagAtomUTF8)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a)))
	}
	return append(b, a...), nil
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 255:
		return append(b, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = append(b, tagInteger)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v)))
	}
	var sign byte
	m := uint64(v)
	if v < 0 {
		sign = 1
		m = -m // two's complement negation also handles MinInt64
	}
	return appendSmallBig(b, sign, m)
}

func appendUint(b []byte, v uint64) []byte {
	if v <= math.MaxInt64 {
		return appendInt(b, int64(v))
	}
	return appendSmallBig(b, 0, v)
}

func appendSmallBig(b []byte, sign byte, m uint64) []byte {
	n := 0
	for x := m; x != 0; x >>= 8 {
		n++
	}
	b = append(b, tagSmallBig, byte(n), sign)
	for ; n > 0; n-- {
		b = append(b, byte(m))
		m >>= 8
	}
	return b
}

func appendBig(b []byte, v *big.Int) []byte {
	if v.IsInt64() {
		return appendInt(b, v.Int64())
	}
	var sign byte
	if v.Sign() < 0 {
		sign = 1
	}
	mag := new(big.Int).Abs(v).Bytes() // big-endian, no leading zeros
	if len(mag) <= 255 {
		b = append(b, tagSmallBig, byte(len(mag)), sign)
	} else {
		b = append(b, tagLargeBig)
		b = binary.BigEndian.AppendUint32(b, uint32(len(mag)))
		b = append(b, sign)
	}
	for i := len(mag) - 1; i >= 0; i-- {
		b = append(b, mag[i])
	}
	return b
}

func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, encErr("float %v is not finite; Erlang floats are finite, so send an atom or a tuple instead", f)
	}
	b = append(b, tagNewFloat)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

func appendTuple(b []byte, t Tuple, depth int) ([]byte, error) {
	if len(t) <= 255 {
		b = append(b, tagSmallTuple, byte(len(t)))
	} else {
		if uint64(len(t)) > math.MaxUint32 {
			return b, encErr("tuple of %d elements is too large for ETF", len(t))
		}
		b = append(b, tagLargeTuple)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
	}
	var err error
	for i, e := range t {
		if b, err = appendTerm(b, e, depth+1); err != nil {
			return b, within(err, "tuple["+strconv.Itoa(i)+"]")
		}
	}
	return b, nil
}

func appendList(b []byte, elems []Term, tail Term, depth int) ([]byte, error) {
	if len(elems) == 0 {
		return append(b, tagNil), nil
	}
	if uint64(len(elems)) > math.MaxUint32 {
		return b, encErr("list of %d elements is too large for ETF", len(elems))
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
	var err error
	for i, e := range elems {
		if b, err = appendTerm(b, e, depth+1); err != nil {
			return b, within(err, "list["+strconv.Itoa(i)+"]")
		}
	}
	if b, err = appendTerm(b, tail, depth+1); err != nil {
		return b, within(err, "list.tail")
	}
	return b, nil
}

func appendMap(b []byte, m Map, depth int) ([]byte, error) {
	if uint64(len(m)) > math.MaxUint32 {
		return b, encErr("map of %d pairs is too large for ETF", len(m))
	}
	b = append(b, tagMap)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
	var err error
	for i, p := range m {
		if b, err = appendTerm(b, p.Key, depth+1); err != nil {
			return b, within(err, "map["+strconv.Itoa(i)+"].key")
		}
		if b, err = appendTerm(b, p.Value, depth+1); err != nil {
			return b, within(err, "map["+strconv.Itoa(i)+"].value")
		}
	}
	return b, nil
}

func appendBinary(b []byte, data []byte) ([]byte, error) {
	if uint64(len(data)) > math.MaxUint32 {
		return b, encErr("binary of %d bytes is larger than ETF's 4 GiB limit", len(data))
	}
	b = append(b, tagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...), nil
}

func appendBitBinary(b []byte, v BitBinary) ([]byte, error) {
	if len(v.Data) == 0 {
		if v.Bits != 0 && v.Bits != 8 {
			return b, encErr("BitBinary with %d bits in its last byte but no data; give Data at least one byte", v.Bits)
		}
		return appendBinary(b, nil)
	}
	if v.Bits == 8 {
		return appendBinary(b, v.Data)
	}
	if v.Bits < 1 || v.Bits > 8 {
		return b, encErr("BitBinary.Bits is %d; it must be 1..8 (the bits used in the last byte)", v.Bits)
	}
	if uint64(len(v.Data)) > math.MaxUint32 {
		return b, encErr("bitstring of %d bytes is larger than ETF's 4 GiB limit", len(v.Data))
	}
	b = append(b, tagBitBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.Data)))
	b = append(b, v.Bits)
	b = append(b, v.Data...)
	// Unused low bits of the last byte are zero, as OTP writes them.
	b[len(b)-1] &= byte(0xFF << (8 - v.Bits))
	return b, nil
}

func appendString(b []byte, s String) []byte {
	switch {
	case len(s) == 0:
		return append(b, tagNil)
	case len(s) <= math.MaxUint16:
		b = append(b, tagString)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...)
	}
	// Too long for STRING_EXT: a list of small integers, as OTP does.
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	for i := 0; i < len(s); i++ {
		b = append(b, tagSmallInteger, s[i])
	}
	return append(b, tagNil)
}

func appendNode(b []byte, node Atom, what string) ([]byte, error) {
	b, err := appendAtom(b, node)
	if err != nil {
		return b, within(err, what+".Node")
	}
	return b, nil
}

func appendPid(b []byte, p Pid) ([]byte, error) {
	b, err := appendNode(append(b, tagNewPid), p.Node, "pid")
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, p.ID)
	b = binary.BigEndian.AppendUint32(b, p.Serial)
	return binary.BigEndian.AppendUint32(b, p.Creation), nil
}

func appendPort(b []byte, p Port) ([]byte, error) {
	tag := byte(tagNewPort)
	if p.ID > math.MaxUint32 {
		tag = tagV4Port
	}
	b, err := appendNode(append(b, tag), p.Node, "port")
	if err != nil {
		return b, err
	}
	if tag == tagV4Port {
		b = binary.BigEndian.AppendUint64(b, p.ID)
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(p.ID))
	}
	return binary.BigEndian.AppendUint32(b, p.Creation), nil
}

func appendRef(b []byte, r Ref) ([]byte, error) {
	if len(r.ID) < 1 || len(r.ID) > maxRefWords {
		return b, encErr("reference with %d ID words; OTP accepts 1 to %d (3 is usual)", len(r.ID), maxRefWords)
	}
	b = append(b, tagNewerReference)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.ID)))
	b, err := appendNode(b, r.Node, "ref")
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, r.Creation)
	for _, w := range r.ID {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return b, nil
}

func appendExport(b []byte, f ExportFun) ([]byte, error) {
	b = append(b, tagExport)
	b, err := appendAtom(b, f.Module)
	if err != nil {
		return b, within(err, "fun.Module")
	}
	if b, err = appendAtom(b, f.Function); err != nil {
		return b, within(err, "fun.Function")
	}
	return append(b, tagSmallInteger, f.Arity), nil
}

func appendFun(b []byte, f Fun, depth int) ([]byte, error) {
	if uint64(len(f.Free)) > math.MaxUint32 {
		return b, encErr("fun with %d free variables is too large for ETF", len(f.Free))
	}
	b = append(b, tagNewFun)
	sizeAt := len(b)
	b = append(b, 0, 0, 0, 0, f.Arity)
	b = append(b, f.Uniq[:]...)
	b = binary.BigEndian.AppendUint32(b, f.Index)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Free)))
	b, err := appendAtom(b, f.Module)
	if err != nil {
		return b, within(err, "fun.Module")
	}
	b = appendInt(b, f.OldIndex)
	b = appendInt(b, f.OldUniq)
	if b, err = appendPid(b, f.Pid); err != nil {
		return b, within(err, "fun.")
	}
	for i, e := range f.Free {
		if b, err = appendTerm(b, e, depth+1); err != nil {
			return b, within(err, "fun.Free["+strconv.Itoa(i)+"]")
		}
	}
	size := len(b) - sizeAt
	if uint64(size) > math.MaxUint32 {
		return b, encErr("fun encoding of %d bytes is too large for ETF", size)
	}
	binary.BigEndian.PutUint32(b[sizeAt:], uint32(size))
	return b, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
