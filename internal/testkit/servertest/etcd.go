package servertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/kubetest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// Etcd is a single-member etcd server on 127.0.0.1.
type Etcd struct {
	t       testing.TB
	bin     string
	dir     string
	client  int // client port
	peer    int
	mu      sync.Mutex
	proc    *Proc
	rootPwd string
}

// StartEtcd starts etcd (the binary internal/testkit/kubetest/build.sh builds) on
// free loopback ports with its data in the test's temp dir. It is killed
// when the test ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	dir, err := kubetest.BinDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	bin := filepath.Join(dir, "etcd")
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "etcd not built in %s (run: bash internal/testkit/kubetest/build.sh; builds etcd %s from the Go module proxy)", dir, kubetest.EtcdVersion)
	}
	e := &Etcd{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(func() {
		e.mu.Lock()
		p := e.proc
		e.mu.Unlock()
		if p != nil {
			p.Kill()
			logOnFailure(t, p)
		}
	})
	var last error
	for range 3 { // a free port may be taken meanwhile: retry with others
		e.client, e.peer = clustertest.FreePort(t), clustertest.FreePort(t)
		if last = e.start(); last == nil {
			return e
		}
	}
	t.Fatalf("servertest: %v", last)
	return nil
}

// Endpoint returns the client URL, http://127.0.0.1:<port>.
func (e *Etcd) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(e.client) }

func (e *Etcd) start() error {
	peer := "http://127.0.0.1:" + strconv.Itoa(e.peer)
	p, err := spawn("etcd", e.dir, e.bin, nil, nil,
		"--name=servertest",
		"--data-dir="+filepath.Join(e.dir, "data"),
		"--listen-client-urls="+e.Endpoint(),
		"--advertise-client-urls="+e.Endpoint(),
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=servertest="+peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := waitFor(p, 60*time.Second, e.healthy); err != nil {
		p.Kill()
		return err
	}
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	return nil
}

// healthy asks for the cluster status with a short deadline.
func (e *Etcd) healthy() error {
	cl, err := e.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = cl.Status(ctx, e.Endpoint())
	return err
}

func (e *Etcd) newClient() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: []string{e.Endpoint()}, DialTimeout: 2 * time.Second,
		Username: "root", Password: e.rootPwd, Logger: zap.NewNop(),
	})
}

// Client returns a client (as root once auth is enabled), closed when the
// test ends.
func (e *Etcd) Client() *clientv3.Client {
	e.t.Helper()
	cl, err := e.newClient()
	if err != nil {
		e.t.Fatalf("servertest: etcd client: %v", err)
	}
	e.t.Cleanup(func() { cl.Close() })
	return cl
}

// Kill kills etcd (SIGKILL); Start starts it again with the same data.
func (e *Etcd) Kill() {
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Start starts a killed etcd again on the same ports with the same data
// and waits until it is healthy.
func (e *Etcd) Start() {
	e.t.Helper()
	if err := e.start(); err != nil {
		e.t.Fatalf("servertest: restart etcd: %v", err)
	}
}

// EnableAuth creates the root user with password, grants it the root
// role and turns authentication on.
func (e *Etcd) EnableAuth(password string) {
	e.t.Helper()
	cl := e.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	steps := []func() error{
		func() error { _, err := cl.UserAdd(ctx, "root", password); return err },
		func() error { _, err := cl.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cl.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			e.t.Fatalf("servertest: enable etcd auth, step %d: %v", i+1, err)
		}
	}
	e.rootPwd = password
}

// String describes the server for logs.
func (e *Etcd) String() string { return fmt.Sprintf("etcd at %s", e.Endpoint()) }
