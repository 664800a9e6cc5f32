package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
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
		limit := c.ratio*uint64(len(c.in)) + 128<<10 // the slack covers zlib's state, bigger under -race
		t.Logf("%s: %d input bytes, %d allocated (%.1fx)", c.name, len(c.in), got, float64(got)/float64(len(c.in)))
		if got > limit {
			t.Errorf("%s: %d input bytes allocated %d bytes, more than %d", c.name, len(c.in), got, limit)
		}
	}
}

// nilList is the uncompressed encoding (without the version byte) of a list
// of n empty lists, written to w in chunks.
func nilList(w interface{ Write([]byte) (int, error) }, n int) {
	w.Write(binary.BigEndian.AppendUint32([]byte{tagList}, uint32(n)))
	chunk := bytes.Repeat([]byte{tagNil}, 1<<20)
	for left := n + 1; left > 0; left -= len(chunk) {
		w.Write(chunk[:min(left, len(chunk))])
	}
}

// compressedNilList is a compressed term holding a list of n empty lists.
func compressedNilList(n int) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	nilList(zw, n)
	zw.Close()
	return cat([]byte{131, tagCompressed}, be32(uint32(n+6)), z.Bytes())
}

// TestDecodeAmplification decodes the terms of the decoding-amplification
// attack with the distribution's 128 MiB MaxSize: each must fail with
// ErrLimit, allocating little. Before the allocation budget and the
// separate inflate limit, the 130 KB compressed term allocated 2.3 GB.
func TestDecodeAmplification(t *testing.T) {
	var plain bytes.Buffer
	plain.WriteByte(131)
	nilList(&plain, 16<<20)
	for _, c := range []struct {
		name string
		in   []byte
		max  uint64
	}{
		{"16 MiB list of []", plain.Bytes(), 1 << 20},
		{"compressed list of 16 Mi []", compressedNilList(16<<20 - 16), 20 << 20},
		{"compressed list of 128 Mi []", compressedNilList(128 << 20), 1 << 20},
	} {
		var err error
		got := allocated(func() { _, _, err = DecodeNext(c.in, Limits{MaxSize: 128 << 20}) })
		t.Logf("%s: %d input bytes, %d allocated, err %v", c.name, len(c.in), got, err)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%s: err = %v, want ErrLimit", c.name, err)
		}
		if got > c.max {
			t.Errorf("%s: allocated %d bytes, more than %d", c.name, got, c.max)
		}
	}
}

// TestMaxAlloc checks that an explicit budget is honoured both ways.
func TestMaxAlloc(t *testing.T) {
	tuple := cat([]byte{131, tagLargeTuple}, be32(1000), bytes.Repeat([]byte{tagNil}, 1000))
	if _, _, err := DecodeNext(tuple, Limits{MaxAlloc: 16 * 1000}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxAlloc") {
		t.Errorf("tuple of 1000 over a 16000-byte budget: %v", err)
	}
	if _, _, err := DecodeNext(tuple, Limits{MaxAlloc: 17 * 1000}); err != nil {
		t.Errorf("tuple of 1000 within a 17000-byte budget: %v", err)
	}
	if _, _, err := DecodeNext(compressedNilList(1000), Limits{MaxInflated: 500}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxInflated") {
		t.Errorf("1006 inflated bytes over MaxInflated 500: %v", err)
	}
}
