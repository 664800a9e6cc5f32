package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// libcluster run refuses a cookie file others can read, as erldist.Start and
// erl do, naming the file and its mode.
func TestRunRefusesOpenCookieFile(t *testing.T) {
	cookie := writeFile(t, "cookie", "SECRET\n")
	if err := os.Chmod(cookie, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "cluster.yaml", "node:\n  name: a@127.0.0.1\n  cookie_file: "+cookie+
		"\ntopologies:\n  t:\n    strategy: epmd\n    config: {hosts: [b@127.0.0.1]}\n")
	code, _, errOut := runCLI(t, 30*time.Second, "run", "--config", cfg)
	if code == 0 {
		t.Fatalf("exit 0 with a mode-0644 cookie file; stderr:\n%s", errOut)
	}
	for _, w := range []string{"node.cookie_file", cookie, "0644", "chmod 400"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
}
