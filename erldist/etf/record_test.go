package etf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// recordTerms are native records for round trips, in several shapes.
func recordTerms() []Term {
	many := Record{Module: "m", Name: "wide"}
	for i := range 40 {
		many.Fields = append(many.Fields, RecordField{Name: Atom(fmt.Sprintf("f%d", i)), Value: i})
	}
	point := Record{Module: "geo", Name: "point", Exported: true, Fields: []RecordField{{"x", 1}, {"y", Binary("two")}}}
	return []Term{
		Record{Module: "m", Name: "empty"},
		point,
		Record{Module: "m", Name: "nested", Fields: []RecordField{
			{"inner", point},
			{"list", List{point, Record{Module: "m", Name: "empty"}}},
			{"map", Map{{Key: point, Value: Atom("as_key")}}},
		}},
		Record{Module: "módulo", Name: "日本", Fields: []RecordField{{"ü", Atom("ok")}}},
		many,
	}
}

// TestRecordGolden decodes the bytes OTP 29's term_to_binary writes for
// #nr:point{x = 1, y = <<"two">>} of a module that does not export it,
// and encodes the result back to the same bytes.
func TestRecordGolden(t *testing.T) {
	in := []byte{131, 67, 0, 0, 0, 2, 0, 119, 2, 'n', 'r', 119, 5, 'p', 'o', 'i', 'n', 't',
		119, 1, 'x', 119, 1, 'y', 97, 1, 109, 0, 0, 0, 3, 't', 'w', 'o'}
	got, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Module: "nr", Name: "point", Fields: []RecordField{{"x", 1}, {"y", Binary("two")}}}
	if !Equal(got, want) {
		t.Fatalf("decoded %#v, want %#v", got, want)
	}
	r := got.(Record)
	if v, ok := r.Get("y"); !ok || !Equal(v, Binary("two")) {
		t.Errorf("Get(y) = %v, %v", v, ok)
	}
	if _, ok := r.Get("z"); ok {
		t.Error("Get(z) found a field the record does not have")
	}
	out, err := Encode(got)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-encoded as % x (%v), want % x", out, err, in)
	}
	exported, _ := Encode(Record{Module: "nr", Name: "point", Exported: true})
	if want := []byte{131, 67, 0, 0, 0, 0, 1, 119, 2, 'n', 'r', 119, 5, 'p', 'o', 'i', 'n', 't'}; !bytes.Equal(exported, want) {
		t.Errorf("exported empty record encoded as % x, want % x", exported, want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, term := range recordTerms() {
		enc, err := Encode(term)
		if err != nil {
			t.Fatalf("Encode(%v): %v", term, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%v)): %v", term, err)
		}
		if !Equal(got, term) {
			t.Errorf("round trip of %v gave %v", term, got)
		}
		if again, err := Encode(got); err != nil || !bytes.Equal(again, enc) {
			t.Errorf("re-encoding %v is not byte-identical (%v)", term, err)
		}
		for i := 0; i < len(enc); i++ {
			if _, err := Decode(enc[:i]); err == nil {
				t.Fatalf("prefix %d of % x decoded without error", i, enc)
			}
		}
	}
}

func TestRecordEqual(t *testing.T) {
	ab := Record{Module: "m", Name: "n", Fields: []RecordField{{"a", 1}, {"b", 2}}}
	cases := []struct {
		name string
		x    Record
		eq   bool
	}{
		{"same", Record{Module: "m", Name: "n", Fields: []RecordField{{"a", int64(1)}, {"b", uint8(2)}}}, true},
		{"field order", Record{Module: "m", Name: "n", Fields: []RecordField{{"b", 2}, {"a", 1}}}, false},
		{"exported", Record{Module: "m", Name: "n", Exported: true, Fields: ab.Fields}, false},
		{"module", Record{Module: "o", Name: "n", Fields: ab.Fields}, false},
		{"name", Record{Module: "m", Name: "o", Fields: ab.Fields}, false},
		{"float value", Record{Module: "m", Name: "n", Fields: []RecordField{{"a", 1.0}, {"b", 2}}}, false},
		{"fewer fields", Record{Module: "m", Name: "n", Fields: ab.Fields[:1]}, false},
	}
	for _, c := range cases {
		if got := Equal(ab, c.x); got != c.eq {
			t.Errorf("%s: Equal = %v, want %v", c.name, got, c.eq)
		}
		if c.eq && hashTerm(ab, 0) != hashTerm(c.x, 0) {
			t.Errorf("%s: equal records hash differently", c.name)
		}
	}
	if Equal(ab, Tuple{Atom("n"), 1, 2}) || Equal(Tuple{Atom("n"), 1, 2}, ab) {
		t.Error("a record equals a tuple")
	}
}

