package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHandler(t *testing.T) {
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@127.0.0.1", ListFunc: func() []libcluster.Node {
		return []libcluster.Node{"c@127.0.0.1", "b@127.0.0.1"}
	}}
	statuses := []libcluster.TopologyStatus{
		{Name: "one", Desired: []libcluster.Node{"b@127.0.0.1"}, Connected: []libcluster.Node{"b@127.0.0.1"}, Ready: true},
		{Name: "two", Desired: []libcluster.Node{"c@127.0.0.1", "d@127.0.0.1"}, Connected: []libcluster.Node{"c@127.0.0.1"}},
	}
	m := metrics.New()
	m.Track(func() []libcluster.TopologyStatus { return statuses })
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "one"})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "two"})
	srv := httptest.NewServer(Handler(Source{Connector: conn, Status: func() []libcluster.TopologyStatus { return statuses }, Metrics: m}))
	defer srv.Close()

	code, body := get(t, srv.URL+"/members")
	var mem Members
	if err := json.Unmarshal([]byte(body), &mem); err != nil || code != 200 {
		t.Fatalf("members: %d %q %v", code, body, err)
	}
	if mem.Self != "a@127.0.0.1" || strings.Join(mem.Nodes, ",") != "b@127.0.0.1,c@127.0.0.1" || !mem.Topologies["one"].Ready || mem.Topologies["two"].Ready || len(mem.Topologies["two"].Desired) != 2 {
		t.Errorf("members = %+v", mem)
	}
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "two (1 of 2") || strings.Contains(body, "one") {
		t.Errorf("readyz: %d %q", code, body)
	}
	_, body = get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`libcluster_connects_total{topology="one"} 1`,
		`libcluster_connect_failures_total{topology="two"} 2`,
		`libcluster_connected_nodes{topology="two"} 1`,
		`libcluster_desired_nodes{topology="two"} 2`,
		`libcluster_topology_ready{topology="one"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "one"})
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, `libcluster_connects_total{topology="one"} 2`) {
		t.Errorf("connects did not count the second event:\n%s", body)
	}
	statuses[1].Ready = true
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("readyz after ready: %d %q", code, body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@127.0.0.1"}
	srv := httptest.NewServer(Handler(Source{Connector: conn}))
	if code, _ := get(t, srv.URL+"/metrics"); code != 404 {
		t.Errorf("/metrics without Metrics: %d, want 404", code)
	}
	srv.Close()

	m := metrics.New()
	m.TrackProcess()
	m.Observe(libcluster.Event{Kind: libcluster.EventNodeDown, Topology: "t"})
	srv = httptest.NewServer(Handler(Source{Connector: conn, Metrics: m, Web: &Web{}}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{"# TYPE libcluster_node_down_total counter\nlibcluster_node_down_total{topology=\"t\"} 1\n", "\ngo_goroutines "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}

	_, body := get(t, srv.URL+"/api/view")
	var v View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	figs := map[string]Figure{}
	for _, f := range v.Figures {
		figs[f.Name] = f
	}
	if f := figs["libcluster_node_down_total"]; f.Labels != `topology="t"` || f.Value != 1 {
		t.Errorf("figure libcluster_node_down_total = %+v", f)
	}
	if f, ok := figs["go_goroutines"]; !ok || f.Value < 1 {
		t.Errorf("figure go_goroutines = %+v, %v", f, ok)
	}
	if _, ok := figs["go_threads"]; ok {
		t.Errorf("figures show go_threads, not one of the process figures the page lists")
	}
}

type failing struct{}

func (failing) WriteText(io.Writer) error  { return errors.New("status source gone") }
func (failing) Snapshot() []metrics.Sample { return nil }

func TestMetricsError(t *testing.T) {
	srv := httptest.NewServer(Handler(Source{Connector: &libcluster.ConnectorFuncs{SelfNode: "a@h"}, Metrics: failing{}}))
	defer srv.Close()
	if code, body := get(t, srv.URL+"/metrics"); code != 500 || !strings.Contains(body, "status source gone") {
		t.Errorf("/metrics with a failing source: %d %q", code, body)
	}
}

func TestReadyzHealth(t *testing.T) {
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@127.0.0.1"}
	var broken error
	srv := httptest.NewServer(Handler(Source{Connector: conn, Health: func() error { return broken }}))
	defer srv.Close()
	if code, body := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("healthy: %d %q", code, body)
	}
	broken = errors.New("dist: the distribution listener on port 1 failed")
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "listener on port 1 failed") {
		t.Errorf("broken connector: %d %q", code, body)
	}
}
