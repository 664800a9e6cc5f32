// Package erltest starts real Erlang programs for interop tests: erl nodes
// and the stock epmd daemon, each on a per-test EPMD port, in its own
// process group that the test's cleanup kills by id. Output is collected
// so a test can wait for what a node prints.
//
// The Erlang/OTP release under test is the erl and epmd on PATH, or the
// release whose root directory (the --prefix it was installed with, or its
// lib/erlang directory) the LIBCLUSTER_OTP environment variable names:
//
//	LIBCLUSTER_OTP=$HOME/.cache/libcluster-go/otp/29.1.1_dfsg-1 go test ./dist/...
//
// internal/testkit/erltest/build-otp.sh builds such a release from Debian's source
// package. When erl or epmd is not installed, or LIBCLUSTER_OTP names a
// directory without them, the test skips with the install hint, and fails
// under CI (see internal/testkit/testenv).
package erltest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// Hint is how to install erl and epmd on Debian.
const Hint = "apt-get install erlang-base"

// OTPEnv is the environment variable naming the root of the Erlang/OTP
// release under test; empty means erl and epmd on PATH.
const OTPEnv = "LIBCLUSTER_OTP"

// Erl returns the path of the erl under test, or skips (fails under CI)
// when there is none.
func Erl(t testing.TB) string {
	t.Helper()
	return otpProgram(t, "erl", Hint)
}

// Epmd returns the path of the epmd under test, or skips (fails under CI)
// when there is none.
func Epmd(t testing.TB) string {
	t.Helper()
	return otpProgram(t, "epmd", Hint)
}

// otpProgram finds name in the release LIBCLUSTER_OTP names, else on PATH.
func otpProgram(t testing.TB, name, installHint string) string {
	t.Helper()
	root := os.Getenv(OTPEnv)
	if root == "" {
		return testenv.Command(t, name, installHint)
	}
	// An installed release has bin/erl under its prefix and under
	// lib/erlang; epmd sits in lib/erlang/bin and erts-*/bin.
	cands := []string{
		filepath.Join(root, "bin", name),
		filepath.Join(root, "lib", "erlang", "bin", name),
	}
	ertsBins, _ := filepath.Glob(filepath.Join(root, "lib", "erlang", "erts-*", "bin", name))
	cands = append(cands, ertsBins...)
	ertsBins, _ = filepath.Glob(filepath.Join(root, "erts-*", "bin", name))
	cands = append(cands, ertsBins...)
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	testenv.Missing(t, "%s=%s has no executable %s (looked in %s); build one with internal/testkit/erltest/build-otp.sh",
		OTPEnv, root, name, strings.Join(cands, ", "))
	return ""
}

var releases sync.Map // erl path -> OTP major release (int)

// Release returns the major OTP release of the erl under test (25 for
// Debian 12's), running it once per test binary to ask. Tests use it where
// erts itself changed behaviour between releases.
func Release(t testing.TB) int {
	t.Helper()
	erl := Erl(t)
	if r, ok := releases.Load(erl); ok {
		return r.(int)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := CommandContext(t, ctx, erl, "-noshell", "-eval",
		`io:format("~s", [erlang:system_info(otp_release)]), halt().`).Output()
	if err != nil {
		t.Fatalf("%s: asking for its OTP release: %v", erl, err)
	}
	r, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("%s printed OTP release %q, not a number", erl, out)
	}
	releases.Store(erl, r)
	t.Logf("erl under test: %s (OTP %d)", erl, r)
	return r
}

// Command returns an exec.Cmd for the program at path that runs in a fresh
// temporary directory, with HOME set to another and ERL_CRASH_DUMP pointing
// into the first, so that neither a user's ~/.erlang.cookie nor the source
// tree is touched: a crash dump never lands in the package directory.
func Command(t testing.TB, path string, args ...string) *exec.Cmd {
	t.Helper()
	return CommandContext(t, context.Background(), path, args...)
}

// CommandContext is Command with a context that kills the program.
func CommandContext(t testing.TB, ctx context.Context, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "ERL_CRASH_DUMP="+filepath.Join(cmd.Dir, "erl_crash.dump"))
	return cmd
}

// Proc is a program started by Start, StartErl or StartEpmd.
type Proc struct {
	cmd  *exec.Cmd
	out  *output
	exit chan struct{}
	err  error // of cmd.Wait, set before exit is closed
}

