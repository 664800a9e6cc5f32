package memberlist

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"sync/atomic"
)

// logWriter turns memberlist's log lines ("[WARN] memberlist: ...") into
// slog records at the matching level. Once the node is closing, warnings
// and errors are logged at debug level: memberlist's goroutines report the
// sockets closing under them.
type logWriter struct {
	l       *slog.Logger
	closing *atomic.Bool
}

func newLogLogger(l *slog.Logger, closing *atomic.Bool) *log.Logger {
	return log.New(logWriter{l, closing}, "", 0)
}

var levelTags = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, t := range levelTags {
		if rest, ok := bytes.CutPrefix(line, []byte(t.tag)); ok {
			level, line = t.level, bytes.TrimSpace(rest)
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if level > slog.LevelInfo && w.closing.Load() {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if w.l.Enabled(ctx, level) {
		w.l.Log(ctx, level, string(line), "component", "memberlist")
	}
	return len(p), nil
}
