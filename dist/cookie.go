package dist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxCookieLen is the longest cookie accepted: a cookie is an Erlang atom.
const maxCookieLen = 255

// cookieBytes checks a cookie and returns it as the Latin-1 bytes OTP
// hashes (a cookie is an atom; characters above 255 cannot occur in one).
func cookieBytes(c string) ([]byte, error) {
	if c == "" {
		return nil, errors.New("dist: the cookie is empty; set Config.Cookie or put a cookie in ~/.erlang.cookie")
	}
	b := make([]byte, 0, len(c))
	for _, r := range c {
		if r > 255 || r < 32 || r == 127 {
			return nil, fmt.Errorf("dist: the cookie contains %q; use printable Latin-1 characters (ASCII letters and digits are safest)", r)
		}
		b = append(b, byte(r))
	}
	if len(b) > maxCookieLen {
		return nil, fmt.Errorf("dist: the cookie is %d characters long; Erlang allows at most %d", len(b), maxCookieLen)
	}
	return b, nil
}

// cookieFiles lists where erl looks for a cookie, in order.
func cookieFiles() ([]string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("dist: no cookie configured and no home directory to read .erlang.cookie from (%v); set Config.Cookie", err)
	}
	files := []string{filepath.Join(home, ".erlang.cookie")}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	files = append(files, filepath.Join(cfg, "erlang", ".erlang.cookie"))
	return files, nil
}

// readCookie reads the cookie the way erl does when -setcookie is absent:
// from ~/.erlang.cookie, else from the XDG config directory. Unlike erl it
// never creates the file, and it refuses a file that others can read, as
// erl does.
func readCookie() (string, error) {
	files, err := cookieFiles()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("dist: reading the cookie file: %w; fix its permissions or set Config.Cookie", err)
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("dist: cookie file %s is not a regular file; replace it or set Config.Cookie", f)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("dist: cookie file %s must be accessible by its owner only (mode %v); run chmod 400 %s", f, st.Mode().Perm(), f)
		}
		if st.Size() > 4096 {
			return "", fmt.Errorf("dist: cookie file %s is %d bytes, too large for a cookie; it must hold one line", f, st.Size())
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("dist: reading the cookie file: %w; fix its permissions or set Config.Cookie", err)
		}
		c := strings.TrimRight(string(b), " \t\r\n")
		if c == "" {
			return "", fmt.Errorf("dist: cookie file %s is empty; write a cookie into it or set Config.Cookie", f)
		}
		return c, nil
	}
	return "", fmt.Errorf("dist: no cookie configured and none of %s exists; set Config.Cookie or create ~/.erlang.cookie (mode 400)", strings.Join(files, ", "))
}
