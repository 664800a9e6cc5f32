package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

// drops is a strategy that counts drops, like gossip.
type drops struct{ m map[string]uint64 }

func (d drops) Run(ctx context.Context, r libcluster.Reporter) error { <-ctx.Done(); return nil }
func (d drops) DroppedByReason() map[string]uint64                   { return d.m }

type plain struct{}

func (plain) Run(ctx context.Context, r libcluster.Reporter) error { <-ctx.Done(); return nil }

// values maps "name{labels}" (labels as written, unescaped) to each sample's value.
func values(samples []Sample) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		var ls []string
		for _, l := range s.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		out[s.Name+"{"+strings.Join(ls, ",")+"}"] = s.Value
	}
	return out
}

func TestTrackDrops(t *testing.T) {
	m := New()
	m.TrackDrops(
		&libcluster.Topology{Name: "gossip", Strategy: drops{map[string]uint64{"auth": 3, "replay": 1}}},
		&libcluster.Topology{Name: "static", Strategy: plain{}},
	)
	got := map[string]float64{}
	for k, v := range values(m.Snapshot()) {
		if strings.HasPrefix(k, "libcluster_gossip_packets_dropped_total{") {
			got[k] = v
		}
	}
	if len(got) != 2 || got["libcluster_gossip_packets_dropped_total{topology=gossip,reason=auth}"] != 3 || got["libcluster_gossip_packets_dropped_total{topology=gossip,reason=replay}"] != 1 {
		t.Errorf("dropped counters %v, want gossip/auth 3 and gossip/replay 1 only", got)
	}
}

// parsed is one family as read back from the text format.
type parsed struct {
	help, typ string
	samples   map[string]float64 // labels as written (escaped) -> value
}

// parseText reads the text exposition format line by line, failing the
// test on anything the format (version 0.0.4) does not allow or on a
// family whose HELP, TYPE or samples appear out of place.
func parseText(t *testing.T, text string) (map[string]*parsed, []string) {
	t.Helper()
	fams := map[string]*parsed{}
	var order []string
	var cur string
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("output does not end in a line feed: %q", text)
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(line[len("# HELP "):], " ")
			if !ok || help == "" {
				t.Fatalf("line %d: HELP without text: %q", i+1, line)
			}
			if fams[name] != nil {
				t.Fatalf("line %d: second HELP for %s", i+1, name)
			}
			fams[name] = &parsed{help: help, samples: map[string]float64{}}
			order = append(order, name)
			cur = name
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(line[len("# TYPE "):], " ")
			f := fams[name]
			if f == nil || name != cur || f.typ != "" || len(f.samples) > 0 {
				t.Fatalf("line %d: TYPE for %s not right after its HELP: %q", i+1, name, line)
			}
			if typ != "counter" && typ != "gauge" {
				t.Fatalf("line %d: type %q", i+1, typ)
			}
			f.typ = typ
		case strings.HasPrefix(line, "#") || line == "":
			t.Fatalf("line %d: unexpected %q", i+1, line)
		default:
			name, labels, value := splitSample(t, i+1, line)
			if name != cur || fams[cur].typ == "" {
				t.Fatalf("line %d: sample of %s outside its family (current %s): %q", i+1, name, cur, line)
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("line %d: value %q: %v", i+1, value, err)
			}
			if _, dup := fams[cur].samples[labels]; dup {
				t.Fatalf("line %d: duplicate series %q", i+1, line)
			}
			fams[cur].samples[labels] = v
		}
	}
	return fams, order
}

