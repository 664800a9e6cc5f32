package erlanghosts

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/strategy"
)

func sorted(ns ...string) []libcluster.Node {
	out := make([]libcluster.Node, len(ns))
	for i, n := range ns {
		out[i] = libcluster.Node(n)
	}
	slices.Sort(out)
	return out
}

func sortedNodes(ns []libcluster.Node) []libcluster.Node {
	out := slices.Clone(ns)
	slices.Sort(out)
	return out
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newStrategy(t *testing.T, cfg map[string]any, self libcluster.Node) *Strategy {
	t.Helper()
	s, err := fromParams(strategy.NewParams(cfg), self)
	if err != nil {
		t.Fatalf("fromParams: %v", err)
	}
	return s
}

// fromParams is what the registry does: decode the keys, then New.
func fromParams(p *strategy.Params, self libcluster.Node) (*Strategy, error) {
	c, err := ConfigFromParams(p)
	if err != nil {
		return nil, err
	}
	return New(c, strategy.Options{Self: self})
}

func droppedReason(u libcluster.Update, cand string) string {
	for _, d := range u.Explain().Dropped {
		if d.Candidate == cand {
			return d.Reason
		}
	}
	return ""
}

// TestFindsNodesOnHosts runs the real epmd daemon on a test port (bound to
// 127.0.0.1) with two real erl nodes and two Go registrations, and a
// .hosts.erlang naming '127.0.0.1' and localhost (both reach that EPMD), a
// host whose EPMD port accepts but never answers, and one where nothing
// listens. Every node is found under both host spellings, and the silent
// host delays the round by no more than connect_timeout.
//
// The connector here records connects instead of dialling;
// TestConnectsThroughDist connects such nodes with the real erldist.Node.
func TestFindsNodesOnHosts(t *testing.T) {
	port := startDebianEPMD(t)
	startErl(t, port, "erl_a")
	startErl(t, port, "erl_b")
	registerGo(t, port, "go_1")
	registerGo(t, port, "go_2")
	registerGo(t, port, "self")
	erltest.WaitNames(t, port, "the erl nodes", erltest.HasAll("erl_a", "erl_b"))
	startSilent(t, "127.0.0.77:"+strconv.Itoa(port))

	path := writeFile(t, filepath.Join(t.TempDir(), "hosts"), `% test cluster
'127.0.0.1'.
localhost.
'127.0.0.77'.   % accepts, never answers
"127.0.0.78".   % nothing listens
'127.0.0.1'.    % repeated: asked once
`)
	const connectTimeout = time.Second
	self := libcluster.Node("self@127.0.0.1")
	s := newStrategy(t, map[string]any{
		"path": path, "epmd_port": port, "connect_timeout": "1s", "polling_interval": "100ms",
	}, self)

	var want []libcluster.Node
	for _, n := range []string{"erl_a", "erl_b", "go_1", "go_2"} {
		want = append(want, libcluster.Node(n+"@127.0.0.1"), libcluster.Node(n+"@localhost"))
	}
	want = append(want, "self@localhost") // another spelling is another node
	slices.Sort(want)

	start := time.Now()
	u, err := s.Discover(context.Background())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedNodes(u.Nodes()); !slices.Equal(got, want) {
		t.Errorf("nodes %v\nwant %v", got, want)
	}
	if took < connectTimeout/2 || took > connectTimeout+3*time.Second {
		t.Errorf("round took %v; want about connect_timeout (%v): the silent host waited for, the others not delayed", took, connectTimeout)
	}
	if r := droppedReason(u, "127.0.0.77"); !strings.Contains(r, "deadline exceeded") && !strings.Contains(r, "timeout") {
		t.Errorf("silent host dropped with %q, want a timeout", r)
	}
	if r := droppedReason(u, "127.0.0.78"); !strings.Contains(r, "refused") {
		t.Errorf("closed host dropped with %q, want connection refused", r)
	}
	if r := droppedReason(u, string(self)); r != "this node" {
		t.Errorf("self dropped with %q, want \"this node\"", r)
	}
	if !strings.Contains(u.Explain().Source, path) || !strings.Contains(u.Explain().Source, "4 hosts") {
		t.Errorf("source %q, want the path and 4 hosts", u.Explain().Source)
	}

	conn := clustertest.NewConnector(self)
	topo := &libcluster.Topology{Name: "hosts", Strategy: s, Connector: conn}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = topo.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	clustertest.Eventually(t, "every node connected through the topology", func() bool {
		return slices.Equal(topo.Status().Connected, want)
	})
}

// TestSearchOrderAndReread checks erl's search order (current directory,
// then home), that the file is read again each round, and the errors for
// a missing or malformed file.
func TestSearchOrderAndReread(t *testing.T) {
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	epmdtest.Serve(t, "127.0.0.2:"+strconv.Itoa(port))
	epmdtest.Register(t, "127.0.0.1", port, "one")
	epmdtest.Register(t, "127.0.0.2", port, "two")

	cwd, home := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	t.Setenv("HOME", home)
	s := newStrategy(t, map[string]any{"epmd_port": port}, "self@127.0.0.1")
	ctx := context.Background()

	_, err := s.Discover(ctx)
	for _, w := range []string{filepath.Join(cwd, FileName), filepath.Join(home, FileName), "set path"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("no file: error %v, want it to contain %q", err, w)
		}
	}

	writeFile(t, filepath.Join(home, FileName), "'127.0.0.2'.\n")
	u, err := s.Discover(ctx)
	if err != nil || !slices.Equal(u.Nodes(), sorted("two@127.0.0.2")) || !strings.Contains(u.Explain().Source, home) {
		t.Fatalf("home file: %v %q %v", u.Nodes(), u.Explain().Source, err)
	}

	writeFile(t, filepath.Join(cwd, FileName), "'127.0.0.1'.\n")
	u, err = s.Discover(ctx)
	if err != nil || !slices.Equal(u.Nodes(), sorted("one@127.0.0.1")) {
		t.Fatalf("current directory first: %v %v", u.Nodes(), err)
	}

	writeFile(t, filepath.Join(cwd, FileName), "'127.0.0.1'.\n'127.0.0.2'.\n")
	u, err = s.Discover(ctx)
	if err != nil || !slices.Equal(sortedNodes(u.Nodes()), sorted("one@127.0.0.1", "two@127.0.0.2")) {
		t.Fatalf("edited file not re-read: %v %v", u.Nodes(), err)
	}

	writeFile(t, filepath.Join(cwd, FileName), "'127.0.0.1'.\n'127.0.0.2' x.\n")
	_, err = s.Discover(ctx)
	if err == nil || !strings.Contains(err.Error(), FileName+": line 2, column 13: want '.' after the host") {
		t.Errorf("syntax error: %v", err)
	}

	writeFile(t, filepath.Join(cwd, FileName), "'bad host'.\n'127.0.0.1'.\n")
	u, err = s.Discover(ctx)
	if err != nil || !slices.Equal(u.Nodes(), sorted("one@127.0.0.1")) || !strings.Contains(droppedReason(u, "bad host"), "line 1") {
		t.Errorf("invalid host: %v %+v %v; want it dropped with its line", u.Nodes(), u.Explain().Dropped, err)
	}

	writeFile(t, filepath.Join(cwd, FileName), "% nothing\n")
	if _, err = s.Discover(ctx); err == nil || !strings.Contains(err.Error(), "lists no usable host") {
		t.Errorf("empty file: %v", err)
	}
}

