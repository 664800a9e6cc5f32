package gossip

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libcluster-go/libcluster"
)

// Prefix starts every libcluster heartbeat before the ETF term (and, in the
// CBC format, the plaintext before padding).
const Prefix = "heartbeat::"

// MaxDatagram is the largest datagram the strategy reads. A heartbeat is
// under 400 bytes in every format; anything that fills the buffer is dropped
// as oversized.
const MaxDatagram = 2048

// ETF tags this codec understands. Only what a heartbeat holds: a map of
// atoms. Values of extra keys may also be small scalars, which are skipped.
const (
	etfVersion        = 131
	tagNewFloat       = 70
	tagSmallInteger   = 97
	tagInteger        = 98
	tagAtom           = 100
	tagNil            = 106
	tagString         = 107
	tagBinary         = 109
	tagSmallAtom      = 115
	tagMap            = 116
	tagAtomUTF8       = 118
	tagSmallAtomUTF8  = 119
	maxMapArity       = 16 // a heartbeat has 1 key; allow a few extras
	maxAtomChars      = 255
	maxSkippedPayload = 512
)

// AEAD format: magic, version, 4-byte cluster tag, 12-byte nonce, then
// AES-256-GCM(timestamp(8) || plaintext heartbeat) with its 16-byte tag.
const (
	aeadMagic    = "LCGA"
	aeadVersion  = 1
	aeadTagLen   = 4
	aeadNonceLen = 12
	aeadHeader   = len(aeadMagic) + 1 + aeadTagLen + aeadNonceLen
	aeadInfo     = "libcluster-go gossip aead v1"
	cbcIVLen     = aes.BlockSize
)

// A decodeError is why a datagram was dropped; its reason is a counter key.
type decodeError struct {
	reason DropReason
	msg    string
}

func (e *decodeError) Error() string { return string(e.reason) + ": " + e.msg }

func dropf(r DropReason, format string, args ...any) error {
	return &decodeError{reason: r, msg: fmt.Sprintf(format, args...)}
}

func reasonOf(err error) DropReason {
	var d *decodeError
	if errors.As(err, &d) {
		return d.reason
	}
	return DropMalformed
}

// EncodeHeartbeat returns the plain libcluster heartbeat for node:
// "heartbeat::" followed by term_to_binary(%{node: node}) with both atoms
// as ATOM_EXT (tag 100), byte for byte what an OTP 25 node sends and what
// every OTP release decodes.
func EncodeHeartbeat(node libcluster.Node) ([]byte, error) {
	if _, err := libcluster.ParseNode(string(node)); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(Prefix)+16+len(node))
	b = append(b, Prefix...)
	b = append(b, etfVersion, tagMap, 0, 0, 0, 1)
	b = appendAtom(b, "node")
	b = appendAtom(b, string(node))
	return b, nil
}

