package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/servertest"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/postgres"
)

// Heartbeats every 500ms, a peer is forgotten after 4 missed ones: fast,
// and still tolerant of a loaded machine.
func newStrategy(t *testing.T, cfg postgres.Config, self string) *postgres.Strategy {
	t.Helper()
	cfg.Channel = "servertest"
	cfg.HeartbeatInterval = cmpOr(cfg.HeartbeatInterval, 500*time.Millisecond)
	cfg.Misses = 4
	cfg.ConnectTimeout = 3 * time.Second
	s, err := postgres.New(cfg, strategy.Options{Self: libcluster.Node(self), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func member(t *testing.T, pg *servertest.Postgres, ip string, port int) *servertest.Member {
	name := "app@" + ip
	s := newStrategy(t, postgres.Config{URL: pg.URL(servertest.PostgresUser, servertest.PostgresPassword)}, name)
	return servertest.StartMember(t, name, ip+":"+strconv.Itoa(port), s)
}

// run runs s with a recorder until the test ends or stop is called.
func run(t *testing.T, s libcluster.Strategy) (*clustertest.Recorder, func()) {
	rec := &clustertest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx, rec); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return rec, stop
}

// TestRealNodesFormHealAndPrune runs three real distribution nodes with
// postgres topologies on one real PostgreSQL: they mesh; a newcomer with a
// one-minute heartbeat learns everybody at once (they answer it); a node
// that stops heartbeating is forgotten and pruned; the database restarts
// (an error event, nobody disconnected) and a new node joins after it.
func TestRealNodesFormHealAndPrune(t *testing.T) {
	pg := servertest.StartPostgres(t)
	port := clustertest.FreePort(t)
	ms := []*servertest.Member{member(t, pg, "127.0.0.1", port), member(t, pg, "127.0.0.2", port), member(t, pg, "127.0.0.3", port)}
	clustertest.Eventually(t, "a full mesh of 3 nodes", func() bool { return servertest.Meshed(ms...) })
	// explain's round: listen for one heartbeat interval, announce nothing.
	u, err := newStrategy(t, postgres.Config{URL: pg.URL(servertest.PostgresUser, servertest.PostgresPassword)}, "app@127.0.0.7").Discover(context.Background())
	if err != nil || len(u.Nodes()) != 3 || u.Kind() == libcluster.KindComplete {
		t.Fatalf("Discover: %+v, %v", u, err)
	}
	if ms[0].Desires("app@127.0.0.2", "app@127.0.0.3", "app@127.0.0.7") {
		t.Fatal("Discover announced its node")
	}

	// Two newcomers whose next heartbeat is a minute away: the second
	// hears the first within seconds only because the first answers the
	// second's first heartbeat at once.
	url := pg.URL(servertest.PostgresUser, servertest.PostgresPassword)
	_, stop8 := run(t, newStrategy(t, postgres.Config{URL: url, HeartbeatInterval: time.Minute}, "app@127.0.0.8"))
	clustertest.Eventually(t, "app@127.0.0.8 heard", func() bool {
		return ms[0].Desires("app@127.0.0.2", "app@127.0.0.3", "app@127.0.0.8")
	})
	rec, stop9 := run(t, newStrategy(t, postgres.Config{URL: url, HeartbeatInterval: time.Minute}, "app@127.0.0.9"))
	start := time.Now()
	clustertest.EventuallyWithin(t, 20*time.Second, "app@127.0.0.9 hears everybody, app@127.0.0.8 included", func() bool {
		u, ok := rec.Last()
		return ok && len(u.Nodes()) == 4
	})
	t.Logf("newcomer heard its 4 peers after %v (the quiet one's next heartbeat was a minute away)", time.Since(start).Round(time.Millisecond))
	// Both stop: after 4 missed heartbeats they are forgotten.
	stop8()
	stop9()
	clustertest.Eventually(t, "app@127.0.0.8 and app@127.0.0.9 forgotten", func() bool {
		return ms[0].Desires("app@127.0.0.2", "app@127.0.0.3")
	})

	// A member leaves: its heartbeats stop, the others prune it.
	ms[2].Close()
	clustertest.Eventually(t, "app@127.0.0.3 pruned by both others", func() bool {
		return servertest.Meshed(ms[:2]...) && ms[0].Desires("app@127.0.0.2") && ms[1].Desires("app@127.0.0.1")
	})

	// The database restarts (fast shutdown cuts every session).
	before := []int{ms[0].Disconnects(), ms[1].Disconnects()}
	pg.Restart()
	m4 := member(t, pg, "127.0.0.4", port)
	clustertest.Eventually(t, "a full mesh with app@127.0.0.4 after the restart", func() bool {
		return servertest.Meshed(ms[0], ms[1], m4) && ms[0].Desires("app@127.0.0.2", "app@127.0.0.4")
	})
	if !servertest.HasDiscoveryError(ms[0].Events, "at 127.0.0.1:"+strconv.Itoa(pg.Port())) {
		t.Error("the restart raised no discovery error")
	}
	// A whole forget window after the reconnect, still nobody disconnected.
	deadline := time.Now().Add(3 * time.Second)
	clustertest.Eventually(t, "a forget window after the restart", func() bool { return time.Now().After(deadline) })
	if err := ms[0].Topo.Status().LastError; err != nil {
		t.Errorf("the discovery error is not cleared after the restart: %v", err)
	}
	if after := []int{ms[0].Disconnects(), ms[1].Disconnects()}; after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("database restart disconnected nodes: disconnects before %v, after %v", before, after)
	}
	if !servertest.Meshed(ms[0], ms[1], m4) {
		t.Fatal("mesh lost after the restart")
	}
}

func firstError(t *testing.T, rec *clustertest.Recorder) error {
	t.Helper()
	var err error
	clustertest.Eventually(t, "an error update", func() bool {
		for _, u := range rec.Updates() {
			if u.Err() != nil {
				err = u.Err()
				return true
			}
		}
		return false
	})
	return err
}

// TestBadPasswordAndUnreachableNamed checks a wrong password, a password
// changed under a running node, and an unreachable server are named in the
// error, and that a topology disconnects nobody meanwhile.
func TestBadPasswordAndUnreachableNamed(t *testing.T) {
	pg := servertest.StartPostgres(t)
	pg.Exec("CREATE ROLE app LOGIN PASSWORD 'app-password'")

	rec, _ := run(t, newStrategy(t, postgres.Config{URL: pg.URL("app", "wrong")}, "app@127.0.0.1"))
	if err := firstError(t, rec); !strings.Contains(err.Error(), `the server refused the password of user "app": check password`) {
		t.Errorf("wrong password: error does not say so: %v", err)
	}
	closed := clustertest.FreePort(t)
	rec, _ = run(t, newStrategy(t, postgres.Config{Hostname: "127.0.0.1", Port: closed, Username: "app", Password: "x"}, "app@127.0.0.1"))
	if err := firstError(t, rec); !strings.Contains(err.Error(), "check that PostgreSQL is running at 127.0.0.1:"+strconv.Itoa(closed)) {
		t.Errorf("unreachable: error does not name the server: %v", err)
	}

	// app@127.0.0.1 (user app) sees app@127.0.0.2 (superuser) and connects.
	conn := clustertest.NewConnector("app@127.0.0.1")
	_, log, _ := servertest.RunTopology(t, newStrategy(t, postgres.Config{URL: pg.URL("app", "app-password")}, "app@127.0.0.1"), conn)
	run(t, newStrategy(t, postgres.Config{URL: pg.URL(servertest.PostgresUser, servertest.PostgresPassword)}, "app@127.0.0.2"))
	clustertest.Eventually(t, "app@127.0.0.2 connected", func() bool {
		_, ok := conn.AllConnected(clustertest.Nodes("app@127.0.0.2"))
		return ok
	})

	// The password changes and the server restarts: the reconnect fails
	// with the password named, and app@127.0.0.2 stays connected.
	pg.Exec("ALTER ROLE app PASSWORD 'changed'")
	pg.Restart()
	clustertest.Eventually(t, "a password discovery error", func() bool {
		return servertest.HasDiscoveryError(log, "check password")
	})
	if d := conn.Disconnects(); len(d) != 0 {
		t.Fatalf("the auth failure disconnected %v", d)
	}
}
