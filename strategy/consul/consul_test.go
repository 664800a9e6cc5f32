package consul

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/strategy"
)

// The tests serve Consul's documented /v1/health/service answer (a
// recorded response shape in testdata) from an httptest server: no Consul
// agent can be built here (see README.md), so these are unit tests of the
// client, not of a real Consul.

func recorded(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/health-service-app.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newStrategy(t *testing.T, cfg Config) *Strategy {
	t.Helper()
	cfg.Service, cfg.NodeBasename = "app", "app"
	s, err := New(cfg, strategy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiscoverRecordedAnswer(t *testing.T) {
	body := recorded(t)
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("X-Consul-Index", "23")
		w.Write(body)
	}))
	defer srv.Close()
	s := newStrategy(t, Config{Address: srv.URL, Token: "tok", Datacenter: "dc1", Tag: "beam"})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.Nodes()) != "[app@10.1.20.1 app@10.1.10.12]" {
		t.Errorf("nodes %v (want the service address, else the node's)", u.Nodes())
	}
	if len(u.Explain().Dropped) != 1 || u.Explain().Dropped[0].Candidate != "instance app-3" {
		t.Errorf("dropped %+v", u.Explain().Dropped)
	}
	if got.URL.Path != "/v1/health/service/app" || got.URL.Query().Get("passing") != "1" ||
		got.URL.Query().Get("dc") != "dc1" || got.URL.Query().Get("tag") != "beam" || got.URL.Query().Has("index") {
		t.Errorf("request %s", got.URL)
	}
	if got.Header.Get("X-Consul-Token") != "tok" {
		t.Errorf("token header %q", got.Header.Get("X-Consul-Token"))
	}
}

// TestBlockingQueries checks Run sends the last index and a wait, reports
// a new set only when the index moves, and resets an index that goes
// backwards.
func TestBlockingQueries(t *testing.T) {
	var mu sync.Mutex
	var indexes []string
	change := make(chan string) // the next answer's index
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		indexes = append(indexes, q.Get("index")+"/"+q.Get("wait"))
		mu.Unlock()
		idx := "10"
		if q.Get("index") != "" {
			select {
			case idx = <-change:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Consul-Index", idx)
		if idx == "11" {
			fmt.Fprint(w, `[{"Node":{"Address":"10.0.0.1"},"Service":{"ID":"a"}}]`)
			return
		}
		fmt.Fprint(w, `[{"Node":{"Address":"10.0.0.1"},"Service":{"ID":"a"}},{"Node":{"Address":"10.0.0.2"},"Service":{"ID":"b"}}]`)
	}))
	defer srv.Close()
	s := newStrategy(t, Config{Address: srv.URL, Wait: 2 * time.Second})
	rec := &clustertest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx, rec); close(done) }()
	defer func() { cancel(); <-done }()

	clustertest.Eventually(t, "the first set", func() bool { return rec.Len() == 1 })
	change <- "10" // wait ended, nothing changed: no report
	change <- "11" // one node left
	clustertest.Eventually(t, "the second set", func() bool { return rec.Len() == 2 })
	if u, _ := rec.Last(); u.Kind() != libcluster.KindComplete || fmt.Sprint(u.Nodes()) != "[app@10.0.0.1]" {
		t.Fatalf("second report %+v", u)
	}
	change <- "5" // backwards: reported, then the index resets
	clustertest.Eventually(t, "the third set", func() bool { return rec.Len() == 3 })
	clustertest.Eventually(t, "a query without index after the reset", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(indexes) >= 5
	})
	mu.Lock()
	got := strings.Join(indexes[:5], " ")
	mu.Unlock()
	if got != "/ 10/2000ms 10/2000ms 11/2000ms /" {
		t.Fatalf("index/wait of the queries: %s", got)
	}
}

// TestErrorsNamedAndNobodyDisconnected: a 403 after a good answer keeps
// the set (nobody disconnected) and names the ACL rule; an unreachable
// address names the address.
func TestErrorsNamedAndNobodyDisconnected(t *testing.T) {
	var mu sync.Mutex
	status, answer := http.StatusOK, `[{"Node":{"Address":"10.0.0.7"},"Service":{"ID":"a"}}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, a := status, answer
		mu.Unlock()
		w.Header().Set("X-Consul-Index", strconv.Itoa(int(time.Now().UnixNano())))
		w.WriteHeader(st)
		fmt.Fprint(w, a)
	}))
	defer srv.Close()
	conn := clustertest.NewConnector("app@10.0.0.1")
	var log clustertest.EventLog
	topo := &libcluster.Topology{Name: "consul", Strategy: newStrategy(t, Config{Address: srv.URL}), Connector: conn,
		Observers: []libcluster.Observer{log.Observe}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = topo.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	clustertest.Eventually(t, "app@10.0.0.7 connected", func() bool {
		_, ok := conn.AllConnected(clustertest.Nodes("app@10.0.0.7"))
		return ok
	})
	mu.Lock()
	status, answer = http.StatusForbidden, "Permission denied: token with AccessorID 'x' lacks permission 'service:read' on \"app\""
	mu.Unlock()
	clustertest.Eventually(t, "an ACL discovery error", func() bool {
		for _, ev := range log.Of(libcluster.EventDiscoveryError) {
			if strings.Contains(ev.Err.Error(), `give its policy service "app" { policy = "read" }`) {
				return true
			}
		}
		return false
	})
	if d := conn.Disconnects(); len(d) != 0 {
		t.Fatalf("an ACL error disconnected %v", d)
	}

	closed := "http://127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	_, err := newStrategy(t, Config{Address: closed}).Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "query "+closed+" failed (check address") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestFromParamsAndValidate(t *testing.T) {
	t.Setenv("CONSUL_HTTP_ADDR", "consul.local:8500")
	t.Setenv("CONSUL_HTTP_TOKEN", "envtoken")
	c, err := ConfigFromParams(strategy.NewParams(map[string]any{"service": "app", "node_basename": "app", "passing_only": false, "wait": "1m"}))
	if err != nil {
		t.Fatal(err)
	}
	if c != (Config{Service: "app", NodeBasename: "app", IncludeUnhealthy: true, Wait: time.Minute}) {
		t.Fatalf("config %+v", c)
	}
	s, err := New(c, strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Config(); d.Address != "http://consul.local:8500" || d.Token != "envtoken" {
		t.Errorf("environment not used: %+v", d)
	}
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"node_basename": "app"}, `"service": required`},
		{map[string]any{"service": "app"}, `"node_basename": required`},
		{map[string]any{"service": "a/b", "node_basename": "app"}, `"service": want a Consul service name`},
		{map[string]any{"service": "app", "node_basename": "app", "address": "ftp://x"}, `"address"`},
		{map[string]any{"service": "app", "node_basename": "app", "wait": "11m"}, `"wait": want a duration from 1s to 10m0s`},
		{map[string]any{"service": "app", "node_basename": "app", "tags": "x"}, `"tags"`},
	} {
		_, err := ConfigFromParams(strategy.NewParams(tc.params))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %s", tc.params, err, tc.want)
		}
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	s := newStrategy(t, Config{Address: "http://127.0.0.1:1"})
	for _, body := range []string{`{"not":"a list"}`, `[{"Node":{"Address":"bad host!"},"Service":{"ID":"x"}}]`, ``} {
		u, err := s.parse([]byte(body))
		if err == nil && len(u.Explain().Dropped) == 0 {
			t.Errorf("%q: accepted: %+v", body, u)
		}
	}
}
