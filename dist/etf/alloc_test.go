package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"runtime"
	"testing"
)

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeAllocationBound feeds hostile inputs and checks that the bytes
// allocated stay within a small multiple of the input length.
func TestDecodeAllocationBound(t *testing.T) {
	const n = 100000
	listHead := func(k int) []byte { return binary.BigEndian.AppendUint32([]byte{tagList}, uint32(k)) }

	nils := cat([]byte{131}, listHead(n), bytes.Repeat([]byte{tagNil}, n+1))
	chain := cat([]byte{131}, bytes.Repeat(cat(listHead(1), []byte{97, 1}), n), []byte{tagNil})
	atoms := cat([]byte{131, tagLargeTuple}, be32(n), bytes.Repeat([]byte{tagSmallAtomUTF8, 0}, n))
	var keys []byte
	for i := 0; i < n; i++ {
		keys = append(keys, tagInteger)
		keys = binary.BigEndian.AppendUint32(keys, uint32(i))
		keys = append(keys, tagNil)
	}
	bigMap := cat([]byte{131, tagMap}, be32(n), keys)
	// Maps nested as keys: every level has 17 keys, one of them the next level.
	deep := []byte{tagNil}
	for i := 0; i < 400; i++ {
		lvl := cat([]byte{tagMap}, be32(17), deep, []byte{tagNil})
		for k := 0; k < 16; k++ {
			lvl = append(lvl, tagSmallInteger, byte(k), tagNil)
		}
		deep = lvl
	}
	deepKeys := cat([]byte{131}, deep)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte{tagNil})
	zw.Close()
	liar := cat([]byte{131, tagCompressed}, be32(DefaultMaxInflated), z.Bytes())
	hugeBinary := cat([]byte{131, tagBinary, 0xff, 0xff, 0xff, 0xff}, make([]byte, 1000))

	for _, c := range []struct {
		name  string
		in    []byte
		ok    bool
		ratio uint64
	}{
		{"list of nils", nils, true, 40},
		{"chained list tails", chain, true, 40},
		{"tuple of atoms", atoms, true, 40},
		{"map of integer keys", bigMap, true, 64},
		{"nested map keys", deepKeys, true, 64},
		{"compressed size lie", liar, false, 64},
		{"binary longer than input", hugeBinary, false, 4},
	} {
		var err error
		got := allocated(func() { _, _, err = DecodeNext(c.in, Limits{MaxDepth: 1000}) })
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want success %v", c.name, err, c.ok)
		}
		limit := c.ratio*uint64(len(c.in)) + 64<<10
		t.Logf("%s: %d input bytes, %d allocated (%.1fx)", c.name, len(c.in), got, float64(got)/float64(len(c.in)))
		if got > limit {
			t.Errorf("%s: %d input bytes allocated %d bytes, more than %d", c.name, len(c.in), got, limit)
		}
	}
}
