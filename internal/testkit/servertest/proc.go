package servertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a child process started by the test, killed by its PID.
type Proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// spawn starts bin with args in dir, its output appended to
// dir/<name>.log. cred, when set, runs it as that user.
func spawn(name, dir, bin string, cred *syscall.Credential, env []string, args ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "---- %s %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// Dies with the test binary even if cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", bin, err)
	}
	p := &Proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process by its PID and waits for it to exit.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the exit, killing the process after
// 10 s.
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM)
}

func (p *Proc) signal(sig syscall.Signal) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the process log.
func (p *Proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls ready every 50 ms until it returns nil, the process exits
// or timeout passes.
func waitFor(p *Proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited (%v); log:\n%s", p.name, p.err, p.tail(15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v; log:\n%s", p.name, timeout, err, p.tail(15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logOnFailure prints the tail of the log when the test failed.
func logOnFailure(t testing.TB, p *Proc) {
	if t.Failed() {
		t.Logf("servertest: tail of %s:\n%s", p.log, p.tail(40))
	}
}

// StartHelper runs this test binary again as a child process that runs
// only the test named test (which must do its work when it finds the
// environment variables in env, and skip otherwise), and kills it when the
// test ends. The child's output goes to <name>.log in the test's temp dir.
func StartHelper(t testing.TB, name, test string, env ...string) *Proc {
	t.Helper()
	dir := t.TempDir()
	p, err := spawn(name, dir, os.Args[0], nil, env, "-test.run=^"+test+"$", "-test.count=1")
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	t.Cleanup(func() { p.Kill(); logOnFailure(t, p) })
	return p
}
