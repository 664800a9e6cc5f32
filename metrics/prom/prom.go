// Package prom exposes a [metrics.Metrics] to the Prometheus Go client
// (github.com/prometheus/client_golang), for programs that already serve
// their metrics from a prometheus.Registry:
//
//	m := metrics.New()
//	reg.MustRegister(prom.NewCollector(m))
//
// It is the only libcluster package that imports the Prometheus client;
// the metrics package itself and the libcluster command do not link it.
package prom

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libcluster-go/libcluster/metrics"
)

// Collector is a prometheus.Collector of a [metrics.Metrics]' libcluster_
// families, under the same names, help texts, types and labels as
// [metrics.Metrics.WriteText] writes them. The runtime and process figures
// of [metrics.Metrics.TrackProcess] are left out: register the Prometheus
// client's own Go and process collectors for those.
type Collector struct {
	m *metrics.Metrics
}

// NewCollector returns a collector of m's metrics. Register it once per
// registry; registering it where other collectors already export
// libcluster_ metrics of the same names fails as any such clash does.
func NewCollector(m *metrics.Metrics) *Collector {
	return &Collector{m: m}
}

func own(f metrics.Family) bool { return strings.HasPrefix(f.Name, metrics.Namespace+"_") }

func desc(f metrics.Family) *prometheus.Desc {
	return prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil)
}

// Describe sends the descriptor of every libcluster_ family.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.m.Families() {
		if own(f) {
			ch <- desc(f)
		}
	}
}

// Collect reads the metrics now and sends every sample of the libcluster_
// families.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.m.Families() {
		if !own(f) || len(f.Samples) == 0 {
			continue
		}
		d := desc(f)
		vt := prometheus.GaugeValue
		if f.Type == metrics.Counter {
			vt = prometheus.CounterValue
		}
		for _, s := range f.Samples {
			lv := make([]string, len(s.Labels))
			for i, l := range s.Labels {
				lv[i] = l.Value
			}
			m, err := prometheus.NewConstMetric(d, vt, s.Value, lv...)
			if err != nil {
				m = prometheus.NewInvalidMetric(d, err) // the registry reports it at Gather
			}
			ch <- m
		}
	}
}