// TestRecordMapKeys decodes large maps keyed by records: keys that differ
// only in a field value are distinct, a repeated record key is rejected.
func TestRecordMapKeys(t *testing.T) {
	var m Map
	for i := range 20 {
		m = append(m, Pair{Key: Record{Module: "m", Name: "k", Fields: []RecordField{{"i", i}}}, Value: i})
	}
	enc, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil || !Equal(got, m) {
		t.Fatalf("decoded %v (%v)", got, err)
	}
	m[19].Key = m[3].Key
	enc, _ = Encode(m)
	if _, err := Decode(enc); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("repeated record key: err %v", err)
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	head := func(n uint32, flags byte) []byte { return cat([]byte{131, tagRecord}, be32(n), []byte{flags}) }
	mn := cat(atomBytes("m"), atomBytes("n"))
	var wide []byte
	for i := range 17 {
		wide = append(wide, atomBytes(fmt.Sprintf("f%d", i%16))...)
	}
	cases := []struct {
		name  string
		in    []byte
		want  string
		limit bool
		lim   Limits
	}{
		{"flags 2", cat(head(0, 2), mn), "only bit 0", false, Limits{}},
		{"flags 255", cat(head(0, 255), mn), "only bit 0", false, Limits{}},
		{"duplicate field", cat(head(2, 0), mn, atomBytes("a"), atomBytes("a"), []byte{97, 1, 97, 2}), "field a of record n appears twice", false, Limits{}},
		{"duplicate field, many", cat(head(17, 0), mn, wide, bytes.Repeat([]byte{106}, 17)), "field f0 of record n appears twice", false, Limits{}},
		{"field name not atom", cat(head(1, 0), mn, []byte{97, 1, 97, 2}), "field name 1 of record n must be an atom", false, Limits{}},
		{"module not atom", cat(head(0, 0), []byte{97, 1}, atomBytes("n")), "the record's module must be an atom", false, Limits{}},
		{"name not atom", cat(head(0, 0), atomBytes("m"), []byte{106}), "the record's name must be an atom", false, Limits{}},
		{"no flags", cat([]byte{131, tagRecord}, be32(0)), "RECORD_EXT (tag 67) at offset 1", false, Limits{}},
		{"arity beyond input", cat(head(0xffffffff, 0), mn), "RECORD_EXT", false, Limits{}},
		{"missing value", cat(head(1, 0), mn, atomBytes("a")), "truncated", false, Limits{}},
		{"depth", cat([]byte{131}, bytes.Repeat(cat([]byte{tagRecord}, be32(1), []byte{0}, mn, atomBytes("a")), 10), []byte{106}), "MaxDepth", true, Limits{MaxDepth: 5}},
		{"budget", cat(head(1000, 0), mn, bytes.Repeat(atomBytes(""), 1000), bytes.Repeat([]byte{106}, 1000)), "MaxAlloc", true, Limits{MaxAlloc: 4096}},
		{"atom limit", cat(head(0, 0), atomBytes("module"), atomBytes("n")), "MaxAtomLen", true, Limits{MaxAtomLen: 3}},
	}
	for _, c := range cases {
		_, _, err := DecodeNext(c.in, c.lim)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %T is not a *DecodeError", c.name, err)
		}
		if errors.Is(err, ErrLimit) != c.limit {
			t.Errorf("%s: errors.Is(err, ErrLimit) = %v, want %v (%v)", c.name, !c.limit, c.limit, err)
		}
	}
}