// TestRemovalRules checks both modes: additive by default, and with
// remove_unregistered complete sets that drop unregistered nodes but keep
// the nodes of a host that stopped answering.
func TestRemovalRules(t *testing.T) {
	port, stop1 := epmdtest.Serve(t, "127.0.0.1:0")
	_, stop2 := epmdtest.Serve(t, "127.0.0.2:"+strconv.Itoa(port))
	a := epmdtest.Register(t, "127.0.0.1", port, "a")
	epmdtest.Register(t, "127.0.0.1", port, "b")
	epmdtest.Register(t, "127.0.0.2", port, "c")
	path := writeFile(t, filepath.Join(t.TempDir(), "hosts"), "'127.0.0.1'.\n'127.0.0.2'.\n")
	cfg := map[string]any{"path": path, "epmd_port": port, "polling_interval": 20, "remove_unregistered": true}
	s := newStrategy(t, cfg, "self@127.0.0.1")

	updates := make(chan libcluster.Update, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) {
			select {
			case <-updates: // keep only the latest
			default:
			}
			updates <- u
		}))
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor := func(what string, want ...string) libcluster.Update {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case u := <-updates:
				if u.Err() == nil && slices.Equal(sortedNodes(u.Nodes()), sorted(want...)) {
					if u.Kind() != libcluster.KindComplete {
						t.Errorf("%s: additive update with remove_unregistered", what)
					}
					return u
				}
			case <-deadline:
				t.Fatalf("timed out waiting for %s: %v", what, want)
			}
		}
	}
	waitFor("all three", "a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.2")
	stop2()
	waitFor("c kept while its host is silent", "a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.2")
	a.Close()
	u := waitFor("a removed after it unregistered", "b@127.0.0.1", "c@127.0.0.2")
	if !strings.Contains(droppedReason(u, "127.0.0.2"), "EPMD did not answer") {
		t.Errorf("silent host not listed as dropped: %+v", u.Explain().Dropped)
	}
	stop1()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.Err() != nil {
				if !strings.Contains(u.Err().Error(), "no host in "+path+" answered") {
					t.Errorf("all hosts down: %v", u.Err())
				}
				// The default mode never removes: same strategy, additive.
				s2 := newStrategy(t, map[string]any{"path": path, "epmd_port": port}, "self@127.0.0.1")
				if s2.cfg.RemoveUnregistered {
					t.Error("remove_unregistered defaults to true")
				}
				return
			}
		case <-deadline:
			t.Fatal("no error update once every host is down")
		}
	}
}

