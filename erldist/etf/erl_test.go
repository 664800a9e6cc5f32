package etf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// erlMakeTerms has erl write term_to_binary of many terms, each in four
// flavours (default, UTF-8 atoms, minor version 0 with FLOAT_EXT, and
// compressed), as records <<NameLen:16, Name, Len:32, Bin>>.
const erlMakeTerms = `
[Dir] = init:get_plain_arguments(),
Big = 1 bsl 200,
Terms = [
 {"map", #{node => 'a@127.0.0.1', <<"k">> => [1,2], 3 => {x}}},
 {"heartbeat", #{node => 'myapp@10.0.0.1'}},
 {"binary", <<"hello">>},
 {"empty_binary", <<>>},
 {"bitstring", <<5:3>>},
 {"bitstring_long", <<"abcdef", 1:7>>},
 {"bignum", Big},
 {"neg_bignum", -Big},
 {"huge", 1 bsl 3000},
 {"int64max", 16#7fffffffffffffff},
 {"int64min", -16#8000000000000000},
 {"u64max", 16#ffffffffffffffff},
 {"ints", [0, 255, 256, -1, 2147483647, -2147483648, 2147483648, -2147483649]},
 {"floats", [0.0, -0.0, 1.5, -3.25e-300, 1.7976931348623157e308, 5.0e-324, 0.1]},
 {"nested", [[1, [2, [3, []]]], {[], {}}, [[[]]]]},
 {"improper", [a, b | c]},
 {"alias_tag", [alias | make_ref()]},
 {"string", "hello world"},
 {"latin1_string", [233, 0, 255]},
 {"unicode_list", [26085, 26412]},
 {"empty_string", ""},
 {"pid", self()},
 {"ref", make_ref()},
 {"port", hd(erlang:ports())},
 {"export_fun", fun lists:map/2},
 {"closure", fun(X) -> X + Big end},
 {"atoms", ['', ok, 'h\x{e9}llo', '\x{65e5}\x{672c}', list_to_atom(lists:duplicate(255, $x)), list_to_atom(lists:duplicate(255, 16#1F600))]},
 {"booleans", {true, false, undefined}},
 {"large_tuple", list_to_tuple(lists:seq(1, 300))},
 {"long_string", lists:duplicate(70000, $a)},
 {"big_map", maps:from_list([{I, I * I} || I <- lists:seq(1, 100)])},
 {"mixed_map_keys", #{[1] => a, {t} => b, <<"b">> => c, 1.0 => d, 1 => e, #{} => f}},
 {"control_msg", {6, self(), make_ref(), {'$gen_call', {self(), [alias | make_ref()]}, which_children}}}
],
Flavours = [{"default", []}, {"utf8", [{minor_version, 2}]}, {"v0", [{minor_version, 0}]}, {"compressed", [compressed]}],
Out = [begin
  Name = list_to_binary(N ++ "/" ++ F),
  B = term_to_binary(T, O),
  [<<(byte_size(Name)):16>>, Name, <<(byte_size(B)):32>>, B]
 end || {N, T} <- Terms, {F, O} <- Flavours],
ok = file:write_file(filename:join(Dir, "erl.bin"), Out),
halt().
`

// erlCheckTerms reads records <<NameLen:16, Name, L1:32, Orig, L2:32, Go>>
// and prints "ok Name" when binary_to_term(Orig) =:= binary_to_term(Go).
// It then reads Go-made terms <<NameLen:16, Name, Len:32, Bin>>, decodes
// each and writes it back with term_to_binary.
const erlCheckTerms = `
[Dir] = init:get_plain_arguments(),
{ok, Pairs} = file:read_file(filename:join(Dir, "go.bin")),
{ok, Native} = file:read_file(filename:join(Dir, "native.bin")),
P2 = fun P(<<L:16, N:L/binary, A:32, X:A/binary, B:32, Y:B/binary, R/binary>>) -> [{N, X, Y} | P(R)]; P(<<>>) -> [] end,
P1 = fun P(<<L:16, N:L/binary, A:32, X:A/binary, R/binary>>) -> [{N, X} | P(R)]; P(<<>>) -> [] end,
lists:foreach(fun({N, X, Y}) ->
  T1 = binary_to_term(X),
  case catch binary_to_term(Y) of
    T2 when T1 =:= T2 -> io:format("ok ~s~n", [N]);
    Other -> io:format("FAIL ~s: erl ~w, go ~w~n", [N, T1, Other])
  end
 end, P2(Pairs)),
Back = [case catch binary_to_term(X) of
   {'EXIT', R} -> io:format("FAIL ~s: binary_to_term: ~w~n", [N, R]), [];
   T -> io:format("decoded ~s~n", [N]), B = term_to_binary(T, [{minor_version, 2}]),
        [<<(byte_size(N)):16>>, N, <<(byte_size(B)):32>>, B]
 end || {N, X} <- P1(Native)],
ok = file:write_file(filename:join(Dir, "back.bin"), Back),
halt().
`

