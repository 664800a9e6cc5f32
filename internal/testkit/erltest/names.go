package erltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Names asks the EPMD on 127.0.0.1:port for its registered node names
// with a raw NAMES request, independent of the project's EPMD client.
func Names(port int) ([]string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{0, 1, 110}); err != nil { // length 1, NAMES_REQ
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, errors.New("short NAMES reply")
	}
	if p := binary.BigEndian.Uint32(b); p != uint32(port) {
		return nil, fmt.Errorf("NAMES reply names port %d, asked %d", p, port)
	}
	var names []string
	for line := range strings.Lines(string(b[4:])) {
		var name string
		var at int
		if _, err := fmt.Sscanf(line, "name %s at port %d", &name, &at); err != nil {
			return nil, fmt.Errorf("NAMES reply line %q: %v", line, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// WaitNames polls the EPMD on 127.0.0.1:port until its names satisfy cond,
// and fails the test after 30 s, showing the last names seen.
func WaitNames(t testing.TB, port int, what string, cond func([]string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []string
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = Names(port)
		if lastErr == nil && cond(last) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("EPMD on port %d: timed out waiting for %s; last names %v, error %v", port, what, last, lastErr)
}

// HasAll returns a WaitNames condition that holds when every name in want
// is registered.
func HasAll(want ...string) func([]string) bool {
	return func(got []string) bool {
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}
}
