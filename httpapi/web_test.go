package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/strategy/gossip"
)

func TestEventLogKeepsTheLatest(t *testing.T) {
	l := NewEventLog(3)
	for _, n := range []string{"a@h", "b@h", "c@h", "d@h", "e@h"} {
		l.Observe(libcluster.Event{Kind: libcluster.EventNodeUp, Topology: "t", Node: libcluster.Node(n)})
	}
	evs, _ := l.Since(0)
	if len(evs) != 3 || evs[0].ID != 3 || evs[2].ID != 5 || evs[2].Node != "e@h" || evs[0].Kind != "node_up" {
		t.Fatalf("Since(0) = %+v, want events 3..5", evs)
	}
	if evs, _ := l.Since(4); len(evs) != 1 || evs[0].ID != 5 {
		t.Fatalf("Since(4) = %+v, want event 5", evs)
	}
}

func TestEventStream(t *testing.T) {
	l := NewEventLog(0)
	l.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "t", Node: "a@h"})
	l.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "t", Node: "b@h", Err: errors.New("refused, cookie SECRETCOOKIE")})
	conn := &libcluster.ConnectorFuncs{SelfNode: "self@h"}
	srv := httptest.NewServer(Handler(Source{Connector: conn, Web: &Web{Events: l, Redact: []string{"SECRETCOOKIE"}}}))
	defer srv.Close()
	defer l.Close() // ends the stream, so srv.Close does not wait for it

	req, _ := http.NewRequest("GET", srv.URL+"/api/events", nil)
	req.Header.Set("Last-Event-ID", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() EventView {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev EventView
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatalf("event data %q: %v", data, err)
				}
				return ev
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return EventView{}
	}
	ev := next() // event 1 was seen: the stream starts at 2
	if ev.ID != 2 || ev.Kind != "connect_failed" || ev.Error != "refused, cookie [redacted]" {
		t.Fatalf("first event = %+v", ev)
	}
	l.Observe(libcluster.Event{Kind: libcluster.EventNodeDown, Topology: "t", Node: "a@h", Err: errors.New("net_tick_timeout")})
	if ev := next(); ev.ID != 3 || ev.Kind != "node_down" || ev.Error != "net_tick_timeout" {
		t.Fatalf("live event = %+v", ev)
	}
}

func TestDiscoveryLog(t *testing.T) {
	var dl DiscoveryLog
	top := &libcluster.Topology{
		Name:      "dns",
		Connector: &libcluster.ConnectorFuncs{SelfNode: "app@10.0.0.1"},
		Strategy: libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
			r.Report(libcluster.Complete(clustertest.Nodes("app@10.0.0.2", "app@10.0.0.1")).WithDropped([]libcluster.Dropped{{Candidate: "::1%eth0", Reason: "zone"}}).WithSource("DNS A app.test"))
			r.Report(libcluster.Failed(errors.New("NXDOMAIN")))
			return nil
		}),
	}
	dl.Wrap(top)
	var got []libcluster.Update
	if err := top.Strategy.Run(context.Background(), clustertest.ReporterFunc(func(u libcluster.Update) { got = append(got, u) })); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("the wrapped strategy passed %d updates on, want 2", len(got))
	}
	d, ok := dl.Get("dns")
	if !ok || d.Source != "DNS A app.test" || !d.Complete || d.Reports != 2 || strings.Join(d.Kept, ",") != "app@10.0.0.2" || d.Error != "NXDOMAIN" {
		t.Fatalf("discovery = %+v", d)
	}
	if len(d.Dropped) != 2 || d.Dropped[0].Reason != "this node itself" || d.Dropped[1] != (Drop{"::1%eth0", "zone"}) {
		t.Fatalf("dropped = %+v", d.Dropped)
	}
}

