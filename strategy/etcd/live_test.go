package etcd_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/servertest"
	"github.com/libcluster-go/libcluster/strategy/etcd"
)

const prefix = "/test/nodes/"

func newStrategy(t *testing.T, cfg etcd.Config, self string) *etcd.Strategy {
	t.Helper()
	cfg.Prefix = prefix
	cfg.TTL = etcd.MinTTL
	cfg.CommandTimeout = 2 * time.Second
	cfg.DialTimeout = 2 * time.Second
	s, err := etcd.New(cfg, etcd.Options{Self: libcluster.Node(self), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func member(t *testing.T, e *servertest.Etcd, ip string, port int) *servertest.Member {
	name := "app@" + ip
	return servertest.StartMember(t, name, ip+":"+strconv.Itoa(port), newStrategy(t, etcd.Config{Endpoints: e.Endpoint()}, name))
}

// TestRealNodesFormHealAndPrune runs three real distribution nodes, each
// with an etcd topology on one real etcd: they mesh; one leaves (its lease
// is revoked) and is pruned; a key whose lease is not kept alive (a node
// killed with SIGKILL) disappears after the TTL; etcd is killed (an error
// event, nobody disconnected) and restarted, and a new node joins after it.
func TestRealNodesFormHealAndPrune(t *testing.T) {
	e := servertest.StartEtcd(t)
	port := clustertest.FreePort(t)
	ms := []*servertest.Member{member(t, e, "127.0.0.1", port), member(t, e, "127.0.0.2", port), member(t, e, "127.0.0.3", port)}
	clustertest.Eventually(t, "a full mesh of 3 nodes", func() bool { return servertest.Meshed(ms...) })
	// explain's one read: the three keys, nothing registered.
	watcher := newStrategy(t, etcd.Config{Endpoints: e.Endpoint()}, "")
	u, err := watcher.Discover(context.Background())
	if err != nil || u.Kind() != libcluster.KindComplete || len(u.Nodes()) != 3 || u.Nodes()[0] != "app@127.0.0.1" {
		t.Fatalf("Discover: %+v, %v", u, err)
	}

	// Leave: the topology stops, revokes its lease, the key goes.
	ms[2].Close()
	clustertest.Eventually(t, "app@127.0.0.3 pruned by both others", func() bool {
		return servertest.Meshed(ms[:2]...) && ms[0].Desires("app@127.0.0.2") && ms[1].Desires("app@127.0.0.1")
	})

	// A node process killed with SIGKILL cannot revoke its lease: its key
	// stays until the lease expires (TTL 2s), then it is pruned.
	helper := servertest.StartHelper(t, "member9", "TestHelperMember", helperEnv+"="+e.Endpoint())
	clustertest.Eventually(t, "app@127.0.0.9 (the helper process) desired", func() bool {
		return ms[0].Desires("app@127.0.0.2", "app@127.0.0.9")
	})
	helper.Kill()
	killed := time.Now()
	clustertest.Eventually(t, "app@127.0.0.9 gone after its lease expired", func() bool { return ms[0].Desires("app@127.0.0.2") })
	t.Logf("the killed node's key went %v after SIGKILL (ttl %v)", time.Since(killed).Round(10*time.Millisecond), etcd.MinTTL)

	// etcd dies: a discovery error naming the endpoint, nobody disconnected.
	before := []int{ms[0].Disconnects(), ms[1].Disconnects()}
	e.Kill()
	clustertest.Eventually(t, "a discovery error on app@127.0.0.1", func() bool {
		return servertest.HasDiscoveryError(ms[0].Events, e.Endpoint())
	})
	e.Start()
	m4 := member(t, e, "127.0.0.4", port)
	clustertest.Eventually(t, "a full mesh with app@127.0.0.4 after the restart", func() bool {
		return servertest.Meshed(ms[0], ms[1], m4) && ms[0].Desires("app@127.0.0.2", "app@127.0.0.4")
	})
	clustertest.Eventually(t, "the discovery error cleared after the restart", func() bool {
		return ms[0].Topo.Status().LastError == nil && ms[1].Topo.Status().LastError == nil
	})
	if after := []int{ms[0].Disconnects(), ms[1].Disconnects()}; after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("etcd outage disconnected nodes: disconnects before %v, after %v", before, after)
	}
	if !servertest.Meshed(ms[0], ms[1], m4) {
		t.Fatal("mesh lost")
	}
}

const helperEnv = "LIBCLUSTER_ETCD_TEST_HELPER"

// TestHelperMember is the node process that TestRealNodesFormHealAndPrune
// kills with SIGKILL: it registers app@127.0.0.9 at the etcd named in the
// environment and keeps the lease alive until it is killed. Run on its
// own (without the variable) it only checks it was not started by mistake.
func TestHelperMember(t *testing.T) {
	ep := os.Getenv(helperEnv)
	if ep == "" {
		t.Skip("helper process of TestRealNodesFormHealAndPrune; runs only as its child")
	}
	s := newStrategy(t, etcd.Config{Endpoints: ep}, "app@127.0.0.9")
	_ = s.Run(context.Background(), clustertest.ReporterFunc(func(libcluster.Update) {}))
	t.Fatal("Run returned before the process was killed")
}

// firstError runs s until it reports an error and returns it.
func firstError(t *testing.T, s *etcd.Strategy) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_ = s.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) {
			if u.Err() != nil {
				select {
				case errc <- u.Err():
				default:
				}
			}
		}))
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(clustertest.Deadline):
		t.Fatal("no error reported")
		return nil
	}
}

