package memberlist

import (
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"hash/maphash"
	"io"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"
)

// memberlist's message type bytes (its net.go) that the repeat filter reads.
const (
	mlAliveMsg    = 4
	mlCompoundMsg = 7
	mlCompressMsg = 9
	mlHasCrcMsg   = 12
)

// repeatFilter drops repeated copies of memberlist alive messages from
// received UDP packets before memberlist decodes them.
//
// Every member that learns a new alive message gossips it on, up to
// RetransmitMult × ⌈log10(N+1)⌉ times (16 at 1,000 members), so each member
// receives each alive message about that many times. memberlist builds a
// new msgpack decoder for each copy, only to find it knows the news already:
// a copy whose bytes equal one already handled changes nothing, since a
// member's state moves only on a higher incarnation, and a refutation of
// this node needs different bytes too. When N members start at once, those
// copies (N² × 16 in all) are most of memberlist's work and fill its
// handler queue, which then drops news as well.
//
// The filter remembers a hash of every alive message it passes for window
// (ten gossip intervals) and drops a byte-identical copy seen within that
// time. It passes one again after the window, in case memberlist dropped the
// first from a full handler queue. Encrypted packets are opened with the
// keyring's keys, and a packet that lost parts is sealed again with the
// primary key. Compressed packets are decompressed and handed on so.
// Packets it cannot read (a foreign label, a key it does not have, a bad
// checksum, malformed) pass unchanged; memberlist judges them as before.
// Other messages are never dropped.
//
// A filter is used by one goroutine; only dropped is read by others.
type repeatFilter struct {
	label   string      // the cluster's packet label; other packets pass unread
	keyring *ml.Keyring // when set, packets are decrypted with its keys
	aeads   map[string]cipher.AEAD
	window  time.Duration
	seed    maphash.Seed
	seen    map[uint64]time.Time // hash of an alive message → when it was passed
	swept   time.Time
	// dropped counts the alive messages dropped; read by Node.RepeatsDropped.
	dropped atomic.Uint64
}

// maxRepeatEntries bounds the filter's memory: when this many distinct alive
// messages were passed within one window, further ones pass unremembered.
const maxRepeatEntries = 1 << 16

// newRepeatFilter returns a filter for packets with label, encrypted with
// keyring's keys when keyring is not nil.
func newRepeatFilter(label string, keyring *ml.Keyring, gossipInterval time.Duration) *repeatFilter {
	return &repeatFilter{
		label:   label,
		keyring: keyring,
		aeads:   map[string]cipher.AEAD{},
		window:  max(10*gossipInterval, 100*time.Millisecond),
		seed:    maphash.MakeSeed(),
		seen:    map[uint64]time.Time{},
	}
}

// filter returns the packet to hand to memberlist (buf itself, or a new
// packet without the repeated parts, whose checksum was verified and is
// left off), or false to drop buf whole.
func (f *repeatFilter) filter(buf []byte, now time.Time) ([]byte, bool) {
	body, label, err := ml.RemoveLabelHeaderFromPacket(buf)
	if err != nil || label != f.label {
		return buf, true
	}
	encrypted := f.keyring != nil
	if encrypted {
		var ok bool
		if body, ok = f.open(body); !ok {
			return buf, true
		}
	}
	out, changed, keep := f.filterPlain(body, now)
	switch {
	case !keep:
		return nil, false
	case !changed:
		return buf, true
	}
	if encrypted {
		if out = f.seal(out); out == nil {
			return buf, true
		}
	}
	if f.label != "" {
		if out, err = ml.AddLabelHeaderToPacket(out, f.label); err != nil {
			return buf, true
		}
	}
	return out, true
}

// filterPlain filters a decrypted packet without its label: it returns the
// packet to pass and whether it differs from body, or keep false to drop
// it.
func (f *repeatFilter) filterPlain(body []byte, now time.Time) (out []byte, changed, keep bool) {
	if len(body) >= 5 && body[0] == mlHasCrcMsg {
		if crc32.ChecksumIEEE(body[5:]) != binary.BigEndian.Uint32(body[1:5]) {
			return body, false, true
		}
		body = body[5:]
	}
	if len(body) == 0 {
		return body, false, true
	}
	if body[0] == mlCompressMsg {
		// Handed on decompressed (memberlist reads both forms), so that
		// memberlist does not decompress it again.
		plain, ok := decompress(body[1:])
		if !ok || len(plain) == 0 || plain[0] == mlCompressMsg {
			return body, false, true
		}
		out, _, keep := f.filterPlain(plain, now)
		return out, true, keep
	}
	f.sweep(now)
	switch body[0] {
	case mlAliveMsg:
		return body, false, !f.repeat(body, now)
	case mlCompoundMsg:
		parts, ok := splitCompound(body[1:])
		if !ok {
			return body, false, true
		}
		keep := make([]bool, len(parts))
		kept := 0
		for i, p := range parts {
			keep[i] = len(p) == 0 || p[0] != mlAliveMsg || !f.repeat(p, now)
			if keep[i] {
				kept++
			}
		}
		switch kept {
		case len(parts):
			return body, false, true
		case 0:
			return nil, false, false
		}
		return joinCompound(parts, keep, kept), true, true
	}
	return body, false, true
}

// The layout of memberlist's encrypted packets (its security.go), version
// 1: a version byte, a 12-byte nonce, then AES-GCM ciphertext and tag, with
// the packet label as additional data. Version 0 (padded, for protocol
// version 1 peers) passes unread.
const (
	encVersion   = 1
	encNonceSize = 12
	encOverhead  = 1 + encNonceSize + 16
)