// viewServer serves v as a node's page.
func viewServer(t *testing.T, v View) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/view" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestJoinMesh(t *testing.T) {
	b := viewServer(t, View{Self: "b@h", Nodes: []string{"a@h", "c@h"}})
	c := viewServer(t, View{Self: "c@h", Nodes: []string{"a@h"}}) // does not list b: b–c is one-sided
	wrong := viewServer(t, View{Self: "x@h", Nodes: nil})
	pages := map[libcluster.Node]string{"b@h": b.URL + "/", "c@h": c.URL + "/", "d@h": wrong.URL + "/"}
	self := View{Self: "a@h", Nodes: []string{"b@h", "c@h", "d@h"},
		Topologies: []TopologyView{{Desired: []string{"b@h", "c@h", "d@h", "e@h"}}}}
	m := JoinMesh(context.Background(), http.DefaultClient, self, func(n libcluster.Node) string { return pages[n] })

	state := map[string]MeshNode{}
	for _, n := range m.Nodes {
		state[n.Name] = n
	}
	if m.Nodes[0].Name != "a@h" || state["a@h"].State != "self" || state["b@h"].View != "ok" || state["e@h"].State != "down" ||
		!strings.Contains(state["d@h"].View, "belongs to x@h") {
		t.Fatalf("nodes = %+v", m.Nodes)
	}
	var got []string
	for _, l := range m.Links {
		s := l.A + "-" + l.B
		if l.Direct {
			s += " direct"
		}
		if l.OneSided {
			s += " one-sided"
		}
		got = append(got, s)
	}
	want := "a@h-b@h direct,a@h-c@h direct,a@h-d@h direct,b@h-c@h one-sided"
	if strings.Join(got, ",") != want {
		t.Fatalf("links = %v\nwant    %s", got, want)
	}
}

func TestWebPage(t *testing.T) {
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@h"}
	status := []libcluster.TopologyStatus{{Name: "one", Running: true, Desired: clustertest.Nodes("b@h"), LastError: errors.New("auth with SECRETCOOKIE failed")}}
	srv := httptest.NewServer(Handler(Source{Connector: conn, Status: func() []libcluster.TopologyStatus { return status },
		Web: &Web{Redact: []string{"SECRETCOOKIE"}, Topologies: map[string]TopologyInfo{"one": {Strategy: "epmd"}}}}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") {
		t.Fatalf("page: %s, CSP %q", resp.Status, csp)
	}
	if n := PageSize(); n > 40<<10 {
		t.Errorf("the page is %d bytes; keep it under 40 KiB", n)
	}
	_, body := get(t, srv.URL+"/api/view")
	var v View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "SECRETCOOKIE") || v.Topologies[0].LastError != "auth with [redacted] failed" || v.Topologies[0].Strategy != "epmd" ||
		strings.Join(v.Topologies[0].Missing, ",") != "b@h" || v.Ready {
		t.Fatalf("view = %s", body)
	}
	for _, p := range []string{"/", "/api/view", "/api/mesh", "/api/events"} {
		resp, err := http.Post(srv.URL+p, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %s, want 405: the page is read-only", p, resp.Status)
		}
	}
	if code, _ := get(t, srv.URL+"/nothing"); code != 404 {
		t.Errorf("GET /nothing = %d, want 404", code)
	}
}

// statsStrategy stands in for a gossip strategy's counters.
type statsStrategy struct{ libcluster.StrategyFunc }

func (statsStrategy) Stats() gossip.Stats {
	return gossip.Stats{Received: 7, Accepted: 4, Sent: 3, Dropped: map[gossip.DropReason]uint64{gossip.DropAuth: 2, gossip.DropReplay: 1}}
}

func TestWebShowsGossipDrops(t *testing.T) {
	var dl DiscoveryLog
	top := &libcluster.Topology{Name: "g", Connector: &libcluster.ConnectorFuncs{SelfNode: "a@h"},
		Strategy: statsStrategy{func(ctx context.Context, r libcluster.Reporter) error { return nil }}}
	dl.Wrap(top)
	wb := &Web{Discovery: &dl}
	v := wb.View(Source{Connector: top.Connector, Status: func() []libcluster.TopologyStatus { return []libcluster.TopologyStatus{{Name: "g"}} }})
	g := v.Topologies[0].Gossip
	if g == nil || g.DroppedTotal != 3 || g.Dropped["auth"] != 2 || g.Dropped["replay"] != 1 || g.Received != 7 {
		t.Fatalf("gossip = %+v", g)
	}
}
