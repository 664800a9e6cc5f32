package rancher

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/strategy"
)

// metadata is an httptest server that answers like the Rancher metadata
// service; the answer can be changed while it runs.
type metadata struct {
	mu     sync.Mutex
	status int
	body   string
	hits   int
	accept []string
}

func (m *metadata) set(status int, body string) {
	m.mu.Lock()
	m.status, m.body = status, body
	m.mu.Unlock()
}

func (m *metadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	status, body := m.status, m.body
	m.hits++
	m.accept = append(m.accept, r.Header.Get("Accept"))
	m.mu.Unlock()
	if r.URL.Path != "/latest/self/service" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (m *metadata) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

// serviceJSON is a service document as Rancher 1.6 serves it (trimmed).
func serviceJSON(containers ...string) string {
	return `{"name":"app","stack_name":"demo","kind":"service","scale":3,
"containers":[` + strings.Join(containers, ",") + `],"ports":[],"labels":{}}`
}

func ctr(name string, ips ...string) string {
	q := make([]string, len(ips))
	for i, ip := range ips {
		q[i] = `"` + ip + `"`
	}
	primary := ""
	if len(ips) > 0 {
		primary = ips[0]
	}
	return `{"name":"` + name + `","primary_ip":"` + primary + `","ips":[` + strings.Join(q, ",") + `],"state":"running","health_state":"healthy"}`
}

func newStrategy(t testing.TB, cfg map[string]any) *Strategy {
	t.Helper()
	s, err := strategy.Use(ConfigFromParams, New)(strategy.Args{Params: strategy.NewParams(cfg)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return s.(*Strategy)
}

// TestTopologyFollowsMetadata runs the strategy in a Topology against a
// metadata server whose answer changes: the node set follows it, and
// server errors and bad JSON keep the set (no disconnects) while raising
// discovery-error events.
func TestTopologyFollowsMetadata(t *testing.T) {
	md := &metadata{}
	md.set(200, serviceJSON(ctr("app_1", "10.42.0.1"), ctr("app_2", "10.42.0.2"), ctr("app_3")))
	srv := httptest.NewServer(md)
	t.Cleanup(srv.Close)

	s := newStrategy(t, map[string]any{
		"node_basename":    "app",
		"metadata_url":     srv.URL + "/latest/self/service",
		"polling_interval": 20,
	})
	conn := clustertest.NewConnector("app@10.42.0.99")
	var evMu sync.Mutex
	var discErrs []error
	topo := &libcluster.Topology{
		Name: "rancher", Strategy: s, Connector: conn,
		Observers: []libcluster.Observer{func(e libcluster.Event) {
			if e.Kind == libcluster.EventDiscoveryError {
				evMu.Lock()
				discErrs = append(discErrs, e.Err)
				evMu.Unlock()
			}
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = topo.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	connected := func(want ...string) func() bool {
		return func() bool { return slices.Equal(topo.Status().Connected, clustertest.Nodes(want...)) }
	}
	clustertest.Eventually(t, "app@10.42.0.1 and .2 connected", connected("app@10.42.0.1", "app@10.42.0.2"))

	md.set(200, serviceJSON(ctr("app_2", "10.42.0.2"), ctr("app_4", "10.42.0.4")))
	clustertest.Eventually(t, "set to follow the new answer", connected("app@10.42.0.2", "app@10.42.0.4"))
	if got := conn.Disconnects(); !slices.Equal(got, clustertest.Nodes("app@10.42.0.1")) {
		t.Fatalf("disconnects = %v, want [app@10.42.0.1]", got)
	}

	errCount := func() int { evMu.Lock(); defer evMu.Unlock(); return len(discErrs) }
	for _, bad := range []struct {
		status int
		body   string
		want   string
	}{
		{500, "internal error", "500"},
		{200, `{"containers": [`, "invalid JSON"},
		{200, `{"name":"app"}`, "no containers list"},
	} {
		before, hits := errCount(), md.count()
		md.set(bad.status, bad.body)
		clustertest.Eventually(t, "a discovery error for "+bad.want, func() bool { return errCount() > before })
		// Let a few more failing polls pass to show the set is kept.
		clustertest.Eventually(t, "three more polls", func() bool { return md.count() >= hits+3 })
		evMu.Lock()
		last := discErrs[len(discErrs)-1]
		evMu.Unlock()
		if !strings.Contains(last.Error(), bad.want) {
			t.Errorf("discovery error %q does not mention %q", last, bad.want)
		}
		if st := topo.Status(); !slices.Equal(st.Desired, clustertest.Nodes("app@10.42.0.2", "app@10.42.0.4")) || st.LastError == nil {
			t.Fatalf("after %q: desired %v, last error %v; want the last good set kept and the error shown", bad.want, st.Desired, st.LastError)
		}
		if got := conn.Disconnects(); len(got) != 1 {
			t.Fatalf("after %q: disconnects %v; an error must not disconnect anyone", bad.want, got)
		}
	}

	md.set(200, serviceJSON(ctr("app_4", "10.42.0.4")))
	clustertest.Eventually(t, "recovery after errors", connected("app@10.42.0.4"))
	if st := topo.Status(); st.LastError != nil {
		t.Errorf("LastError = %v after a good answer, want nil", st.LastError)
	}
	md.mu.Lock()
	for _, a := range md.accept {
		if a != "application/json" {
			t.Errorf("Accept header %q, want application/json", a)
		}
	}
	md.mu.Unlock()
}

func TestDiscover(t *testing.T) {
	md := &metadata{}
	srv := httptest.NewServer(md)
	t.Cleanup(srv.Close)
	s := newStrategy(t, map[string]any{"node_basename": "app", "metadata_url": srv.URL + "/latest/self/service"})

	md.set(200, serviceJSON(
		ctr("a", "10.0.0.1", "10.0.0.9"),
		`{"name":"b","primary_ip":"10.0.0.2","ips":[]}`,
		`{"name":"c","ips":["fd00::0001"]}`,
		`{"name":"d"}`,
		`{"name":"e","ips":["not-an-ip"]}`,
		`{"ips":["10.0.0.1"]}`,
	))
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := clustertest.Nodes("app@10.0.0.1", "app@10.0.0.2", "app@fd00::1"); !slices.Equal(u.Nodes(), want) {
		t.Errorf("nodes %v, want %v", u.Nodes(), want)
	}
	if len(u.Explain().Dropped) != 2 || u.Explain().Dropped[0].Candidate != "d" || !strings.Contains(u.Explain().Dropped[0].Reason, "no IP address") ||
		u.Explain().Dropped[1].Candidate != "e" || !strings.Contains(u.Explain().Dropped[1].Reason, "not an IP address") {
		t.Errorf("dropped %+v, want d (no IP) and e (not an IP)", u.Explain().Dropped)
	}
	if !strings.Contains(u.Explain().Source, srv.URL) {
		t.Errorf("source %q does not name the URL", u.Explain().Source)
	}

	md.set(200, `{"containers": []}`)
	if u, err := s.Discover(context.Background()); err != nil || len(u.Nodes()) != 0 {
		t.Errorf("empty containers: %v, %v; want an empty set", u.Nodes(), err)
	}

	for _, c := range []struct{ body, want string }{
		{`[1,2]`, "invalid JSON"},
		{`{"containers": {"a":1}}`, "invalid JSON"},
		{`{"containers": [{"ips": [1]}]}`, "invalid JSON"},
		{`{"containers": []} {}`, "trailing data"},
		{`{"containers": null}`, "no containers list"},
		{`{"containers": [` + strings.Repeat(`{"ips":["10.1.1.1"]},`, MaxBodyBytes/20) + `{}]}`, "larger than"},
	} {
		md.set(200, c.body)
		_, err := s.Discover(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("body %.40q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// TestTimeout shows a metadata server that never answers cannot hang the
// strategy: the request gives up after timeout.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	s := newStrategy(t, map[string]any{"node_basename": "app", "metadata_url": srv.URL, "timeout": "200ms"})
	start := time.Now()
	_, err := s.Discover(context.Background())
	took := time.Since(start)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline exceeded", err)
	}
	if took > 5*time.Second {
		t.Fatalf("request took %v, want about 200ms", took)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, `"node_basename": required`},
		{map[string]any{"node_basename": ""}, `"node_basename"`},
		{map[string]any{"node_basename": "a b"}, `"node_basename"`},
		{map[string]any{"node_basename": "app", "metadata_url": "rancher-metadata/latest"}, `"metadata_url"`},
		{map[string]any{"node_basename": "app", "polling_interval": "soon"}, `"polling_interval"`},
		{map[string]any{"node_basename": "app", "timeout": 0}, `"timeout"`},
		{map[string]any{"node_basename": "app", "polling_intervall": 10}, `did you mean "polling_interval"`},
	} {
		_, err := ConfigFromParams(strategy.NewParams(c.cfg))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %v: error %v, want one containing %s", c.cfg, err, c.want)
		}
	}
	s := newStrategy(t, map[string]any{"node_basename": "app"})
	if s.cfg.MetadataURL != DefaultMetadataURL || s.cfg.PollingInterval != 5*time.Second || s.cfg.Timeout != 5*time.Second {
		t.Errorf("defaults: %+v", s)
	}
}

func TestRegistered(t *testing.T) {
	for _, name := range []string{"rancher", "Cluster.Strategy.Rancher", "Elixir.Cluster.Strategy.Rancher"} {
		info, ok := strategy.Lookup(name)
		if !ok || info.Name != "rancher" {
			t.Fatalf("Lookup(%q) = %v, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("rancher")
	st, err := info.Build(strategy.Args{Params: strategy.NewParams(map[string]any{"node_basename": "app"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Error("rancher strategy does not implement strategy.Discoverer")
	}
}
