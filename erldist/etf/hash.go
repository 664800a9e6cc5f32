package etf

import (
	"hash/maphash"
	"math"
)

// Hashes consistent with Equal: equal terms hash alike. They are seeded
// per process, so input cannot be crafted to make many keys collide.

var (
	hashSeed = maphash.MakeSeed()
	seed0    = maphash.String(hashSeed, "etf")
)

const (
	kInt uint64 = iota + 1
	kBig
	kFloat
	kAtom
	kBits
	kList
	kNil
	kTail
	kTuple
	kMap
	kPair
	kPid
	kPort
	kRef
	kExport
	kFun
	kRecord
	kOther
)

func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return h
}

func hashStart(kind uint64) uint64 { return mix(seed0, kind) }

func hashInt(v int64) uint64 { return mix(hashStart(kInt), uint64(v)) }

func hashAtom(a Atom) uint64 { return mix(hashStart(kAtom), maphash.String(hashSeed, string(a))) }

func hashPair(hk, hv uint64) uint64 { return mix(mix(hashStart(kPair), hk), hv) }

func hashMapEnd(n int, sum uint64) uint64 { return mix(mix(hashStart(kMap), uint64(n)), sum) }

// hashLeaf hashes a term that contains no other terms, and the list forms
// whose elements are integers (String).
func hashLeaf(t Term) uint64 {
	if v, b, ok := asInt(t); ok {
		if b == nil {
			return hashInt(v)
		}
		h := mix(hashStart(kBig), uint64(b.Sign()))
		return mix(h, maphash.Bytes(hashSeed, b.Bytes()))
	}
	if f, ok := asFloat(t); ok {
		return mix(hashStart(kFloat), math.Float64bits(f))
	}
	if a, ok := asAtom(t); ok {
		return hashAtom(a)
	}
	if data, bits, ok := asBits(t); ok {
		h := mix(hashStart(kBits), uint64(bits))
		if bits != 8 && len(data) > 0 {
			h = mix(h, uint64(data[len(data)-1]&byte(0xFF<<(8-bits))))
			data = data[:len(data)-1]
		}
		return mix(h, maphash.Bytes(hashSeed, data))
	}
	switch v := t.(type) {
	case String:
		h := hashStart(kList)
		for i := 0; i < len(v); i++ {
			h = mix(h, hashInt(int64(v[i])))
		}
		return mix(h, kNil)
	case Pid:
		h := mix(hashStart(kPid), hashAtom(v.Node))
		return mix(mix(h, uint64(v.ID)<<32|uint64(v.Serial)), uint64(v.Creation))
	case Port:
		h := mix(hashStart(kPort), hashAtom(v.Node))
		return mix(mix(h, v.ID), uint64(v.Creation))
	case Ref:
		h := mix(mix(hashStart(kRef), hashAtom(v.Node)), uint64(v.Creation))
		h = mix(h, uint64(len(v.ID)))
		for _, w := range v.ID {
			h = mix(h, uint64(w))
		}
		return h
	case ExportFun:
		h := mix(mix(hashStart(kExport), hashAtom(v.Module)), hashAtom(v.Function))
		return mix(h, uint64(v.Arity))
	}
	return hashStart(kOther)
}

func hashFunStart(f *Fun) uint64 {
	h := mix(hashStart(kFun), uint64(f.Arity))
	h = mix(h, maphash.Bytes(hashSeed, f.Uniq[:]))
	h = mix(mix(h, uint64(f.Index)), hashAtom(f.Module))
	h = mix(mix(h, uint64(f.OldIndex)), uint64(f.OldUniq))
	return mix(mix(h, hashLeaf(f.Pid)), uint64(len(f.Free)))
}

// hashTerm hashes any term; Equal(a, b) implies hashTerm(a) == hashTerm(b).
func hashTerm(t Term, depth int) uint64 {
	if depth > maxEncodeDepth {
		return hashStart(kOther)
	}
	if isList(t) {
		if s, ok := t.(String); ok {
			return hashLeaf(s)
		}
		elems, tail, _ := flatten(t)
		h := hashStart(kList)
		for _, e := range elems {
			h = mix(h, hashTerm(e, depth+1))
		}
		if tail == nil {
			return mix(h, kNil)
		}
		return mix(mix(h, kTail), hashTerm(tail, depth+1))
	}
	switch v := t.(type) {
	case Tuple:
		h := mix(hashStart(kTuple), uint64(len(v)))
		for _, e := range v {
			h = mix(h, hashTerm(e, depth+1))
		}
		return h
	case Map:
		var sum uint64
		for _, p := range v {
			sum += hashPair(hashTerm(p.Key, depth+1), hashTerm(p.Value, depth+1))
		}
		return hashMapEnd(len(v), sum)
	case Record:
		h := hashRecordStart(&v)
		for _, f := range v.Fields {
			h = mix(h, hashTerm(f.Value, depth+1))
		}
		return h
	case Fun:
		h := hashFunStart(&v)
		for _, e := range v.Free {
			h = mix(h, hashTerm(e, depth+1))
		}
		return h
	}
	return hashLeaf(t)
}