// output is a concurrency-safe buffer for a process's stdout and stderr.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(b)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Start runs name with args in its own process group, with env added to
// the test's environment, in a fresh temporary directory with HOME set to
// another (so no ~/.erlang.cookie or ~/.hosts.erlang of the user is read,
// and a crash dump lands in the temporary directory; see Command). Cleanup
// kills the process group and logs the output when the test failed.
func Start(t testing.TB, env []string, name string, args ...string) *Proc {
	t.Helper()
	cmd := Command(t, name, args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{cmd: cmd, out: &output{}, exit: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exit) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), p.Output())
		}
	})
	return p
}

// Pid returns the process id (also the process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process printed so far, stdout and stderr
// interleaved.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.exit }

// Err returns the result of waiting for the process; call it after Done.
func (p *Proc) Err() error {
	<-p.exit
	return p.err
}

// Signal sends sig to the process group (erl runs the emulator as a child
// of its own in some versions, so the group is what must be signalled).
func (p *Proc) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill kills the process group by id (continuing it first, should it be
// stopped) and waits for the process to exit. It may be called more than
// once.
func (p *Proc) Kill() {
	select {
	case <-p.exit:
		return
	default:
	}
	p.Signal(syscall.SIGCONT)
	p.Signal(syscall.SIGKILL)
	<-p.exit
}

// WaitOutput waits up to d until the output matches the regular expression
// re and returns the submatches. It fails the test when the process exits
// or the deadline passes first, showing the output.
func (p *Proc) WaitOutput(t testing.TB, d time.Duration, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		if m := rx.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.exit:
			if m := rx.FindStringSubmatch(p.Output()); m != nil {
				return m
			}
			t.Fatalf("%s exited before printing %q; output:\n%s", p.cmd.Args[0], re, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v; output:\n%s", p.cmd.Args[0], re, d, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErlOptions says how StartErl runs erl.
type ErlOptions struct {
	// Name is the full node name; a host part with a dot makes it a long
	// name (-name), otherwise a short name (-sname).
	Name string
	// Cookie is the distribution cookie.
	Cookie string
	// EPMDPort is the EPMD port the node registers with (ERL_EPMD_PORT).
	// erl never starts an epmd daemon of its own.
	EPMDPort int
	// Args are more erl arguments, such as "-kernel", "net_ticktime", "4".
	Args []string
	// Eval is an expression for -eval; empty for none.
	Eval string
}

// StartErl runs erl -noshell as a distributed node as o says. It skips
// (fails under CI) when erl is not installed.
func StartErl(t testing.TB, o ErlOptions) *Proc {
	t.Helper()
	erl := Erl(t)
	args := []string{"-noshell", "-start_epmd", "false", "-setcookie", o.Cookie}
	if _, host, _ := strings.Cut(o.Name, "@"); strings.Contains(host, ".") {
		args = append(args, "-name", o.Name)
	} else {
		args = append(args, "-sname", o.Name)
	}
	args = append(args, o.Args...)
	if o.Eval != "" {
		args = append(args, "-eval", o.Eval)
	}
	return Start(t, []string{"ERL_EPMD_PORT=" + strconv.Itoa(o.EPMDPort)}, erl, args...)
}

// RunErl runs a non-distributed erl with args to completion (at most 60 s)
// and returns its combined output; it fails the test when erl fails. No
// EPMD is involved and no port is used. installHint names the Debian
// packages the code needs, Hint when empty.
func RunErl(t testing.TB, installHint string, args ...string) string {
	t.Helper()
	if installHint == "" {
		installHint = Hint
	}
	erl := otpProgram(t, "erl", installHint)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := CommandContext(t, ctx, erl, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// StartEpmd runs the stock epmd daemon in the foreground on a free
// loopback port, with the extra args (such as "-address", "127.0.0.1"),
// and returns the port once it answers a NAMES request. It retries on a
// new port when another process took the chosen one. Cleanup kills it by
// id. It skips (fails under CI) when epmd is not installed.
func StartEpmd(t testing.TB, args ...string) (int, *Proc) {
	t.Helper()
	bin := Epmd(t)
	var lastErr error
	for range 3 {
		port := clustertest.FreePort(t)
		p := Start(t, nil, bin, append([]string{"-port", strconv.Itoa(port)}, args...)...)
		if lastErr = waitEpmd(p, port, 15*time.Second); lastErr == nil {
			return port, p
		}
		p.Kill()
	}
	t.Fatal(lastErr)
	return 0, nil
}

// waitEpmd waits until the epmd in p answers on port.
func waitEpmd(p *Proc, port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := Names(port); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("epmd -port %d exited: %v; output:\n%s", port, p.Err(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("epmd -port %d did not answer within %v", port, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
