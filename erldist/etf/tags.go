package etf

// ETF tags.
const (
	tagRecord         = 67
	tagNewFloat       = 70
	tagBitBinary      = 77
	tagCompressed     = 80
	tagAtomCacheRef   = 82
	tagLocal          = 121
	tagNewPid         = 88
	tagNewPort        = 89
	tagNewerReference = 90
	tagSmallInteger   = 97
	tagInteger        = 98
	tagFloat          = 99
	tagAtom           = 100
	tagReference      = 101
	tagPort           = 102
	tagPid            = 103
	tagSmallTuple     = 104
	tagLargeTuple     = 105
	tagNil            = 106
	tagString         = 107
	tagList           = 108
	tagBinary         = 109
	tagSmallBig       = 110
	tagLargeBig       = 111
	tagNewFun         = 112
	tagExport         = 113
	tagNewReference   = 114
	tagSmallAtom      = 115
	tagMap            = 116
	tagFun            = 117
	tagAtomUTF8       = 118
	tagSmallAtomUTF8  = 119
	tagV4Port         = 120
)

var tagNames = map[byte]string{
	tagRecord:         "RECORD_EXT",
	tagNewFloat:       "NEW_FLOAT_EXT",
	tagBitBinary:      "BIT_BINARY_EXT",
	tagCompressed:     "COMPRESSED",
	tagAtomCacheRef:   "ATOM_CACHE_REF",
	tagLocal:          "LOCAL_EXT",
	tagNewPid:         "NEW_PID_EXT",
	tagNewPort:        "NEW_PORT_EXT",
	tagNewerReference: "NEWER_REFERENCE_EXT",
	tagSmallInteger:   "SMALL_INTEGER_EXT",
	tagInteger:        "INTEGER_EXT",
	tagFloat:          "FLOAT_EXT",
	tagAtom:           "ATOM_EXT",
	tagReference:      "REFERENCE_EXT",
	tagPort:           "PORT_EXT",
	tagPid:            "PID_EXT",
	tagSmallTuple:     "SMALL_TUPLE_EXT",
	tagLargeTuple:     "LARGE_TUPLE_EXT",
	tagNil:            "NIL_EXT",
	tagString:         "STRING_EXT",
	tagList:           "LIST_EXT",
	tagBinary:         "BINARY_EXT",
	tagSmallBig:       "SMALL_BIG_EXT",
	tagLargeBig:       "LARGE_BIG_EXT",
	tagNewFun:         "NEW_FUN_EXT",
	tagExport:         "EXPORT_EXT",
	tagNewReference:   "NEW_REFERENCE_EXT",
	tagSmallAtom:      "SMALL_ATOM_EXT",
	tagMap:            "MAP_EXT",
	tagFun:            "FUN_EXT",
	tagAtomUTF8:       "ATOM_UTF8_EXT",
	tagSmallAtomUTF8:  "SMALL_ATOM_UTF8_EXT",
	tagV4Port:         "V4_PORT_EXT",
	Version:           "version byte",
}

func tagName(tag byte) string {
	if n, ok := tagNames[tag]; ok {
		return n
	}
	return "unknown tag"
}
