package clustertest

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
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

// FailureLog is a debug-level logger for tests whose output is shown only
// when the test fails: every line goes to one buffer, which cleanup logs
// through t when t.Failed. The buffer keeps the last 1 MiB.
func FailureLog(t testing.TB) *slog.Logger {
	t.Helper()
	b := &tailBuffer{max: 1 << 20}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tailBuffer is a concurrency-safe buffer that keeps its last max bytes.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if over := len(b.b) - b.max; over > 0 {
		b.b = append(b.b[:0], b.b[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
