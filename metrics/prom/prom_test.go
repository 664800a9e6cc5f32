package prom_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
	"github.com/libcluster-go/libcluster/metrics/prom"
)

type drops struct{}

func (drops) Run(ctx context.Context, r libcluster.Reporter) error { <-ctx.Done(); return nil }
func (drops) DroppedByReason() map[string]uint64                   { return map[string]uint64{"auth": 4} }

func sample() *metrics.Metrics {
	m := metrics.New()
	odd := "a\\b\"c\nd"
	m.Track(func() []libcluster.TopologyStatus {
		return []libcluster.TopologyStatus{
			{Name: "two", Desired: []libcluster.Node{"b@h", "c@h"}, Connected: []libcluster.Node{"b@h"}},
			{Name: odd, Ready: true},
		}
	})
	m.TrackDrops(&libcluster.Topology{Name: "g", Strategy: drops{}})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: "two"})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnected, Topology: odd})
	m.Observe(libcluster.Event{Kind: libcluster.EventConnectFailed, Topology: "two"})
	return m
}

// flat maps name{label=value,...} to the value of every sample in fams.
func flat(fams map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			slices.Sort(ls) // the registry sorts labels by name
			key := name + "{" + strings.Join(ls, ",") + "}"
			out[key] = f.GetType().String() + " " + f.GetHelp() + " " + model.SampleValue(v).String()
		}
	}
	return out
}

// TestTextParses checks metrics.WriteText's output with the Prometheus
// text parser, and that the collector exposes the same families.
func TestTextParses(t *testing.T) {
	m := sample()
	m.TrackProcess()
	var b strings.Builder
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the output: %v\n%s", err, b.String())
	}
	if f := parsed["libcluster_connects_total"]; f == nil || len(f.GetMetric()) != 2 {
		t.Fatalf("parsed connects: %v", f)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if parsed[name] == nil {
			t.Errorf("%s not parsed", name)
		}
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prom.NewCollector(m))
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fromReg := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		fromReg[f.GetName()] = f
	}
	for name := range parsed {
		if !strings.HasPrefix(name, "libcluster_") {
			delete(parsed, name) // TrackProcess' figures are not the collector's
		}
	}
	got, want := flat(fromReg), flat(parsed)
	if len(got) != len(want) || len(got) != 10 {
		t.Errorf("collector exposes %d series, the text %d (want 10):\n%v\n%v", len(got), len(want), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: collector %q, text %q", k, got[k], v)
		}
	}
}

// TestBesideClientCollectors registers the collector next to the Prometheus
// client's Go and process collectors, as a program that already uses
// client_golang does, even with TrackProcess called.
func TestBesideClientCollectors(t *testing.T) {
	m := sample()
	m.TrackProcess()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), prom.NewCollector(m))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "libcluster_topology_ready") {
		t.Errorf("gathered %v", names)
	}
	if err := reg.Register(prom.NewCollector(m)); err == nil {
		t.Errorf("a second collector of the same metrics registered without error")
	}
}