// splitSample splits name{labels} value, checking that every label value
// is quoted and escapes only \\, \" and \n.
func splitSample(t *testing.T, n int, line string) (name, labels, value string) {
	t.Helper()
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		t.Fatalf("line %d: no name: %q", n, line)
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		j := 1
		for {
			eq := strings.Index(rest[j:], `="`)
			if eq <= 0 {
				t.Fatalf("line %d: label without =\": %q", n, line)
			}
			j += eq + 2
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\n' {
					t.Fatalf("line %d: raw line feed in label value", n)
				}
				if rest[j] == '\\' {
					j++
					if j == len(rest) || !strings.ContainsRune(`\"n`, rune(rest[j])) {
						t.Fatalf("line %d: bad escape in %q", n, line)
					}
				}
			}
			if j+1 >= len(rest) {
				t.Fatalf("line %d: unterminated label value: %q", n, line)
			}
			j++
			if rest[j] == '}' {
				break
			}
			if rest[j] != ',' {
				t.Fatalf("line %d: want , or } after a label value: %q", n, line)
			}
			j++
		}
		labels, rest = rest[1:j], rest[j+1:]
	}
	if !strings.HasPrefix(rest, " ") || strings.Contains(rest[1:], " ") {
		t.Fatalf("line %d: want one space before the value: %q", n, line)
	}
	return name, labels, rest[1:]
}

func text(t *testing.T, m *Metrics) string {
	t.Helper()
	var b strings.Builder
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteText(t *testing.T) {
	odd := "a\\b\"c\nd" // a backslash, a double quote and a line feed
	m := New()
	statuses := []libcluster.TopologyStatus{
		{Name: "two", Desired: []libcluster.Node{"b@h", "c@h"}, Connected: []libcluster.Node{"b@h"}},
		{Name: odd, Desired: []libcluster.Node{"b@h"}, Connected: []libcluster.Node{"b@h"}, Ready: true},
	}
	m.Track(func() []libcluster.TopologyStatus { return statuses })
	m.TrackDrops(&libcluster.Topology{Name: "g", Strategy: drops{map[string]uint64{"stale": 2, "auth": 5}}})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: odd})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventKind(-1), Topology: "two"}) // not counted

	first := text(t, m)
	fams, order := parseText(t, first)
	if !strings.Contains(first, `libcluster_connects_total{topology="a\\b\"c\nd"} 1`+"\n") {
		t.Errorf("label value not escaped as \\\\, \\\" and \\n:\n%s", first)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("families not sorted: %s before %s", order[i-1], order[i])
		}
	}
	want := map[string]map[string]float64{
		"libcluster_connects_total":               {`topology="two"`: 1, `topology="a\\b\"c\nd"`: 1},
		"libcluster_connect_failures_total":       {`topology="two"`: 1},
		"libcluster_desired_nodes":                {`topology="two"`: 2, `topology="a\\b\"c\nd"`: 1},
		"libcluster_connected_nodes":              {`topology="two"`: 1, `topology="a\\b\"c\nd"`: 1},
		"libcluster_topology_ready":               {`topology="two"`: 0, `topology="a\\b\"c\nd"`: 1},
		"libcluster_gossip_packets_dropped_total": {`topology="g",reason="auth"`: 5, `topology="g",reason="stale"`: 2},
	}
	if len(fams) != len(want) {
		t.Errorf("families %v, want %d (families without samples left out)", order, len(want))
	}
	for name, series := range want {
		f := fams[name]
		if f == nil {
			t.Errorf("no family %s", name)
			continue
		}
		wantType := "gauge"
		if strings.HasSuffix(name, "_total") {
			wantType = "counter"
		}
		if f.typ != wantType {
			t.Errorf("%s: TYPE %s, want %s", name, f.typ, wantType)
		}
		for labels, v := range series {
			if got, ok := f.samples[labels]; !ok || got != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, labels, got, ok, v)
			}
		}
		if len(f.samples) != len(series) {
			t.Errorf("%s: samples %v, want %v", name, f.samples, series)
		}
	}
	if fams["libcluster_topology_ready"].help != "1 when the topology has met its min_nodes, else 0." {
		t.Errorf("help text changed: %q", fams["libcluster_topology_ready"].help)
	}
	// Samples within a family come sorted by label value.
	if i, j := strings.Index(first, `{topology="a\\`), strings.Index(first, `connects_total{topology="two"}`); i < 0 || j < i {
		t.Errorf("samples not sorted by label value:\n%s", first)
	}
	if again := text(t, m); again != first {
		t.Errorf("output differs between two scrapes of the same figures:\n%s\n---\n%s", first, again)
	}

	for range 3 {
		m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "two"})
	}
	m.Observe(libcluster.Event{Kind: libcluster.EventNodeDown, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventDisconnected, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventDiscoveryError, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventStrategyFailed, Topology: "two"})
	fams, _ = parseText(t, text(t, m))
	for name, v := range map[string]float64{"libcluster_connects_total": 4, "libcluster_node_down_total": 1, "libcluster_disconnects_total": 1, "libcluster_discovery_errors_total": 1, "libcluster_strategy_restarts_total": 1} {
		if f := fams[name]; f == nil || f.samples[`topology="two"`] != v {
			t.Errorf("after the events %s{topology=\"two\"} = %v, want %v", name, f, v)
		}
	}
}