// TestAuthFailureNamed enables authentication on a real etcd and checks a
// wrong password and missing credentials are reported as such, while the
// right password works, and a topology on the bad strategy disconnects
// nobody.
func TestAuthFailureNamed(t *testing.T) {
	e := servertest.StartEtcd(t)
	e.EnableAuth("right-password")

	err := firstError(t, newStrategy(t, etcd.Config{Endpoints: e.Endpoint(), Username: "root", Password: "wrong"}, "app@127.0.0.1"))
	if !strings.Contains(err.Error(), `etcd refused user "root": check user and password`) {
		t.Errorf("wrong password: error does not say so: %v", err)
	}
	err = firstError(t, newStrategy(t, etcd.Config{Endpoints: e.Endpoint()}, "app@127.0.0.1"))
	if !strings.Contains(err.Error(), "set user and password") {
		t.Errorf("no credentials: error does not say so: %v", err)
	}

	// A user that may use the prefix only, as a deployment would have.
	cl := e.Client()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	for i, step := range []func() error{
		func() error { _, err := cl.RoleAdd(cctx, "app"); return err },
		func() error {
			_, err := cl.RoleGrantPermission(cctx, "app", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cl.UserAdd(cctx, "app", "app-password"); return err },
		func() error { _, err := cl.UserGrantRole(cctx, "app", "app"); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("set up user app, step %d: %v", i+1, err)
		}
	}
	good := newStrategy(t, etcd.Config{Endpoints: e.Endpoint(), Username: "app", Password: "app-password"}, "app@127.0.0.1")
	conn := clustertest.NewConnector("app@127.0.0.2")
	_, log, _ := servertest.RunTopology(t, good, conn)
	clustertest.Eventually(t, "app@127.0.0.1 connected with the right password", func() bool {
		_, ok := conn.AllConnected(clustertest.Nodes("app@127.0.0.1"))
		return ok
	})

	// The password changes under the running strategy and etcd restarts
	// (its tokens are gone): the strategy cannot get a new token, reports
	// the auth failure and keeps the node connected.
	if _, err := cl.UserChangePassword(cctx, "app", "new-password"); err != nil {
		t.Fatal(err)
	}
	e.Kill()
	e.Start()
	clustertest.Eventually(t, "an auth discovery error", func() bool {
		return servertest.HasDiscoveryError(log, "check user and password")
	})
	if d := conn.Disconnects(); len(d) != 0 {
		t.Fatalf("auth failure disconnected %v", d)
	}
}

// TestUnreachableNamed points the strategy at a port nothing listens on.
func TestUnreachableNamed(t *testing.T) {
	ep := "http://127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	err := firstError(t, newStrategy(t, etcd.Config{Endpoints: ep}, "app@127.0.0.1"))
	if !strings.Contains(err.Error(), "check that etcd is running at endpoints "+ep) {
		t.Errorf("error does not name the endpoint to check: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error is neither a refused connection nor a timeout: %v", err)
	}
}
