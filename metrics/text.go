package metrics

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of what [Metrics.WriteText] writes: the
// Prometheus text exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes every family that has samples in the Prometheus text
// exposition format (version 0.0.4): a # HELP and a # TYPE line per family,
// then one line per sample. Families are sorted by name and samples by
// label values, so the output is deterministic for the same figures. It
// returns the first error writing to w.
func (m *Metrics) WriteText(w io.Writer) error {
	return writeText(w, m.Families())
}

// ServeHTTP answers with [Metrics.WriteText]'s output, for GET /metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_ = m.WriteText(&buf) // a bytes.Buffer does not fail
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

func writeText(w io.Writer, fams []Family) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for _, f := range fams {
		if len(f.Samples) == 0 {
			continue
		}
		line = append(line[:0], "# HELP "...)
		line = append(line, f.Name...)
		line = append(line, ' ')
		line = appendEscaped(line, f.Help, false)
		line = append(line, "\n# TYPE "...)
		line = append(line, f.Name...)
		line = append(line, ' ')
		line = append(line, f.Type...)
		line = append(line, '\n')
		for _, s := range f.Samples {
			line = append(line, s.Name...)
			if len(s.Labels) > 0 {
				line = append(line, '{')
				for i, l := range s.Labels {
					if i > 0 {
						line = append(line, ',')
					}
					line = append(line, l.Name...)
					line = append(line, `="`...)
					line = appendEscaped(line, l.Value, true)
					line = append(line, '"')
				}
				line = append(line, '}')
			}
			line = append(line, ' ')
			line = appendValue(line, s.Value)
			line = append(line, '\n')
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendEscaped escapes a backslash and a line feed, and a double quote
// too in a label value, as the text format requires.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendValue writes integers below 2^53 in full and other values in Go's
// shortest float syntax, with +Inf, -Inf and NaN as the format spells them.
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
