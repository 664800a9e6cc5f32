package erlanghosts

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

var parseCases = []struct {
	in   string
	want []string // nil with err != "": an error
	err  string   // substring of the error; "" for success
}{
	{"", nil, ""},
	{"% only a comment\n", nil, ""},
	{"'host'.", []string{"host"}, ""},
	{"host.", []string{"host"}, ""},
	{`"host.example.com".`, []string{"host.example.com"}, ""},
	{"'a'.\n  'b' .\n% c\n'c'.  ", []string{"a", "b", "c"}, ""},
	{"'a'.%c", []string{"a"}, ""},
	{"'a'%c\n.", []string{"a"}, ""},
	{"'a'.\t'b'.", []string{"a", "b"}, ""},
	{"h@x.", []string{"h@x"}, ""},
	{"a_b1@c.", []string{"a_b1@c"}, ""},
	{"'10.0.0.1'.\r\n'::1'.\r\n", []string{"10.0.0.1", "::1"}, ""},
	{`'a\x41\101\^a\s'.`, []string{"aAA\x01 "}, ""},
	{`'x\x{41}'.`, []string{"xA"}, ""},
	{`'a\qb'.`, []string{"aqb"}, ""},
	{`'a\7b'.`, []string{"a\x07b"}, ""},
	{`'\1234'.`, []string{"S4"}, ""},
	{"'a\\\nb'.", []string{"a\nb"}, ""},
	{`'\^['.`, []string{"\x1b"}, ""},
	{`'\^?'.`, []string{"\x7f"}, ""},
	{`'\^@\^_\^z'.`, []string{"\x00\x1f\x1a"}, ""},
	{`'it\'s'.`, []string{"it's"}, ""},
	{`'\b\d\e\f\n\r\t\v\\\"'.`, []string{"\b\x7f\x1b\f\n\r\t\v\\\""}, ""},
	{"''.", []string{""}, ""},
	{"'" + strings.Repeat("a", 255) + "'.", []string{strings.Repeat("a", 255)}, ""},

	{"'a' 'b'.", nil, "line 1, column 5: want '.' after the host"},
	{"host.example.com.", nil, "line 1, column 5: a host name with dots or dashes must be quoted, e.g. 'host.example.com'"},
	{"my-host.", nil, "must be quoted, e.g. 'my-host'"},
	{"'a'.'b'.", nil, "line 1, column 5: want whitespace or a newline after '.'"},
	{"Host.", nil, "starts a variable"},
	{"_h.", nil, "starts a variable"},
	{"'a'", nil, "line 1, column 4: missing '.'"},
	{"'a'.\n.", nil, "line 2, column 1: want a host name"},
	{"'a'..", nil, "want whitespace or a newline after '.'"},
	{"{a}.", nil, "want a host name"},
	{"1.", nil, "want a host name"},
	{"'a'.\n'abc", nil, "line 2, column 1: quoted atom is never closed"},
	{`"abc`, nil, "string is never closed"},
	{`'\x4'.`, nil, `\x needs two hexadecimal digits`},
	{`'\x{}'.`, nil, `\x{ needs hexadecimal digits`},
	{`'\x{41'.`, nil, `hexadecimal digits only`},
	{`'\x{110000}'.`, nil, "beyond the last Unicode character"},
	{`'\x{d800}'.`, nil, "surrogate"},
	{"'a\\", nil, "backslash at the end"},
	{"'\\^", nil, `\^ must be followed`},
	{`'\^1'.`, nil, `\^1 is not a control character`},
	{`'\^ '.`, nil, `is not a control character`},
	{`'\^{'.`, nil, `\^{ is not a control character`},
	{`'\^~'.`, nil, `\^~ is not a control character`},
	{"'" + strings.Repeat("a", 256) + "'.", nil, "longer than 255"},
	{strings.Repeat("a", 256) + ".", nil, "longer than 255"},
	{"'a'.\n\xff.", nil, "line 2, column 1: not valid UTF-8"},
	{"hé.", nil, "want '.' after the host"},
}

