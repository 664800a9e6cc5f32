//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadFIFO gives Load a named pipe nobody writes to: opening it would
// block forever, so Load must refuse it before opening, and say why.
func TestLoadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot create a FIFO here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe (FIFO)") || !strings.Contains(err.Error(), fifo) {
			t.Errorf("Load(FIFO) = %v, want an error naming the FIFO", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the goroutine so the test can end.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("Load(FIFO) blocked for 10 s instead of refusing the FIFO")
	}
}
