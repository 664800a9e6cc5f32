package erldist

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// MaxCookieFileSize is the largest cookie file read, in bytes. A cookie is
// one line of at most 255 characters; a larger file is refused unread.
const MaxCookieFileSize = 4096

// CookieFiles returns where erl looks for its cookie when none is given,
// in order: home/.erlang.cookie, then $XDG_CONFIG_HOME/erlang/.erlang.cookie
// (XDG_CONFIG_HOME defaulting to home/.config). An empty home means the
// user's home directory.
func CookieFiles(home string) ([]string, error) {
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no home directory to read .erlang.cookie from (%v)", err)
		}
		home = h
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	return []string{filepath.Join(home, ".erlang.cookie"), filepath.Join(cfg, "erlang", ".erlang.cookie")}, nil
}

// FindCookie reads the first of files that exists with [ReadCookieFile]
// and returns the cookie and the file it came from. A file that exists but
// fails a check is an error, not skipped. When none exists the error wraps
// fs.ErrNotExist.
func FindCookie(files []string) (cookie, path string, err error) {
	for _, f := range files {
		c, err := ReadCookieFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return c, f, err
	}
	return "", "", fmt.Errorf("none of %s exists: %w", strings.Join(files, ", "), fs.ErrNotExist)
}

// ReadCookieFile reads a cookie file the way erl does and with its checks:
// it must be a regular file (a FIFO or device is refused before it is
// opened for reading), accessible by its owner only, at most
// [MaxCookieFileSize] bytes (read through a bounded reader), and hold one
// line that is a valid cookie; trailing white space is dropped. Errors name
// the file, and its mode when that is the problem. A missing file's error
// wraps fs.ErrNotExist.
func ReadCookieFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cookie file: %w", err)
	}
	if err := checkCookieStat(path, st); err != nil {
		return "", err
	}
	// O_NONBLOCK: should the path have become a FIFO since the check,
	// opening it must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("cookie file: %w", err)
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cookie file %s: %w", path, err)
	}
	if err := checkCookieStat(path, fst); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxCookieFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cookie file %s: %w", path, err)
	}
	if len(b) > MaxCookieFileSize {
		return "", fmt.Errorf("cookie file %s grew past %d bytes while being read; it must hold one line", path, MaxCookieFileSize)
	}
	c := strings.TrimRight(string(b), " \t\r\n")
	switch {
	case c == "":
		return "", fmt.Errorf("cookie file %s is empty; write a cookie (one line) into it", path)
	case strings.ContainsAny(c, "\r\n"):
		return "", fmt.Errorf("cookie file %s holds more than one line; a cookie is one line", path)
	}
	if _, err := cookieBytes(c); err != nil {
		return "", fmt.Errorf("cookie file %s: %s", path, strings.TrimPrefix(err.Error(), "dist: "))
	}
	return c, nil
}

func checkCookieStat(path string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("cookie file %s is not a regular file (mode %v); a cookie file is a plain file holding one line", path, st.Mode())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("cookie file %s must be accessible by its owner only, but its mode is %04o; run chmod 400 %s", path, uint32(perm), path)
	}
	if st.Size() > MaxCookieFileSize {
		return fmt.Errorf("cookie file %s is %d bytes; a cookie file holds one line of at most %d bytes", path, st.Size(), MaxCookieFileSize)
	}
	return nil
}

// readCookie reads the cookie the way erl does when -setcookie is absent:
// from ~/.erlang.cookie, else from the XDG config directory. Unlike erl it
// never creates the file.
func readCookie() (string, error) {
	files, err := CookieFiles("")
	if err != nil {
		return "", fmt.Errorf("dist: no cookie configured and %v; set Config.Cookie", err)
	}
	c, _, err := FindCookie(files)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("dist: no cookie configured and %v; set Config.Cookie or create ~/.erlang.cookie (mode 400)", err)
	case err != nil:
		return "", fmt.Errorf("dist: %v; fix it or set Config.Cookie", err)
	}
	return c, nil
}
