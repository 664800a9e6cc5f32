package erlanghosts

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of ParseHostsFile.
const (
	// MaxFileSize is the largest .hosts.erlang accepted, in bytes.
	MaxFileSize = 1 << 20
	// MaxHosts is the most hosts one file may name.
	MaxHosts = 4096
	// maxAtomChars is Erlang's limit on the length of an atom.
	maxAtomChars = 255
)

// Host is one entry of a .hosts.erlang file.
type Host struct {
	Name string // the host exactly as written, escapes resolved
	Line int    // 1-based line of the entry
	Col  int    // 1-based column (in characters) of the entry
}

// SyntaxError is a .hosts.erlang that cannot be read as a list of hosts.
type SyntaxError struct {
	Line, Col int    // 1-based position of the problem
	Msg       string // what is wrong and how to fix it
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// ParseHostsFile reads the contents of a .hosts.erlang file: Erlang terms,
// each ended by a '.', each a host name written as a quoted atom
// ('host.example.com'), an unquoted atom (localhost) or a string
// ("host.example.com"). '%' starts a comment that runs to the end of the
// line. Quoted atoms and strings take Erlang's escapes (\n, \s, \x41,
// \x{41}, \101, \^A, ...).
//
// It returns the entries in file order, or a *SyntaxError naming the line
// and column of the first problem. Host names are not validated here.
func ParseHostsFile(data []byte) ([]Host, error) {
	if len(data) > MaxFileSize {
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: fmt.Sprintf("file is %d bytes, more than the %d accepted; a hosts file lists host names only", len(data), MaxFileSize)}
	}
	if !utf8.Valid(data) {
		line, col := position(data, firstInvalidUTF8(data))
		return nil, &SyntaxError{Line: line, Col: col, Msg: "not valid UTF-8; save the file as UTF-8"}
	}
	p := &parser{src: string(data), line: 1, col: 1}
	var hosts []Host
	for {
		p.skipSpace()
		if p.eof() {
			return hosts, nil
		}
		if len(hosts) == MaxHosts {
			return nil, p.errorf("more than %d hosts; split the cluster or use another strategy", MaxHosts)
		}
		h := Host{Line: p.line, Col: p.col}
		name, err := p.term()
		if err != nil {
			return nil, err
		}
		h.Name = name
		p.skipSpace()
		if err := p.dot(); err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func position(b []byte, off int) (line, col int) {
	line, col = 1, 1
	for _, r := range string(b[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

type parser struct {
	src       string
	pos       int
	line, col int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() rune {
	if p.eof() {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

func (p *parser) next() rune {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	if r == '\n' {
		p.line, p.col = p.line+1, 1
	} else {
		p.col++
	}
	return r
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
}

// skipSpace skips whitespace and comments.
func (p *parser) skipSpace() {
	for !p.eof() {
		switch r := p.peek(); {
		case isSpace(r):
			p.next()
		case r == '%':
			for !p.eof() && p.peek() != '\n' {
				p.next()
			}
		default:
			return
		}
	}
}

// dot reads the '.' that ends a term; it must be followed by whitespace,
// a comment or the end of the file.
func (p *parser) dot() error {
	if p.eof() {
		return p.errorf("missing '.' at the end of the entry; end every host with a dot, e.g. 'host.example.com'.")
	}
	if r := p.peek(); r != '.' {
		return p.errorf("want '.' after the host, got %q; write one host per entry, e.g. 'host.example.com'.", r)
	}
	p.next()
	if !p.eof() {
		if r := p.peek(); !isSpace(r) && r != '%' {
			return p.errorf("want whitespace or a newline after '.', got %q", r)
		}
	}
	return nil
}

// term reads one host: a quoted atom, an unquoted atom or a string.
func (p *parser) term() (string, error) {
	switch r := p.peek(); {
	case r == '\'':
		return p.quoted('\'', "quoted atom")
	case r == '"':
		return p.quoted('"', "string")
	case r >= 'a' && r <= 'z':
		start := p.pos
		for !p.eof() {
			c := p.peek()
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@') {
				break
			}
			p.next()
		}
		name := p.src[start:p.pos]
		if len(name) > maxAtomChars {
			return "", p.errorf("atom longer than %d characters", maxAtomChars)
		}
		if c := p.peek(); c == '.' && p.pos+1 < len(p.src) && !isSpace(rune(p.src[p.pos+1])) && p.src[p.pos+1] != '%' || c == '-' {
			return "", p.errorf("a host name with dots or dashes must be quoted, e.g. '%s%s'", name, p.restOfWord())
		}
		return name, nil
	case r >= 'A' && r <= 'Z' || r == '_':
		return "", p.errorf("%q starts a variable, not a host; quote the host, e.g. '%s'", r, p.restOfWord())
	default:
		return "", p.errorf("want a host name such as 'host.example.com', got %q", r)
	}
}

// restOfWord returns the host-like text from the current position, for
// error hints; it does not consume it.
func (p *parser) restOfWord() string {
	end := p.pos
	for end < len(p.src) && end-p.pos < 64 {
		c := p.src[end]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@' || c == '-' || c == '.') {
			break
		}
		end++
	}
	return strings.TrimRight(p.src[p.pos:end], ".")
}

// quoted reads a quoted atom or string ending with quote. Without escapes
// the result is a substring of the input.
func (p *parser) quoted(quote rune, what string) (string, error) {
	startLine, startCol := p.line, p.col
	p.next() // opening quote
	start := p.pos
	var b strings.Builder
	escaped := false
	n := 0
	for {
		if p.eof() {
			return "", &SyntaxError{Line: startLine, Col: startCol, Msg: fmt.Sprintf("%s is never closed; add the closing %c", what, quote)}
		}
		at := p.pos
		r := p.next()
		switch r {
		case quote:
			if !escaped {
				return p.src[start:at], nil
			}
			return b.String(), nil
		case '\\':
			if !escaped {
				escaped = true
				b.WriteString(p.src[start:at])
			}
			e, err := p.escape()
			if err != nil {
				return "", err
			}
			r = e
		}
		n++
		if n > maxAtomChars {
			return "", &SyntaxError{Line: startLine, Col: startCol, Msg: fmt.Sprintf("%s longer than %d characters; a host name is shorter", what, maxAtomChars)}
		}
		if escaped {
			b.WriteRune(r)
		}
	}
}

// escape reads what follows a backslash and returns the character it
// stands for, with Erlang's rules.
func (p *parser) escape() (rune, error) {
	if p.eof() {
		return 0, p.errorf("backslash at the end of the file")
	}
	line, col := p.line, p.col-1
	bad := func(msg string) (rune, error) {
		return 0, &SyntaxError{Line: line, Col: col, Msg: msg}
	}
	r := p.next()
	switch r {
	case 'b':
		return '\b', nil
	case 'd':
		return 0x7f, nil
	case 'e':
		return 0x1b, nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 's':
		return ' ', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case '^':
		if p.eof() {
			return bad("\\^ must be followed by a character, e.g. \\^A")
		}
		// As erl_scan reads it since OTP 27: \^@ .. \^_ and \^a .. \^z are
		// control characters, \^? is DEL, anything else is an error.
		// (OTP 26 and older took any character band 31.)
		switch c := p.next(); {
		case c >= '@' && c <= '_', c >= 'a' && c <= 'z':
			return c & 31, nil
		case c == '?':
			return 0x7f, nil
		default:
			return bad(fmt.Sprintf("\\^%c is not a control character: use \\^@ to \\^_, \\^a to \\^z or \\^?", c))
		}
	case 'x':
		if p.peek() == '{' {
			p.next()
			v, digits := 0, 0
			for !p.eof() && p.peek() != '}' {
				d := hexVal(p.peek())
				if d < 0 {
					return bad("\\x{...} holds hexadecimal digits only, e.g. \\x{41}")
				}
				p.next()
				digits++
				if v = v*16 + d; v > utf8.MaxRune {
					return bad("\\x{...} is beyond the last Unicode character")
				}
			}
			if p.eof() || digits == 0 {
				return bad("\\x{ needs hexadecimal digits and a closing }, e.g. \\x{41}")
			}
			p.next()
			if v >= 0xD800 && v <= 0xDFFF {
				return bad("\\x{...} is a UTF-16 surrogate, not a character")
			}
			return rune(v), nil
		}
		v := 0
		for range 2 {
			d := hexVal(p.peek())
			if d < 0 {
				return bad("\\x needs two hexadecimal digits, e.g. \\x41, or braces, e.g. \\x{41}")
			}
			p.next()
			v = v*16 + d
		}
		return rune(v), nil
	}
	if r >= '0' && r <= '7' {
		v := int(r - '0')
		for range 2 {
			c := p.peek()
			if c < '0' || c > '7' {
				break
			}
			p.next()
			v = v*8 + int(c-'0')
		}
		return rune(v), nil
	}
	return r, nil // \\, \', \", a newline and any other character stand for themselves
}

func hexVal(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}
