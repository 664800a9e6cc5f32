package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI reads cookies with dist's reader: what erldist.Start and erl refuse
// (a file others can read), the config refuses too, and the XDG location
// erl uses is honoured.
func TestCookieFileChecksMatchDist(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.cookie")
	if err := os.WriteFile(open, []byte("SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]byte("node: {name: a@h, cookie_file: "+open+"}\ntopologies: {t: {strategy: epmd}}\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "node.cookie_file") || !strings.Contains(err.Error(), "0644") || !strings.Contains(err.Error(), open) {
		t.Fatalf("a mode-0644 cookie file: %v", err)
	}

	home := t.TempDir()
	xdg := filepath.Join(t.TempDir(), "xdg")
	t.Setenv("XDG_CONFIG_HOME", xdg)
	if err := os.MkdirAll(filepath.Join(xdg, "erlang"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "erlang", ".erlang.cookie"), []byte("FROMXDG\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	f, err := Parse([]byte("node: {name: a@h}\ntopologies: {t: {strategy: epmd}}\n"), "d.yaml", func(o *options) { o.home = home })
	if err != nil {
		t.Fatal(err)
	}
	if f.Node.Cookie != "FROMXDG" || f.Node.CookieFile != filepath.Join(xdg, "erlang", ".erlang.cookie") {
		t.Fatalf("cookie %q from %q; want the one in $XDG_CONFIG_HOME/erlang", f.Node.Cookie, f.Node.CookieFile)
	}
}