func TestRecordEncodeErrors(t *testing.T) {
	cases := []struct {
		name string
		in   Term
		want string
	}{
		{"duplicate field", Record{Module: "m", Name: "n", Fields: []RecordField{{"a", 1}, {"a", 2}}}, "field a twice"},
		{"bad module", Record{Module: Atom("\xff"), Name: "n"}, "record.Module: atom"},
		{"bad name", Record{Module: "m", Name: Atom(strings.Repeat("n", 256))}, "record.Name: atom"},
		{"bad field name", Record{Module: "m", Name: "n", Fields: []RecordField{{"a", 1}, {Atom("\xff"), 2}}}, "record.Fields[1].Name"},
		{"bad value", Tuple{Record{Module: "m", Name: "n", Fields: []RecordField{{"a", "plain"}}}}, "tuple[0]record.Fields[0].Value: plain Go string"},
	}
	for _, c := range cases {
		out, err := AppendTerm([]byte("prefix"), c.in)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if string(out) != "prefix" {
			t.Errorf("%s: AppendTerm returned %q after an error", c.name, out)
		}
	}
}

// erlRecordTerms, run with the step "make", has erl write native records
// (made by records:create/4: exported and not, empty, nested, wide, with
// Unicode atoms, plain and compressed) as <<NameLen:16, Name, Len:32, Bin>>
// entries. Run with "check", it reads Go's re-encodings and Go-made
// records, prints "ok Name" for every =:= round trip and writes its own
// encoding of each Go record back.
const erlRecordTerms = `
[Dir, Step] = init:get_plain_arguments(),
P1 = fun P(<<L:16, N:L/binary, A:32, X:A/binary, R/binary>>) -> [{N, X} | P(R)]; P(<<>>) -> [] end,
P2 = fun P(<<L:16, N:L/binary, A:32, X:A/binary, B:32, Y:B/binary, R/binary>>) -> [{N, X, Y} | P(R)]; P(<<>>) -> [] end,
Rec = fun(B) -> [[<<(byte_size(N)):16>>, N, <<(byte_size(X)):32>>, X] || {N, X} <- B] end,
case Step of
 "make" ->
  Point = records:create(nr, point, [{x, 1}, {y, <<"two">>}], #{is_exported => true}),
  Local = records:create(nr, local, [{a, [1, 2]}], #{is_exported => false}),
  Wide = records:create(m, wide, [{list_to_atom("f" ++ integer_to_list(I)), I} || I <- lists:seq(1, 300)], #{is_exported => false}),
  Terms = [{<<"point">>, Point}, {<<"local">>, Local}, {<<"empty">>, records:create(m, empty, [], #{is_exported => false})},
    {<<"nested">>, {Point, [Local], #{Point => Local}}}, {<<"wide">>, Wide},
    {<<"unicode">>, records:create('m\x{f3}d', '\x{65e5}', [{'\x{fc}', ok}], #{is_exported => true})}],
  Bins = [{N, term_to_binary(T, O)} || {N0, T} <- Terms, {S, O} <- [{"", []}, {"/compressed", [compressed]}],
          N <- [<<N0/binary, (list_to_binary(S))/binary>>]],
  ok = file:write_file(filename:join(Dir, "erl.bin"), Rec(Bins));
 "check" ->
  {ok, Pairs} = file:read_file(filename:join(Dir, "go.bin")),
  {ok, Native} = file:read_file(filename:join(Dir, "native.bin")),
  lists:foreach(fun({N, X, Y}) ->
    T1 = binary_to_term(X),
    case catch binary_to_term(Y) of
      T2 when T1 =:= T2 -> io:format("ok ~s~n", [N]);
      Other -> io:format("FAIL ~s: erl ~w, go ~w~n", [N, T1, Other])
    end end, P2(Pairs)),
  Back = [case catch binary_to_term(X) of
            {'EXIT', R} -> io:format("FAIL ~s: binary_to_term: ~p~n", [N, R]), {N, <<>>};
            T -> io:format("decoded ~s~n", [N]), {N, term_to_binary(T)}
          end || {N, X} <- P1(Native)],
  ok = file:write_file(filename:join(Dir, "back.bin"), Rec(Back))
end,
halt().
`