// TestAdditiveByDefault shows that without remove_unregistered a node that
// leaves stays desired in a topology.
func TestAdditiveByDefault(t *testing.T) {
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	a := registerGo(t, port, "a")
	registerGo(t, port, "b")
	path := writeFile(t, filepath.Join(t.TempDir(), "hosts"), "'127.0.0.1'.\n")
	s := newStrategy(t, map[string]any{"path": path, "epmd_port": port, "polling_interval": 20}, "self@127.0.0.1")
	var mu sync.Mutex
	var reports []libcluster.Update
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) { mu.Lock(); reports = append(reports, u); mu.Unlock() }))
	}()
	t.Cleanup(func() { cancel(); <-done })
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(reports) }
	clustertest.Eventually(t, "a first report", func() bool { return count() > 0 })
	a.Close()
	erltest.WaitNames(t, port, "a to unregister", func(ns []string) bool { return !slices.Contains(ns, "a") })
	n := count()
	clustertest.Eventually(t, "three more rounds", func() bool { return count() >= n+3 })
	mu.Lock()
	defer mu.Unlock()
	for _, u := range reports {
		if u.Kind() == libcluster.KindComplete || u.Err() != nil {
			t.Fatalf("default mode report %+v; want additive updates", u)
		}
	}
	if last := reports[len(reports)-1]; !slices.Equal(last.Nodes(), sorted("b@127.0.0.1")) {
		t.Errorf("last report %v, want only b (a is simply not seen again; nothing removes it)", last.Nodes())
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"epmd_port": 0}, `config key "epmd_port"`},
		{map[string]any{"connect_timeout": "infinity"}, `config key "connect_timeout"`},
		{map[string]any{"polling_interval": -5}, `config key "polling_interval"`},
		{map[string]any{"timeout": 500, "polling_interval": 500}, `config key "timeout": set together with polling_interval`},
		{map[string]any{"timeout": "soon"}, `config key "timeout"`},
		{map[string]any{"path": 3}, `config key "path"`},
		{map[string]any{"remove_unregistered": 3}, `config key "remove_unregistered"`},
		{map[string]any{"pth": "x"}, `did you mean "path"`},
	} {
		_, err := fromParams(strategy.NewParams(c.cfg), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %v: error %v, want one containing %s", c.cfg, err, c.want)
		}
	}
	t.Setenv("ERL_EPMD_PORT", "4370")
	for _, c := range []struct {
		cfg  map[string]any
		poll time.Duration
	}{
		{nil, 5 * time.Second},
		{map[string]any{"timeout": 500}, 500 * time.Millisecond},
		{map[string]any{"timeout": ":infinity"}, 0},
		{map[string]any{"polling_interval": "1m"}, time.Minute},
	} {
		s := newStrategy(t, c.cfg, "")
		if s.cfg.PollingInterval != c.poll || s.cfg.EPMDPort != 4370 || s.cfg.ConnectTimeout != DefaultConnectTimeout {
			t.Errorf("config %v: %+v, want polling interval %v", c.cfg, s, c.poll)
		}
	}
	for _, name := range []string{"erlanghosts", "Cluster.Strategy.ErlangHosts", "erlang_hosts"} {
		if info, ok := strategy.Lookup(name); !ok || info.Name != "erlanghosts" {
			t.Errorf("Lookup(%q) = %v, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("erlanghosts")
	st, err := info.Build(strategy.Args{Params: strategy.NewParams(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Error("does not implement strategy.Discoverer")
	}
	if s, err := New(Config{Path: "h"}, strategy.Options{}); err != nil || s.cfg.EPMDPort != 4370 || s.cfg.ConnectTimeout != DefaultConnectTimeout || s.cfg.PollingInterval != 0 {
		t.Errorf("struct literal: %+v, %v; want EPMD port and connect timeout defaulted, one round", s, err)
	}
	if _, err := New(Config{ConnectTimeout: -time.Second}, strategy.Options{}); err == nil || !strings.Contains(err.Error(), `config key "connect_timeout"`) {
		t.Errorf("negative connect timeout: err = %v", err)
	}
}

// TestOneRound checks timeout: infinity: the hosts are asked until one
// round succeeds, then never again. A polling strategy on the same file
// runs alongside as the clock: while it reports five rounds, the one-round
// strategy must report nothing more.
func TestOneRound(t *testing.T) {
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	registerGo(t, port, "a")
	path := writeFile(t, filepath.Join(t.TempDir(), "hosts"), "'127.0.0.1'.\n")
	once := newStrategy(t, map[string]any{"path": path, "epmd_port": port, "timeout": "infinity"}, "self@127.0.0.1")
	clock := newStrategy(t, map[string]any{"path": path, "epmd_port": port, "timeout": 20}, "self@127.0.0.1")
	got := make(chan libcluster.Update, 10)
	ticks := make(chan libcluster.Update, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- once.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) { got <- u })) }()
	u := <-got
	if u.Err() != nil || !slices.Equal(u.Nodes(), sorted("a@127.0.0.1")) {
		t.Fatalf("first round: %+v", u)
	}
	go func() {
		done <- clock.Run(ctx, clustertest.ReporterFunc(func(u libcluster.Update) {
			select {
			case ticks <- u:
			case <-ctx.Done():
			}
		}))
	}()
	for range 5 {
		<-ticks
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
	if len(got) != 0 {
		t.Errorf("%d more reports after the one round", len(got))
	}
}
