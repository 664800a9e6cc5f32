package etf

import (
	"bytes"
	"math"
	"math/big"
	"slices"
)

// asInt returns an integer term as int64 (small) or *big.Int (large).
func asInt(t Term) (small int64, large *big.Int, ok bool) {
	switch v := t.(type) {
	case int:
		return int64(v), nil, true
	case int8:
		return int64(v), nil, true
	case int16:
		return int64(v), nil, true
	case int32:
		return int64(v), nil, true
	case int64:
		return v, nil, true
	case uint:
		return asUint(uint64(v))
	case uint8:
		return int64(v), nil, true
	case uint16:
		return int64(v), nil, true
	case uint32:
		return int64(v), nil, true
	case uint64:
		return asUint(v)
	case uintptr:
		return asUint(uint64(v))
	case *big.Int:
		if v == nil {
			return 0, nil, false
		}
		if v.IsInt64() {
			return v.Int64(), nil, true
		}
		return 0, v, true
	}
	return 0, nil, false
}

func asUint(v uint64) (int64, *big.Int, bool) {
	if v <= math.MaxInt64 {
		return int64(v), nil, true
	}
	return 0, new(big.Int).SetUint64(v), true
}

func asFloat(t Term) (float64, bool) {
	switch v := t.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	return 0, false
}

func asAtom(t Term) (Atom, bool) {
	switch v := t.(type) {
	case Atom:
		return v, true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// asBits returns a bitstring term as its bytes and the bits used in the
// last byte (8 for a binary).
func asBits(t Term) (data []byte, bits uint8, ok bool) {
	switch v := t.(type) {
	case Binary:
		return v, 8, true
	case []byte:
		return v, 8, true
	case BitBinary:
		if len(v.Data) == 0 || v.Bits == 8 {
			return v.Data, 8, true
		}
		return v.Data, v.Bits, true
	}
	return nil, 0, false
}

// flatten returns a list term's elements and its non-list tail (nil for a
// proper list).
func flatten(t Term) (elems []Term, tail Term, ok bool) {
	for {
		switch v := t.(type) {
		case nil:
			return elems, nil, true
		case List:
			if elems == nil {
				elems = v
			} else {
				elems = append(slices.Clip(elems), v...)
			}
			return elems, nil, true
		case []any:
			return flatten(List(v))
		case String:
			out := make([]Term, len(elems), len(elems)+len(v))
			copy(out, elems)
			for i := 0; i < len(v); i++ {
				out = append(out, int64(v[i]))
			}
			return out, nil, true
		case ImproperList:
			elems = append(slices.Clip(elems), v.Elems...)
			t = v.Tail
		default:
			return elems, t, elems != nil
		}
	}
}

func isList(t Term) bool {
	switch t.(type) {
	case nil, List, []any, String, ImproperList:
		return true
	}
	return false
}

func equal(a, b Term, depth int) bool {
	if depth > maxEncodeDepth {
		return false
	}
	if x, bx, ok := asInt(a); ok {
		y, by, ok := asInt(b)
		if !ok {
			return false
		}
		if bx == nil && by == nil {
			return x == y
		}
		return bx != nil && by != nil && bx.Cmp(by) == 0
	}
	if x, ok := asFloat(a); ok {
		y, ok := asFloat(b)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	if x, ok := asAtom(a); ok {
		y, ok := asAtom(b)
		return ok && x == y
	}
	if xd, xb, ok := asBits(a); ok {
		yd, yb, ok := asBits(b)
		if !ok || xb != yb || len(xd) != len(yd) {
			return false
		}
		if xb == 8 || len(xd) == 0 {
			return bytes.Equal(xd, yd)
		}
		n := len(xd) - 1
		mask := byte(0xFF << (8 - xb))
		return bytes.Equal(xd[:n], yd[:n]) && xd[n]&mask == yd[n]&mask
	}
	if isList(a) {
		if !isList(b) {
			return false
		}
		xe, xt, _ := flatten(a)
		ye, yt, _ := flatten(b)
		if len(xe) != len(ye) {
			return false
		}
		for i := range xe {
			if !equal(xe[i], ye[i], depth+1) {
				return false
			}
		}
		if xt == nil || yt == nil {
			return xt == nil && yt == nil
		}
		return equal(xt, yt, depth+1)
	}
	switch x := a.(type) {
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSlices(x, y, depth)
	case Map:
		y, ok := b.(Map)
		return ok && equalMaps(x, y, depth)
	case Pid:
		y, ok := b.(Pid)
		return ok && x == y
	case Port:
		y, ok := b.(Port)
		return ok && x == y
	case Ref:
		y, ok := b.(Ref)
		return ok && x.Node == y.Node && x.Creation == y.Creation && slices.Equal(x.ID, y.ID)
	case ExportFun:
		y, ok := b.(ExportFun)
		return ok && x == y
	case Record:
		y, ok := b.(Record)
		return ok && equalRecords(x, y, depth)
	case Fun:
		y, ok := b.(Fun)
		return ok && x.Arity == y.Arity && x.Uniq == y.Uniq && x.Index == y.Index &&
			x.Module == y.Module && x.OldIndex == y.OldIndex && x.OldUniq == y.OldUniq &&
			x.Pid == y.Pid && equalSlices(x.Free, y.Free, depth)
	}
	return false
}

func equalSlices(x, y []Term, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !equal(x[i], y[i], depth+1) {
			return false
		}
	}
	return true
}

func equalMaps(x, y Map, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) <= 16 {
		used := make([]bool, len(y))
	next:
		for _, p := range x {
			for j, q := range y {
				if !used[j] && equal(p.Key, q.Key, depth+1) {
					if !equal(p.Value, q.Value, depth+1) {
						return false
					}
					used[j] = true
					continue next
				}
			}
			return false
		}
		return true
	}
	idx := make(map[uint64][]int, len(y))
	for j, q := range y {
		h := hashTerm(q.Key, depth+1)
		idx[h] = append(idx[h], j)
	}
	for _, p := range x {
		found := false
		for _, j := range idx[hashTerm(p.Key, depth+1)] {
			if equal(p.Key, y[j].Key, depth+1) {
				if !equal(p.Value, y[j].Value, depth+1) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