// TestRecordErlInterop has OTP 29's erl write native records, decodes and
// re-encodes them, and has erl check =:=; then erl decodes native records
// made in Go and writes them back. Erlang/OTP before 29 has no native
// records, so the test skips there.
func TestRecordErlInterop(t *testing.T) {
	erltest.Erl(t)
	if rel := erltest.Release(t); rel < 29 {
		t.Skipf("erl is OTP %d; native records (RECORD_EXT) need OTP 29 or later", rel)
	}
	dir := t.TempDir()
	run := func(step string) string {
		return erltest.RunErl(t, "", "-noshell", "-noinput", "-eval", erlRecordTerms, "-extra", dir, step)
	}
	run("make")
	data, err := os.ReadFile(filepath.Join(dir, "erl.bin"))
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data, false)
	if len(recs) != 12 {
		t.Fatalf("erl wrote %d records, want 12", len(recs))
	}
	var pairs []byte
	byName := map[string]Term{}
	for _, r := range recs {
		term, err := Decode(r.a)
		if err != nil {
			t.Errorf("%s: decode of erl's % x: %v", r.name, head(r.a), err)
			continue
		}
		byName[r.name] = term
		enc, err := Encode(term)
		if err != nil {
			t.Errorf("%s: re-encode: %v", r.name, err)
			continue
		}
		pairs = appendRecord(pairs, r.name, r.a, enc)
	}
	want := Record{Module: "nr", Name: "point", Exported: true, Fields: []RecordField{{"x", 1}, {"y", Binary("two")}}}
	for _, name := range []string{"point", "point/compressed"} {
		if !Equal(byName[name], want) {
			t.Errorf("%s decoded as %#v, want %#v", name, byName[name], want)
		}
	}
	if w, ok := byName["wide"].(Record); !ok || len(w.Fields) != 300 || w.Fields[299].Name != "f300" || !Equal(w.Fields[299].Value, 300) {
		t.Errorf("wide record decoded as %v", byName["wide"])
	}
	if u, ok := byName["unicode"].(Record); !ok || u.Module != "mód" || u.Name != "日" || u.Fields[0].Name != "ü" {
		t.Errorf("unicode record decoded as %#v", byName["unicode"])
	}

	native := recordTerms()
	var nat []byte
	for i, term := range native {
		enc, err := Encode(term)
		if err != nil {
			t.Fatal(err)
		}
		nat = appendRecord(nat, fmt.Sprintf("go%d", i), enc)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.bin"), pairs, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "native.bin"), nat, 0o600); err != nil {
		t.Fatal(err)
	}
	out := run("check")
	oks, decoded := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			oks++
		case strings.HasPrefix(line, "decoded "):
			decoded++
			t.Log("erl: " + line)
		default:
			t.Errorf("erl: %s", line)
		}
	}
	t.Logf("erl: %d of %d erl records =:= after a Go round trip; %d of %d Go records accepted by binary_to_term", oks, len(recs), decoded, len(native))
	if oks != len(recs) || decoded != len(native) {
		t.Fatalf("erl checked %d/%d round trips and decoded %d/%d Go records", oks, len(recs), decoded, len(native))
	}
	data, err = os.ReadFile(filepath.Join(dir, "back.bin"))
	if err != nil {
		t.Fatal(err)
	}
	back := readRecords(t, data, false)
	for i, r := range back {
		got, err := Decode(r.a)
		if err != nil {
			t.Errorf("%s: decode of erl's re-encoding: %v", r.name, err)
			continue
		}
		if !Equal(got, native[i]) {
			t.Errorf("%s: erl turned %v into %v", r.name, native[i], got)
		}
	}
}