type record struct {
	name string
	a, b []byte
}

func readRecords(t *testing.T, data []byte, pairs bool) []record {
	t.Helper()
	var out []record
	for len(data) > 0 {
		if len(data) < 2 {
			t.Fatal("record file truncated")
		}
		n := int(binary.BigEndian.Uint16(data))
		r := record{name: string(data[2 : 2+n])}
		data = data[2+n:]
		next := func() []byte {
			l := int(binary.BigEndian.Uint32(data))
			v := data[4 : 4+l]
			data = data[4+l:]
			return v
		}
		r.a = next()
		if pairs {
			r.b = next()
		}
		out = append(out, r)
	}
	return out
}

func appendRecord(dst []byte, name string, bins ...[]byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(name)))
	dst = append(dst, name...)
	for _, b := range bins {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

func runErl(t *testing.T, code, dir string) string {
	t.Helper()
	// No distribution, so no epmd is started and no port is used.
	return erltest.RunErl(t, "", "-noshell", "-noinput", "-eval", code, "-extra", dir)
}

// TestErlInterop decodes terms written by a real erl, re-encodes them and
// has erl check =:= equality; then it has erl decode terms made in Go and
// send them back.
func TestErlInterop(t *testing.T) {
	erltest.Erl(t)
	dir := t.TempDir()
	runErl(t, erlMakeTerms, dir)
	data, err := os.ReadFile(filepath.Join(dir, "erl.bin"))
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data, false)
	if len(recs) < 100 {
		t.Fatalf("erl wrote %d terms, want at least 100", len(recs))
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
	checkDecodedShapes(t, byName)

	native := sampleTerms(t)
	native = append(native, Tuple(native), Map{{Atom("node"), Atom("myapp@10.0.0.1")}})
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
	out := runErl(t, erlCheckTerms, dir)
	oks, decoded := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			oks++
			t.Log("erl: " + line)
		case strings.HasPrefix(line, "decoded "):
			decoded++
		default:
			t.Errorf("erl: %s", line)
		}
	}
	t.Logf("erl: %d of %d erl terms =:= after a Go round trip; %d of %d Go terms accepted by binary_to_term", oks, len(recs), decoded, len(native))
	if oks != len(recs) || decoded != len(native) {
		t.Fatalf("erl checked %d/%d round trips and decoded %d/%d Go terms", oks, len(recs), decoded, len(native))
	}

	data, err = os.ReadFile(filepath.Join(dir, "back.bin"))
	if err != nil {
		t.Fatal(err)
	}
	back := readRecords(t, data, false)
	if len(back) != len(native) {
		t.Fatalf("erl sent back %d terms, want %d", len(back), len(native))
	}
	release := erltest.Release(t)
	for i, r := range back {
		got, err := Decode(r.a)
		if err != nil {
			t.Errorf("%s: decode of erl's re-encoding: %v", r.name, err)
			continue
		}
		want := native[i]
		if release >= 27 {
			want = anonymousFunCreators(want)
		}
		if !Equal(got, want) {
			t.Errorf("%s: erl turned %#v into %#v", r.name, native[i], got)
		}
	}
}

