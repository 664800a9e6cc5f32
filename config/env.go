package config

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar of the
// tree. A plain scalar is re-typed after expansion, so port: ${PORT} reads
// as a number. An unset variable without a default is an error.
func expandEnv(n *yaml.Node, p *parser) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		out, err := expand(n.Value)
		if err != "" {
			p.fail(n, "", "%s", err)
			return
		}
		n.Value = out
		if n.Style == 0 {
			n.Tag = ""
		}
	default:
		for _, c := range n.Content {
			expandEnv(c, p)
		}
	}
}

func expand(s string) (string, string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", "unclosed ${ in " + s + "; write ${NAME}"
		}
		ref := rest[:j]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", "invalid environment variable reference ${" + ref + "}; write ${NAME} or ${NAME:-default}"
		}
		v, ok := os.LookupEnv(name)
		if !ok || (hasDef && v == "") {
			if !hasDef {
				return "", "environment variable " + name + " is not set; set it or write ${" + name + ":-default}"
			}
			v = def
		}
		b.WriteString(v)
		s = rest[j+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}
