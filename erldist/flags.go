package erldist

import (
	"fmt"
	"strings"
)

// Distribution capability flags (DFLAG_*) exchanged in the handshake.
const (
	flagPublished          uint64 = 0x1
	flagAtomCache          uint64 = 0x2
	flagExtendedReferences uint64 = 0x4
	flagDistMonitor        uint64 = 0x8
	flagFunTags            uint64 = 0x10
	flagDistMonitorName    uint64 = 0x20
	flagHiddenAtomCache    uint64 = 0x40
	flagNewFunTags         uint64 = 0x80
	flagExtendedPidsPorts  uint64 = 0x100
	flagExportPtrTag       uint64 = 0x200
	flagBitBinaries        uint64 = 0x400
	flagNewFloats          uint64 = 0x800
	flagUnicodeIO          uint64 = 0x1000
	flagDistHdrAtomCache   uint64 = 0x2000
	flagSmallAtomTags      uint64 = 0x4000
	flagUTF8Atoms          uint64 = 0x10000
	flagMapTag             uint64 = 0x20000
	flagBigCreation        uint64 = 0x40000
	flagSendSender         uint64 = 0x80000
	flagBigSeqtraceLabels  uint64 = 0x100000
	flagExitPayload        uint64 = 0x400000
	flagFragments          uint64 = 0x800000
	flagHandshake23        uint64 = 0x1000000
	flagUnlinkID           uint64 = 0x2000000
	flagMandatory25Digest  uint64 = 0x4000000
	flagSpawn              uint64 = 1 << 32
	flagNameMe             uint64 = 1 << 33
	flagV4NC               uint64 = 1 << 34
	flagAlias              uint64 = 1 << 35
	flagAltactSig          uint64 = 1 << 37
)

// mandatory25 is the set OTP 25 requires; the digest bit stands for it.
const mandatory25 = flagExtendedReferences | flagFunTags | flagExtendedPidsPorts |
	flagUTF8Atoms | flagNewFunTags | flagBigCreation | flagNewFloats | flagMapTag |
	flagExportPtrTag | flagBitBinaries | flagHandshake23

// mandatory is what this node requires from a peer: the OTP 26–28 set.
const mandatory = mandatory25 | flagV4NC | flagUnlinkID

// ourFlags is what this node offers (hidden): every mandatory bit, the
// digest bit, the monitor flags (monitors by OTP processes on names that do
// not exist here fail fast with noproc), SPAWN (erpc and rpc calls into
// Go), ALIAS (gen_server replies to aliases) and EXIT_PAYLOAD (exit
// reasons arrive as a payload, so one that cannot be decoded costs that
// reason, not the connection). No atom cache, no fragments, no
// SEND_SENDER/ALTACT: the node only ever receives what it can handle, and
// sends only classic forms every OTP release accepts.
const ourFlags = mandatory | flagMandatory25Digest | flagDistMonitor | flagDistMonitorName | flagSpawn | flagAlias | flagExitPayload

// expandFlags replaces the digest bit with the flags it stands for.
func expandFlags(f uint64) uint64 {
	if f&flagMandatory25Digest != 0 {
		f |= mandatory25
	}
	return f
}

var flagNames = []struct {
	bit  uint64
	name string
}{
	{flagExtendedReferences, "EXTENDED_REFERENCES"},
	{flagFunTags, "FUN_TAGS"},
	{flagNewFunTags, "NEW_FUN_TAGS"},
	{flagExtendedPidsPorts, "EXTENDED_PIDS_PORTS"},
	{flagExportPtrTag, "EXPORT_PTR_TAG"},
	{flagBitBinaries, "BIT_BINARIES"},
	{flagNewFloats, "NEW_FLOATS"},
	{flagUTF8Atoms, "UTF8_ATOMS"},
	{flagMapTag, "MAP_TAG"},
	{flagBigCreation, "BIG_CREATION"},
	{flagHandshake23, "HANDSHAKE_23"},
	{flagUnlinkID, "UNLINK_ID"},
	{flagV4NC, "V4_NC"},
}

// missingFlags names the mandatory flags absent from f (already expanded).
func missingFlags(f uint64) string {
	var miss []string
	for _, fn := range flagNames {
		if f&fn.bit == 0 {
			miss = append(miss, fn.name)
		}
	}
	return strings.Join(miss, ", ")
}

func checkMandatory(peer string, f uint64) error {
	if f&mandatory != mandatory {
		return fmt.Errorf("dist: peer %s cannot handle mandatory distribution flags [%s]; use OTP 26 or later (or OTP 25 with all its features)", peer, missingFlags(f))
	}
	return nil
}
