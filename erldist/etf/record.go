package etf

import (
	"encoding/binary"
	"math"
	"strconv"
)

// Record is a native record, the record type of OTP 29 (EEP 79), written
// #Module:Name{Field = Value, ...} by the shell. Unlike a tuple record it is
// its own type: it carries the module that defines it, its name, whether
// that module exports it, and its fields by name in declaration order.
//
// On the wire it is RECORD_EXT (tag 67):
//
//	67 | Arity:32 | Flags:8 | Module | Name | FieldName*Arity | Value*Arity
//
// Arity is the number of fields; bit 0 of Flags is set for an exported
// record and the other bits are zero; Module, Name and the field names are
// atoms; the values follow the names in the same order. erts 17 (OTP 29)
// rejects other flag bits and repeated field names, and so does Decode.
// Nodes before OTP 29 cannot decode a Record: send one only to a peer that
// runs OTP 29 or later.
//
// Two records are equal (see [Equal]) when module, name, the exported flag
// and the fields in order are: #m:n{a = 1, b = 2} and #m:n{b = 2, a = 1}
// differ, as they do in Erlang.
type Record struct {
	Module   Atom
	Name     Atom
	Exported bool
	Fields   []RecordField
}

// RecordField is one field of a [Record].
type RecordField struct {
	Name  Atom
	Value Term
}

// Get returns the value of the field named name, and whether the record
// has that field.
func (r Record) Get(name Atom) (Term, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// recordExported is bit 0 of RECORD_EXT's flags byte.
const recordExported = 1

// costField is the Go memory of one RecordField: an atom and a term.
const costField = 32

func (d *decoder) record(start, depth int) (Term, error) {
	const tag = tagRecord
	if err := d.need(5, tag, "the arity and flags"); err != nil {
		return nil, err
	}
	n := uint64(d.u32())
	flags := d.u8()
	if flags&^recordExported != 0 {
		return nil, d.fail(start, tag, "flags byte is %#02x; only bit 0 (exported) may be set", flags)
	}
	// Module, name, n field names and n values, each at least one byte.
	if err := d.enter(start, tag, depth, 2+2*n); err != nil {
		return nil, err
	}
	mod, err := d.atom("the record's module")
	if err != nil {
		return nil, err
	}
	name, err := d.atom("the record's name")
	if err != nil {
		return nil, err
	}
	d.tagAt = start
	large := n > 16
	cost := costPid + costBox + costField*n
	if large {
		cost += costHashed * n
	}
	if err := d.charge(start, tag, cost); err != nil {
		return nil, err
	}
	r := Record{Module: mod, Name: name, Exported: flags&recordExported != 0}
	if n > 0 {
		r.Fields = make([]RecordField, n)
	}
	var seen map[Atom]struct{}
	if large {
		seen = make(map[Atom]struct{}, n)
	}
	for i := range r.Fields {
		at := d.pos
		f, err := d.atom("field name " + strconv.Itoa(i+1) + " of record " + string(name))
		if err != nil {
			return nil, err
		}
		dup := false
		if large {
			_, dup = seen[f]
			seen[f] = struct{}{}
		} else {
			for j := 0; j < i && !dup; j++ {
				dup = r.Fields[j].Name == f
			}
		}
		if dup {
			return nil, d.fail(at, tag, "field %s of record %s appears twice; erts rejects such records", describe(f), describe(name))
		}
		r.Fields[i].Name = f
	}
	h := hashRecordStart(&r)
	for i := range r.Fields {
		v, err := d.term(depth + 1)
		if err != nil {
			return nil, err
		}
		r.Fields[i].Value = v
		h = mix(h, d.h)
	}
	d.setHash(h)
	return r, nil
}

func appendRecordTerm(b []byte, r Record, depth int) ([]byte, error) {
	if uint64(len(r.Fields)) > math.MaxUint32 {
		return b, encErr("record of %d fields is too large for ETF", len(r.Fields))
	}
	for i, f := range r.Fields {
		for j := 0; j < i; j++ {
			if r.Fields[j].Name == f.Name {
				return b, encErr("record %s has field %s twice; erts rejects such records", truncate(string(r.Name)), truncate(string(f.Name)))
			}
		}
	}
	b = append(b, tagRecord)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Fields)))
	var flags byte
	if r.Exported {
		flags = recordExported
	}
	b = append(b, flags)
	b, err := appendAtom(b, r.Module)
	if err != nil {
		return b, within(err, "record.Module")
	}
	if b, err = appendAtom(b, r.Name); err != nil {
		return b, within(err, "record.Name")
	}
	for i, f := range r.Fields {
		if b, err = appendAtom(b, f.Name); err != nil {
			return b, within(err, "record.Fields["+strconv.Itoa(i)+"].Name")
		}
	}
	for i, f := range r.Fields {
		if b, err = appendTerm(b, f.Value, depth+1); err != nil {
			return b, within(err, "record.Fields["+strconv.Itoa(i)+"].Value")
		}
	}
	return b, nil
}

func equalRecords(x, y Record, depth int) bool {
	if x.Module != y.Module || x.Name != y.Name || x.Exported != y.Exported || len(x.Fields) != len(y.Fields) {
		return false
	}
	for i := range x.Fields {
		if x.Fields[i].Name != y.Fields[i].Name || !equal(x.Fields[i].Value, y.Fields[i].Value, depth+1) {
			return false
		}
	}
	return true
}

// hashRecordStart hashes everything of a record but its values, which the
// caller mixes in in order.
func hashRecordStart(r *Record) uint64 {
	h := mix(mix(hashStart(kRecord), hashAtom(r.Module)), hashAtom(r.Name))
	var exp uint64
	if r.Exported {
		exp = 1
	}
	h = mix(mix(h, exp), uint64(len(r.Fields)))
	for _, f := range r.Fields {
		h = mix(h, hashAtom(f.Name))
	}
	return h
}
