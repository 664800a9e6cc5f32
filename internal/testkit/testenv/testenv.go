// Package testenv decides what a test does when a real component it needs
// (erl, root for network namespaces, a built kube-apiserver) is missing: it
// skips with the reason on a developer machine, and fails under CI (CI=true),
// so that a missing install step can never hide behind a skip.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// IsCI reports whether the tests run under CI (the CI variable is true).
func IsCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Missing skips the test with the reason, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if IsCI() {
		t.Fatalf("required test component missing under CI: "+format, args...)
	}
	t.Skipf("skipped, component missing: "+format, args...)
}

// Command returns the path of the named program, or skips (fails under
// CI) when it is not installed.
func Command(t testing.TB, name, installHint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found on PATH (%s)", name, installHint)
	}
	return p
}

// Root skips (fails under CI) unless the test runs as root, which network
// namespace tests need.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root for network namespaces (run the tests as root)")
	}
}

// Short skips a slow test under go test -short, even in CI.
func Short(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow test skipped in -short mode")
	}
}