func TestParseHostsFile(t *testing.T) {
	for _, c := range parseCases {
		hosts, err := ParseHostsFile([]byte(c.in))
		if c.err != "" {
			var se *SyntaxError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &se) {
				t.Errorf("%q: got %v, %v; want a SyntaxError containing %q", c.in, names(hosts), err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(names(hosts)) != fmt.Sprint(c.want) {
			t.Errorf("%q: got %q, %v; want %q", c.in, names(hosts), err, c.want)
		}
	}
	hosts, _ := ParseHostsFile([]byte("% hosts\n\n  'a'.\n\t\"b\".\n"))
	if len(hosts) != 2 || hosts[0].Line != 3 || hosts[0].Col != 3 || hosts[1].Line != 4 || hosts[1].Col != 2 {
		t.Errorf("positions: %+v", hosts)
	}
	big := strings.Repeat("'h'.\n", MaxHosts+1)
	if _, err := ParseHostsFile([]byte(big)); err == nil || !strings.Contains(err.Error(), "more than 4096 hosts") {
		t.Errorf("too many hosts: %v", err)
	}
	huge := make([]byte, MaxFileSize+1)
	if _, err := ParseHostsFile(huge); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("huge file: %v", err)
	}
}

func names(hs []Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// TestParseMatchesErl feeds every accepted case and every rejected one to
// a real erl's file:consult, the function net_adm uses to read
// .hosts.erlang, and checks that both agree. A few inputs that erl accepts
// and this parser rejects on purpose (terms that are not host names,
// non-ASCII unquoted atoms, strings longer than an atom) are skipped.
func TestParseMatchesErl(t *testing.T) {
	erl := erltest.Erl(t)
	deliberate := map[string]bool{"{a}.": true, "1.": true, "hé.": true}
	if erltest.Release(t) < 27 {
		// OTP 26 and older read \^ followed by any character as that
		// character band 31; the parser follows the current rule.
		for _, in := range []string{`'\^?'.`, `'\^1'.`, `'\^ '.`, `'\^{'.`, `'\^~'.`} {
			deliberate[in] = true
		}
	}
	dir := t.TempDir()
	var files []string
	var cases []int
	for i, c := range parseCases {
		if deliberate[c.in] {
			continue
		}
		f := filepath.Join(dir, fmt.Sprintf("c%03d", i))
		if err := os.WriteFile(f, []byte(c.in), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		cases = append(cases, i)
	}
	// For each file, erl prints OK followed by the hex UTF-8 of each term, or ERR.
	script := `Show = fun(T) when is_atom(T) -> binary:encode_hex(atom_to_binary(T, utf8));
	              (T) when is_list(T) -> binary:encode_hex(unicode:characters_to_binary(T)) end,
	lists:foreach(fun(F) ->
	    case catch file:consult(F) of
	        {ok, Ts} -> io:format("OK~s~n", [[[" ", Show(T)] || T <- Ts]]);
	        _ -> io:format("ERR~n")
	    end end, [` + quoteList(files) + `]), halt().`
	out, err := erltest.Command(t, erl, "-noshell", "-eval", script).Output()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(files) {
		t.Fatalf("erl printed %d lines for %d files:\n%s", len(lines), len(files), out)
	}
	for k, line := range lines {
		c := parseCases[cases[k]]
		hosts, perr := ParseHostsFile([]byte(c.in))
		switch {
		case line == "ERR" && perr == nil:
			t.Errorf("%q: erl rejects it, parser accepts %q", c.in, names(hosts))
		case strings.HasPrefix(line, "OK"):
			if perr != nil {
				t.Errorf("%q: erl accepts it (%s), parser says %v", c.in, line, perr)
				continue
			}
			var got []string
			for _, h := range strings.Fields(strings.TrimPrefix(line, "OK")) {
				b, _ := hex.DecodeString(h)
				got = append(got, string(b))
			}
			if fmt.Sprint(got) != fmt.Sprint(names(hosts)) {
				t.Errorf("%q: erl reads %q, parser %q", c.in, got, names(hosts))
			}
		}
	}
}

func quoteList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = `"` + f + `"`
	}
	return strings.Join(q, ",")
}

// quoteAtom writes s as a quoted Erlang atom.
func quoteAtom(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// FuzzParseHostsFile checks that no input panics, that errors carry a
// position inside the input, and that every accepted file round-trips:
// writing the hosts back as quoted atoms and parsing again gives the same
// hosts.
func FuzzParseHostsFile(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hosts, err := ParseHostsFile(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			lines := strings.Count(string(data), "\n") + 1
			if se.Line < 1 || se.Col < 1 || se.Line > lines || se.Msg == "" {
				t.Fatalf("bad error position or message: %+v for %d lines", se, lines)
			}
			return
		}
		var b strings.Builder
		for _, h := range hosts {
			if utf8.RuneCountInString(h.Name) > 255 || !utf8.ValidString(h.Name) {
				t.Fatalf("accepted host %q", h.Name)
			}
			if h.Line < 1 || h.Col < 1 {
				t.Fatalf("bad position %+v", h)
			}
			b.WriteString(quoteAtom(h.Name) + ".\n")
		}
		again, err := ParseHostsFile([]byte(b.String()))
		if err != nil || fmt.Sprint(names(again)) != fmt.Sprint(names(hosts)) {
			t.Fatalf("round trip of %q: %q, %v", names(hosts), names(again), err)
		}
	})
}