// open decrypts body with the keyring's keys as memberlist does, and
// reports whether one of them opened it.
func (f *repeatFilter) open(body []byte) ([]byte, bool) {
	if len(body) < encOverhead || body[0] != encVersion {
		return nil, false
	}
	nonce, sealed := body[1:1+encNonceSize], body[1+encNonceSize:]
	for _, key := range f.keyring.GetKeys() {
		aead := f.aead(key)
		if aead == nil {
			continue
		}
		if plain, err := aead.Open(nil, nonce, sealed, []byte(f.label)); err == nil {
			return plain, true
		}
	}
	return nil, false
}

// seal encrypts plain with the keyring's primary key, or returns nil.
func (f *repeatFilter) seal(plain []byte) []byte {
	aead := f.aead(f.keyring.GetPrimaryKey())
	if aead == nil {
		return nil
	}
	out := make([]byte, 1+encNonceSize, encOverhead+len(plain))
	out[0] = encVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil
	}
	return aead.Seal(out, out[1:], plain, []byte(f.label))
}

// aead returns the AES-GCM cipher for key, built once per key.
func (f *repeatFilter) aead(key []byte) cipher.AEAD {
	if a, ok := f.aeads[string(key)]; ok {
		return a
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil
	}
	if len(f.aeads) >= 16 { // keys rotated many times: start over
		clear(f.aeads)
	}
	f.aeads[string(key)] = a
	return a
}

// repeat reports whether msg was passed within the window, and remembers it
// when it was not.
func (f *repeatFilter) repeat(msg []byte, now time.Time) bool {
	h := maphash.Bytes(f.seed, msg)
	if t, ok := f.seen[h]; ok && now.Sub(t) < f.window {
		f.dropped.Add(1)
		return true
	}
	if len(f.seen) < maxRepeatEntries {
		f.seen[h] = now
	}
	return false
}

// sweep forgets, once a window, the messages passed more than a window ago.
func (f *repeatFilter) sweep(now time.Time) {
	if now.Sub(f.swept) < f.window {
		return
	}
	f.swept = now
	for h, t := range f.seen {
		if now.Sub(t) >= f.window {
			delete(f.seen, h)
		}
	}
}

// splitCompound splits the body of a compound message (after its type
// byte): a part count, that many big-endian uint16 lengths, then the parts.
// It reports false unless the lengths account for every byte.
func splitCompound(b []byte) ([][]byte, bool) {
	if len(b) < 1 {
		return nil, false
	}
	n := int(b[0])
	b = b[1:]
	if n == 0 || len(b) < 2*n {
		return nil, false
	}
	lens, b := b[:2*n], b[2*n:]
	parts := make([][]byte, n)
	for i := range n {
		l := int(binary.BigEndian.Uint16(lens[2*i:]))
		if len(b) < l {
			return nil, false
		}
		parts[i], b = b[:l], b[l:]
	}
	return parts, len(b) == 0
}

// joinCompound builds a compound message of the kept parts.
func joinCompound(parts [][]byte, keep []bool, kept int) []byte {
	size := 2 + 2*kept
	for i, p := range parts {
		if keep[i] {
			size += len(p)
		}
	}
	out := make([]byte, 2+2*kept, size)
	out[0], out[1] = mlCompoundMsg, byte(kept)
	j := 0
	for i, p := range parts {
		if keep[i] {
			binary.BigEndian.PutUint16(out[2+2*j:], uint16(len(p)))
			out = append(out, p...)
			j++
		}
	}
	return out
}

// decompress reads the body of a compress message (after its type byte):
// memberlist's compress{Algo, Buf} struct in msgpack, Algo 0 (LZW, LSB
// order, 8-bit literals). It reports false for anything else, or for more
// than a UDP packet's worth of output; memberlist then judges the packet.
func decompress(b []byte) ([]byte, bool) {
	n, b, ok := mpMapLen(b)
	if !ok || n != 2 {
		return nil, false
	}
	algo, data := -1, []byte(nil)
	for range n {
		var key []byte
		if key, b, ok = mpRaw(b); !ok {
			return nil, false
		}
		switch string(key) {
		case "Algo":
			if len(b) == 0 || b[0] > 0x7f { // a positive fixint
				return nil, false
			}
			algo, b = int(b[0]), b[1:]
		case "Buf":
			if data, b, ok = mpRaw(b); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	if algo != 0 || data == nil || len(b) != 0 {
		return nil, false
	}
	r := lzw.NewReader(bytes.NewReader(data), lzw.LSB, 8)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxUDPPacket+1))
	if err != nil || len(out) > maxUDPPacket {
		return nil, false
	}
	return out, true
}

// mpMapLen reads a msgpack map header.
func mpMapLen(b []byte) (int, []byte, bool) {
	switch {
	case len(b) >= 1 && b[0]&0xf0 == 0x80:
		return int(b[0] & 0x0f), b[1:], true
	case len(b) >= 3 && b[0] == 0xde:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], true
	}
	return 0, nil, false
}

// mpRaw reads a msgpack str or bin value, as go-msgpack writes strings and
// byte slices.
func mpRaw(b []byte) (raw, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	var n, h int
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2:
		n, h = int(b[1]), 2
	case (c == 0xda || c == 0xc5) && len(b) >= 3:
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case (c == 0xdb || c == 0xc6) && len(b) >= 5:
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, nil, false
	}
	if len(b)-h < n {
		return nil, nil, false
	}
	return b[h : h+n], b[h+n:], true
}
