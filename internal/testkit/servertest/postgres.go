package servertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// PostgresUser and PostgresPassword are the superuser of every test
// cluster.
const (
	PostgresUser     = "postgres"
	PostgresPassword = "servertest-password"
)

// Postgres is a PostgreSQL cluster in a temp dir, listening on 127.0.0.1
// only (and on a unix socket in its dir), with scram-sha-256 password
// authentication.
type Postgres struct {
	t    testing.TB
	bin  string // dir of initdb and postgres
	dir  string
	port int
	cred *syscall.Credential
	mu   sync.Mutex
	proc *Proc
}

// postgresBin finds the server binaries: Debian's newest under
// /usr/lib/postgresql, else initdb on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest major first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH (install: apt-get install postgresql)")
}

// StartPostgres creates a cluster with initdb and starts postgres on a
// free loopback port. As root, both run as the user nobody (PostgreSQL
// refuses to run as root). The server is killed and its files removed
// when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	// Not t.TempDir: its parent is private to root, and nobody must
	// reach the data dir.
	dir, err := os.MkdirTemp("", "servertest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Postgres{t: t, bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			testenv.Missing(t, "running as root and there is no user nobody to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.mu.Lock()
		proc := p.proc
		p.mu.Unlock()
		if proc != nil {
			proc.Kill()
			logOnFailure(t, proc)
		}
	})
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(PostgresPassword+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p.cred != nil {
		_ = os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid))
	}
	initdb, err := spawn("initdb", dir, filepath.Join(bin, "initdb"), p.cred, []string{"LC_ALL=C"},
		"-D", filepath.Join(dir, "data"), "-U", PostgresUser, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	<-initdb.done
	if initdb.err != nil {
		t.Fatalf("servertest: initdb failed: %v\n%s", initdb.err, initdb.tail(20))
	}
	var last error
	for range 3 { // a free port may be taken meanwhile: retry with others
		p.port = clustertest.FreePort(t)
		if last = p.start(); last == nil {
			return p
		}
	}
	t.Fatalf("servertest: %v", last)
	return nil
}

// Port returns the TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// URL returns a connection URL for user and password to database postgres.
func (p *Postgres) URL(user, password string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/postgres?sslmode=disable", user, password, p.port)
}

// SocketDir returns the directory of the server's unix socket.
func (p *Postgres) SocketDir() string { return p.dir }

func (p *Postgres) start() error {
	proc, err := spawn("postgres", p.dir, filepath.Join(p.bin, "postgres"), p.cred, []string{"LC_ALL=C"},
		"-D", filepath.Join(p.dir, "data"),
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50", "-c", "shared_buffers=16MB",
	)
	if err != nil {
		return err
	}
	url := p.URL(PostgresUser, PostgresPassword)
	if err := waitFor(proc, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}); err != nil {
		proc.Kill()
		return err
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	return nil
}

// Restart shuts the server down the fast way (SIGINT: sessions are cut)
// and starts it again on the same port with the same data.
func (p *Postgres) Restart() {
	p.t.Helper()
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	proc.signal(syscall.SIGINT)
	if err := p.start(); err != nil {
		p.t.Fatalf("servertest: restart postgres: %v", err)
	}
}

// Exec runs SQL as the superuser.
func (p *Postgres) Exec(sql string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.URL(PostgresUser, PostgresPassword))
	if err != nil {
		p.t.Fatalf("servertest: connect to postgres: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		p.t.Fatalf("servertest: %s: %v", sql, err)
	}
}