// anonymousFunCreators returns t with the creator pid of every fun in it
// replaced by <0.0.0> on nonode@nohost: since OTP 27, erts no longer keeps
// the creator of a NEW_FUN_EXT it decodes and writes that pid instead when
// it encodes the fun again.
func anonymousFunCreators(t Term) Term {
	switch v := t.(type) {
	case Fun:
		v.Pid = Pid{Node: "nonode@nohost"}
		free := make([]Term, len(v.Free))
		for i, f := range v.Free {
			free[i] = anonymousFunCreators(f)
		}
		v.Free = free
		return v
	case Tuple:
		out := make(Tuple, len(v))
		for i, e := range v {
			out[i] = anonymousFunCreators(e)
		}
		return out
	case List:
		out := make(List, len(v))
		for i, e := range v {
			out[i] = anonymousFunCreators(e)
		}
		return out
	case Map:
		out := make(Map, len(v))
		for i, p := range v {
			out[i] = Pair{anonymousFunCreators(p.Key), anonymousFunCreators(p.Value)}
		}
		return out
	}
	return t
}

func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// checkDecodedShapes checks the Go types of some decoded erl terms.
func checkDecodedShapes(t *testing.T, byName map[string]Term) {
	t.Helper()
	for _, flavour := range []string{"default", "utf8", "v0", "compressed"} {
		get := func(name string) Term { return byName[name+"/"+flavour] }
		if m, ok := get("heartbeat").(Map); !ok || len(m) != 1 || m[0].Key != Atom("node") || m[0].Value != Atom("myapp@10.0.0.1") {
			t.Errorf("%s heartbeat decoded as %#v", flavour, get("heartbeat"))
		}
		want := new(big.Int).Lsh(big.NewInt(1), 200)
		if v, ok := get("bignum").(*big.Int); !ok || v.Cmp(want) != 0 {
			t.Errorf("%s bignum decoded as %#v", flavour, get("bignum"))
		}
		if v := get("int64min"); v != int64(-1<<63) {
			t.Errorf("%s int64min decoded as %#v", flavour, v)
		}
		if v := get("string"); v != String("hello world") {
			t.Errorf("%s string decoded as %#v", flavour, v)
		}
		if v, ok := get("binary").(Binary); !ok || string(v) != "hello" {
			t.Errorf("%s binary decoded as %#v", flavour, get("binary"))
		}
		if v, ok := get("bitstring").(BitBinary); !ok || v.Bits != 3 || !bytes.Equal(v.Data, []byte{0xa0}) {
			t.Errorf("%s bitstring decoded as %#v", flavour, get("bitstring"))
		}
		if v, ok := get("pid").(Pid); !ok || v.Node != "nonode@nohost" {
			t.Errorf("%s pid decoded as %#v", flavour, get("pid"))
		}
		if v, ok := get("ref").(Ref); !ok || v.Node != "nonode@nohost" || len(v.ID) != 3 {
			t.Errorf("%s ref decoded as %#v", flavour, get("ref"))
		}
		if v, ok := get("port").(Port); !ok || v.Node != "nonode@nohost" {
			t.Errorf("%s port decoded as %#v", flavour, get("port"))
		}
		if v := get("export_fun"); v != (ExportFun{Module: "lists", Function: "map", Arity: 2}) {
			t.Errorf("%s export fun decoded as %#v", flavour, v)
		}
		if v, ok := get("closure").(Fun); !ok || v.Module != "erl_eval" || v.Arity != 1 {
			t.Errorf("%s closure decoded as %#v", flavour, get("closure"))
		}
		if v, ok := get("improper").(ImproperList); !ok || len(v.Elems) != 2 || v.Tail != Atom("c") {
			t.Errorf("%s improper list decoded as %#v", flavour, get("improper"))
		}
		atoms, _ := get("atoms").(List)
		if len(atoms) != 6 || atoms[2] != Atom("héllo") || atoms[3] != Atom("日本") || atoms[5] != Atom(strings.Repeat("😀", 255)) {
			t.Errorf("%s atoms decoded as %#v", flavour, get("atoms"))
		}
		if v, ok := get("floats").(List); !ok || len(v) != 7 || v[2] != 1.5 || v[6] != 0.1 {
			t.Errorf("%s floats decoded as %#v", flavour, get("floats"))
		}
	}
}
