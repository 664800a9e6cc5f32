package erldist_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist"
)

func writeCookie(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by the umask
		t.Fatal(err)
	}
	return path
}

func TestReadCookieFileRefusesWhatErlRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	f, err := os.OpenFile(big, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil { // 50 MB, sparse
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"world readable", writeCookie(t, filepath.Join(dir, "open"), "SECRET\n", 0o644), []string{"open", "0644", "owner only", "chmod 400"}},
		{"group readable", writeCookie(t, filepath.Join(dir, "group"), "SECRET\n", 0o640), []string{"0640", "chmod 400"}},
		{"fifo", fifo, []string{"fifo", "not a regular file"}},
		{"device", "/dev/zero", []string{"/dev/zero", "not a regular file"}},
		{"directory", dir, []string{"not a regular file"}},
		{"50 MB", big, []string{"big", "52428800 bytes", "at most"}},
		{"empty", writeCookie(t, filepath.Join(dir, "empty"), "\n", 0o400), []string{"empty"}},
		{"two lines", writeCookie(t, filepath.Join(dir, "two"), "A\nB\n", 0o400), []string{"one line"}},
		{"bad char", writeCookie(t, filepath.Join(dir, "ctl"), "A\x01B\n", 0o400), []string{"ctl", "printable"}},
		{"missing", filepath.Join(dir, "nothing"), []string{"nothing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := erldist.ReadCookieFile(tc.path)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("ReadCookieFile(%s) accepted it", tc.path)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if tc.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v does not wrap fs.ErrNotExist", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("ReadCookieFile(%s) blocked", tc.path)
			}
		})
	}
	good := writeCookie(t, filepath.Join(dir, "good"), "SECRET \r\n", 0o400)
	if c, err := erldist.ReadCookieFile(good); err != nil || c != "SECRET" {
		t.Fatalf("ReadCookieFile(good) = %q, %v", c, err)
	}
}

// Like erl, the cookie comes from ~/.erlang.cookie, else from
// $XDG_CONFIG_HOME/erlang/.erlang.cookie.
func TestFindCookieHonoursXDG(t *testing.T) {
	home := t.TempDir()
	xdg := filepath.Join(t.TempDir(), "cfg")
	t.Setenv("XDG_CONFIG_HOME", xdg)
	files, err := erldist.CookieFiles(home)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(home, ".erlang.cookie"), filepath.Join(xdg, "erlang", ".erlang.cookie")}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("CookieFiles = %v, want %v", files, want)
	}
	if _, _, err := erldist.FindCookie(files); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no cookie anywhere: %v", err)
	}
	writeCookie(t, want[1], "FROMXDG\n", 0o600)
	if c, p, err := erldist.FindCookie(files); err != nil || c != "FROMXDG" || p != want[1] {
		t.Fatalf("FindCookie = %q, %q, %v; want the XDG cookie", c, p, err)
	}
	writeCookie(t, want[0], "FROMHOME\n", 0o400)
	if c, p, err := erldist.FindCookie(files); err != nil || c != "FROMHOME" || p != want[0] {
		t.Fatalf("FindCookie = %q, %q, %v; want the home cookie first", c, p, err)
	}
	if err := os.Chmod(want[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := erldist.FindCookie(files); err == nil || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("an open home cookie must not fall through to the XDG one: %v", err)
	}
}

// ExampleReadCookieFile reads a cookie file with the checks erl applies; a
// file others can read is refused with the fix in the message.
func ExampleReadCookieFile() {
	dir, err := os.MkdirTemp("", "cookie")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, ".erlang.cookie")
	_ = os.WriteFile(path, []byte("SECRET\n"), 0o400)
	c, err := erldist.ReadCookieFile(path)
	fmt.Println(c, err)

	_ = os.Chmod(path, 0o644)
	_, err = erldist.ReadCookieFile(path)
	fmt.Println(strings.Replace(err.Error(), dir, "DIR", 2))
	// Output:
	// SECRET <nil>
	// cookie file DIR/.erlang.cookie must be accessible by its owner only, but its mode is 0644; run chmod 400 DIR/.erlang.cookie
}