func TestWriteTextEscapesHelp(t *testing.T) {
	var b strings.Builder
	err := writeText(&b, []Family{single("x", "back\\slash\nand \"quotes\"", Gauge, 0.25)})
	if want := "# HELP x back\\\\slash\\nand \"quotes\"\n# TYPE x gauge\nx 0.25\n"; err != nil || b.String() != want {
		t.Errorf("got %q, %v; want %q", b.String(), err, want)
	}
}

func TestAppendValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 1e6: "1000000", 1.5: "1.5", 1e20: "1e+20", -3: "-3"} {
		if got := string(appendValue(nil, v)); got != want {
			t.Errorf("appendValue(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestEmpty(t *testing.T) {
	if got := text(t, New()); got != "" {
		t.Errorf("fresh metrics wrote %q, want nothing", got)
	}
	if n := len(New().Families()); n != 10 {
		t.Errorf("%d families, want libcluster's 10 even without samples", n)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteTextError(t *testing.T) {
	m := New()
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "t"})
	if err := m.WriteText(errWriter{}); err != io.ErrClosedPipe {
		t.Errorf("WriteText to a failing writer = %v, want its error", err)
	}
}

func TestTrackProcess(t *testing.T) {
	m := New()
	if v := values(m.Snapshot()); len(v) != 0 {
		t.Errorf("process figures before TrackProcess: %v", v)
	}
	m.TrackProcess()
	fams, _ := parseText(t, text(t, m))
	v := values(m.Snapshot())
	if v["go_goroutines{}"] < 1 || v["go_threads{}"] < 1 || v["go_memstats_heap_alloc_bytes{}"] <= 0 || v["go_memstats_sys_bytes{}"] <= 0 || v["go_info{version="+runtime.Version()+"}"] != 1 {
		t.Errorf("runtime figures: %v", v)
	}
	for _, rm := range runtimeMetrics {
		if _, ok := v[rm.name+"{}"]; !ok {
			t.Errorf("no %s (from %v)", rm.name, rm.sources)
		}
	}
	if v["go_memstats_alloc_bytes_total{}"] < v["go_memstats_alloc_bytes{}"] || v["go_memstats_heap_inuse_bytes{}"] < v["go_memstats_heap_alloc_bytes{}"] || v["go_sched_gomaxprocs_threads{}"] != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("runtime figures disagree: %v", v)
	}
	if fams["go_goroutines"] == nil || fams["go_goroutines"].typ != "gauge" {
		t.Errorf("go_goroutines missing from the text")
	}
	if runtime.GOOS != "linux" {
		return
	}
	now := float64(time.Now().Unix())
	if st := v["process_start_time_seconds{}"]; st > now+1 || st < now-24*3600 {
		t.Errorf("process_start_time_seconds = %v, now %v", st, now)
	}
	if v["process_resident_memory_bytes{}"] < 1<<20 || v["process_virtual_memory_bytes{}"] < v["process_resident_memory_bytes{}"] {
		t.Errorf("memory: %v", v)
	}
	if v["process_open_fds{}"] < 3 || v["process_max_fds{}"] < v["process_open_fds{}"] {
		t.Errorf("fds: %v", v)
	}
	if _, ok := v["process_cpu_seconds_total{}"]; !ok || fams["process_cpu_seconds_total"].typ != "counter" {
		t.Errorf("no process_cpu_seconds_total counter: %v", v)
	}
}

func TestServeHTTP(t *testing.T) {
	m := New()
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "t"})
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.StatusCode != 200 || !strings.Contains(string(b), `libcluster_connects_total{topology="t"} 1`) {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}