func appendAtom(b []byte, s string) []byte {
	// Node names are ASCII (ParseNode), so Latin-1 ATOM_EXT is exact.
	b = append(b, tagAtom)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// DecodeHeartbeat parses a plain heartbeat ("heartbeat::" + ETF map) and
// returns the node it names. It accepts every atom encoding OTP emits
// (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT, SMALL_ATOM_UTF8_EXT), extra map
// keys whose values are atoms or small scalars, and nothing else. The name
// must be a valid node name. It never panics and reads only within b.
func DecodeHeartbeat(b []byte) (libcluster.Node, error) {
	rest, ok := bytes.CutPrefix(b, []byte(Prefix))
	if !ok {
		return "", dropf(DropNotHeartbeat, "does not start with %q", Prefix)
	}
	d := termReader{b: rest}
	if v, ok := d.byte(); !ok || v != etfVersion {
		return "", dropf(DropBadTerm, "missing ETF version byte 131")
	}
	if t, ok := d.byte(); !ok || t != tagMap {
		return "", dropf(DropBadTerm, "term is not a map")
	}
	arity, ok := d.uint32()
	if !ok || arity == 0 || arity > maxMapArity {
		return "", dropf(DropBadTerm, "map arity missing or not in 1..%d", maxMapArity)
	}
	var node string
	found := false
	for range arity {
		k, err := d.atom()
		if err != nil {
			return "", dropf(DropBadTerm, "map key: %v", err)
		}
		if k == "node" {
			if found {
				return "", dropf(DropBadTerm, "key node repeated")
			}
			v, err := d.atom()
			if err != nil {
				return "", dropf(DropBadTerm, "value of node: %v", err)
			}
			node, found = v, true
			continue
		}
		if err := d.skip(); err != nil {
			return "", dropf(DropBadTerm, "value of %q: %v", k, err)
		}
	}
	if d.off != len(d.b) {
		return "", dropf(DropBadTerm, "%d bytes after the term", len(d.b)-d.off)
	}
	if !found {
		return "", dropf(DropBadTerm, "map has no node key")
	}
	n, err := libcluster.ParseNode(node)
	if err != nil {
		return "", dropf(DropBadName, "%v", err)
	}
	return n, nil
}

type termReader struct {
	b   []byte
	off int
}

func (d *termReader) take(n int) ([]byte, bool) {
	if n < 0 || n > len(d.b)-d.off {
		return nil, false
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s, true
}

func (d *termReader) byte() (byte, bool) {
	s, ok := d.take(1)
	if !ok {
		return 0, false
	}
	return s[0], true
}

func (d *termReader) uint16() (int, bool) {
	s, ok := d.take(2)
	if !ok {
		return 0, false
	}
	return int(binary.BigEndian.Uint16(s)), true
}

func (d *termReader) uint32() (uint32, bool) {
	s, ok := d.take(4)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint32(s), true
}

var errTruncated = errors.New("truncated")

func (d *termReader) atom() (string, error) {
	tag, ok := d.byte()
	if !ok {
		return "", errTruncated
	}
	var n int
	switch tag {
	case tagAtom, tagAtomUTF8:
		n, ok = d.uint16()
	case tagSmallAtom, tagSmallAtomUTF8:
		var c byte
		c, ok = d.byte()
		n = int(c)
	default:
		return "", fmt.Errorf("tag %d is not an atom", tag)
	}
	if !ok {
		return "", errTruncated
	}
	raw, ok := d.take(n)
	if !ok {
		return "", errTruncated
	}
	var s string
	if tag == tagAtom || tag == tagSmallAtom {
		s = latin1(raw)
	} else {
		if !utf8.Valid(raw) {
			return "", errors.New("UTF-8 atom is not valid UTF-8")
		}
		s = string(raw)
	}
	if utf8.RuneCountInString(s) > maxAtomChars {
		return "", fmt.Errorf("atom longer than %d characters", maxAtomChars)
	}
	return s, nil
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// skip passes over the value of a key other than node: an atom or a small
// scalar. Anything nested is refused; libcluster never sends it.
func (d *termReader) skip() error {
	if d.off >= len(d.b) {
		return errTruncated
	}
	switch tag := d.b[d.off]; tag {
	case tagAtom, tagAtomUTF8, tagSmallAtom, tagSmallAtomUTF8:
		_, err := d.atom()
		return err
	case tagSmallInteger:
		_, ok := d.take(2)
		return okOr(ok)
	case tagInteger:
		_, ok := d.take(5)
		return okOr(ok)
	case tagNewFloat:
		_, ok := d.take(9)
		return okOr(ok)
	case tagNil:
		d.off++
		return nil
	case tagString:
		d.off++
		n, ok := d.uint16()
		if !ok || n > maxSkippedPayload {
			return errors.New("string missing or too long")
		}
		_, ok = d.take(n)
		return okOr(ok)
	case tagBinary:
		d.off++
		n, ok := d.uint32()
		if !ok || n > maxSkippedPayload {
			return errors.New("binary missing or too long")
		}
		_, ok = d.take(int(n))
		return okOr(ok)
	default:
		return fmt.Errorf("unsupported tag %d", tag)
	}
}

func okOr(ok bool) error {
	if !ok {
		return errTruncated
	}
	return nil
}

// cbcKey is libcluster's key: the raw SHA-256 digest of the secret.
func cbcKey(secret []byte) [32]byte { return sha256.Sum256(secret) }

// SealCBC encrypts a plain heartbeat the way libcluster does with a secret:
// a fresh random 16-byte IV, then AES-256-CBC with key SHA-256(secret) over
// the PKCS#7-padded plaintext. There is no authentication.
func SealCBC(secret, plain []byte) ([]byte, error) {
	var iv [cbcIVLen]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return nil, err
	}
	return sealCBCWithIV(secret, iv[:], plain)
}

func sealCBCWithIV(secret, iv, plain []byte) ([]byte, error) {
	key := cbcKey(secret)
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize // 1..16
	out := make([]byte, cbcIVLen+len(plain)+pad)
	copy(out, iv)
	body := out[cbcIVLen:]
	copy(body, plain)
	for i := len(plain); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(body, body)
	return out, nil
}

// OpenCBC decrypts a libcluster CBC heartbeat and returns the plaintext,
// still carrying the "heartbeat::" prefix. Like libcluster, a padding byte
// of 0 strips nothing; unlike it, a ciphertext that is not a whole number
// of blocks is an error instead of being truncated.
func OpenCBC(secret, pkt []byte) ([]byte, error) {
	if len(pkt) < cbcIVLen+aes.BlockSize {
		return nil, dropf(DropShort, "%d bytes, shorter than IV plus one block", len(pkt))
	}
	ct := pkt[cbcIVLen:]
	if len(ct)%aes.BlockSize != 0 {
		return nil, dropf(DropDecrypt, "ciphertext of %d bytes is not a whole number of 16-byte blocks", len(ct))
	}
	key := cbcKey(secret)
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, dropf(DropDecrypt, "%v", err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(blk, pkt[:cbcIVLen]).CryptBlocks(plain, ct)
	n := int(plain[len(plain)-1])
	if n > aes.BlockSize {
		return nil, dropf(DropDecrypt, "bad padding (wrong secret?)")
	}
	var bad byte
	for _, c := range plain[len(plain)-n:] {
		bad |= c ^ byte(n)
	}
	if bad != 0 {
		return nil, dropf(DropDecrypt, "bad padding (wrong secret?)")
	}
	return plain[:len(plain)-n], nil
}

// aeadCodec is the authenticated format: AES-256-GCM with a key derived by
// HKDF-SHA256 from the secret, the cluster name bound in as associated data
// and a timestamp checked against a replay window.
type aeadCodec struct {
	gcm cipher.AEAD
	tag [aeadTagLen]byte // first bytes of SHA-256("cluster:" + name), sent in clear
	ad  []byte           // header prefix (magic, version, tag) + cluster name
}

func newAEAD(secret []byte, cluster string) (*aeadCodec, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, aeadInfo, 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	c := &aeadCodec{gcm: gcm}
	sum := sha256.Sum256([]byte("cluster:" + cluster))
	copy(c.tag[:], sum[:])
	c.ad = append(c.header(), cluster...)
	return c, nil
}

func (c *aeadCodec) header() []byte {
	h := make([]byte, 0, aeadHeader)
	h = append(h, aeadMagic...)
	h = append(h, aeadVersion)
	return append(h, c.tag[:]...)
}

// seal returns header || nonce || GCM(ts || plain).
func (c *aeadCodec) seal(plain []byte, now time.Time) ([]byte, error) {
	out := c.header()
	nonce := make([]byte, aeadNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	msg := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(plain)), uint64(now.UnixNano()))
	msg = append(msg, plain...)
	return c.gcm.Seal(out, nonce, msg, c.ad), nil
}

// open authenticates pkt and returns its timestamp, nonce and plaintext.
func (c *aeadCodec) open(pkt []byte) (ts time.Time, nonce string, plain []byte, err error) {
	if !isAEAD(pkt) {
		return ts, "", nil, dropf(DropFormat, "not an authenticated (aead) heartbeat")
	}
	if len(pkt) < aeadHeader+c.gcm.Overhead()+8 {
		return ts, "", nil, dropf(DropShort, "%d bytes, too short for an aead heartbeat", len(pkt))
	}
	if pkt[len(aeadMagic)] != aeadVersion {
		return ts, "", nil, dropf(DropFormat, "aead version %d, want %d", pkt[len(aeadMagic)], aeadVersion)
	}
	tag := pkt[len(aeadMagic)+1 : len(aeadMagic)+1+aeadTagLen]
	if subtle.ConstantTimeCompare(tag, c.tag[:]) != 1 {
		return ts, "", nil, dropf(DropOtherCluster, "heartbeat of another cluster name")
	}
	n := pkt[aeadHeader-aeadNonceLen : aeadHeader]
	msg, err := c.gcm.Open(nil, n, pkt[aeadHeader:], c.ad)
	if err != nil {
		return ts, "", nil, dropf(DropAuth, "authentication failed (forged, corrupted or wrong secret)")
	}
	ts = time.Unix(0, int64(binary.BigEndian.Uint64(msg[:8])))
	return ts, string(n), msg[8:], nil
}

func isAEAD(pkt []byte) bool { return bytes.HasPrefix(pkt, []byte(aeadMagic)) }
