package clustertest

import (
	"bytes"
	"log/slog"
	"sync"
)

// LineCounter is an io.Writer that counts the lines written to it, for
// tests asserting that a flood is logged as a bounded number of lines.
type LineCounter struct {
	mu      sync.Mutex
	n, base int
}

// Write counts the newlines in p.
func (l *LineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.n += bytes.Count(p, []byte("\n"))
	l.mu.Unlock()
	return len(p), nil
}

// Lines returns the lines written since the last Reset.
func (l *LineCounter) Lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n - l.base
}

// Reset starts counting from zero.
func (l *LineCounter) Reset() {
	l.mu.Lock()
	l.base = l.n
	l.mu.Unlock()
}

// CountingLogger returns a text logger at level Info whose lines are
// counted by the returned LineCounter.
func CountingLogger() (*slog.Logger, *LineCounter) {
	lc := &LineCounter{}
	return slog.New(slog.NewTextHandler(lc, nil)), lc
}
