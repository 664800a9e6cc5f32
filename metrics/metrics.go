// Package metrics exports a node's clustering activity as Prometheus
// metrics: counters fed by topology events (connects, connect failures,
// disconnects, node downs, discovery errors, strategy restarts) and gauges
// read from topology status at scrape time (desired and connected members,
// readiness). Every series carries a topology label. Strategies that count
// the packets they drop (gossip) export those counts too, by reason, once
// registered with [Metrics.TrackDrops]. [Metrics.TrackProcess] adds the Go
// runtime and process figures (go_goroutines, process_resident_memory_bytes
// and others under the names Prometheus' Go client uses).
//
// The package uses only the standard library: [Metrics.WriteText] writes
// the Prometheus text exposition format (version 0.0.4) and [Metrics] is an
// http.Handler serving it. [Metrics.Snapshot] returns the samples as
// values. Programs that already run the Prometheus Go client can register
// the metrics on their own registry with the metrics/prom subpackage.
//
//	m := metrics.New()
//	topologies, _ := file.NewTopologies(conn, logger, m.Observe)
//	sup := libcluster.NewSupervisor(topologies...)
//	m.Track(sup.Status)
//	http.Handle("GET /metrics", m)
package metrics

import (
	"cmp"
	"slices"
	"sync"

	"github.com/libcluster-go/libcluster"
)

// Namespace prefixes every metric name of libcluster's own metrics.
const Namespace = "libcluster"

// Type is a metric family's type, as written on its # TYPE line.
type Type string

// The metric types this package exports.
const (
	Counter Type = "counter"
	Gauge   Type = "gauge"
)

// Label is one label of a [Sample].
type Label struct {
	Name  string
	Value string
}

// Sample is one series' value at the time it was read.
type Sample struct {
	Name   string  // the family's name, e.g. libcluster_connects_total
	Labels []Label // in the family's LabelNames order
	Value  float64
}

// Family is one metric: its name, help text, type and samples.
type Family struct {
	Name       string
	Help       string
	Type       Type
	LabelNames []string // the label names every sample carries, in order
	Samples    []Sample // sorted by label values
}

// Metrics counts a node's clustering events and reads its topologies'
// status. Create it with [New]; its methods are safe for concurrent use.
type Metrics struct {
	mu       sync.Mutex
	counters [numCounters]map[string]uint64 // by topology
	status   func() []libcluster.TopologyStatus
	drops    []dropSource
	process  bool
}

// DropCounter is implemented by strategies that count the packets they
// drop, by reason (the gossip strategy's DroppedByReason).
type DropCounter interface {
	DroppedByReason() map[string]uint64
}

type dropSource struct {
	topology string
	c        DropCounter
}

type counterID int

const (
	connects counterID = iota
	connectFailures
	disconnects
	nodeDowns
	discoveryErrors
	restarts
	numCounters
)

var counterInfo = [numCounters]struct{ name, help string }{
	connects:        {"connects_total", "Successful connects to a node."},
	connectFailures: {"connect_failures_total", "Failed connect attempts."},
	disconnects:     {"disconnects_total", "Nodes disconnected because discovery no longer lists them."},
	nodeDowns:       {"node_down_total", "Connections the connector saw go down (peer crash, tick timeout)."},
	discoveryErrors: {"discovery_errors_total", "Discovery rounds that failed; the last good set was kept."},
	restarts:        {"strategy_restarts_total", "Strategy restarts after an error or panic."},
}

const (
	nameDesired   = Namespace + "_desired_nodes"
	nameConnected = Namespace + "_connected_nodes"
	nameReady     = Namespace + "_topology_ready"
	nameDropped   = Namespace + "_gossip_packets_dropped_total"

	helpDesired   = "Nodes the topology's strategy discovered and wants connected."
	helpConnected = "Desired nodes connected now (current members)."
	helpReady     = "1 when the topology has met its min_nodes, else 0."
	helpDropped   = "Packets the topology's strategy received and dropped, by reason (short, oversize, not_heartbeat, format, decrypt, auth, other_cluster, replay, stale, bad_term, bad_name, malformed)."
)

// New returns metrics with every counter at zero, no status tracked and
// no process figures.
func New() *Metrics {
	m := &Metrics{}
	for i := range m.counters {
		m.counters[i] = map[string]uint64{}
	}
	return m
}

// Observe counts one event. Pass it as a [libcluster.Observer].
func (m *Metrics) Observe(ev libcluster.Event) {
	var c counterID
	switch ev.Kind {
	case libcluster.EventConnected:
		c = connects
	case libcluster.EventConnectFailed:
		c = connectFailures
	case libcluster.EventDisconnected:
		c = disconnects
	case libcluster.EventNodeDown:
		c = nodeDowns
	case libcluster.EventDiscoveryError:
		c = discoveryErrors
	case libcluster.EventStrategyFailed:
		c = restarts
	default:
		return
	}
	m.mu.Lock()
	m.counters[c][ev.Topology]++
	m.mu.Unlock()
}

// Track makes the gauges report what status returns at each scrape,
// typically a [libcluster.Supervisor]'s Status method. Until Track is
// called the gauges report nothing.
func (m *Metrics) Track(status func() []libcluster.TopologyStatus) {
	m.mu.Lock()
	m.status = status
	m.mu.Unlock()
}

// TrackDrops makes every topology whose strategy is a [DropCounter] (the
// gossip strategy) export its drop counters as
// libcluster_gossip_packets_dropped_total{topology, reason}, read at each
// scrape. Other topologies are ignored.
func (m *Metrics) TrackDrops(topologies ...*libcluster.Topology) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topologies {
		if c, ok := t.Strategy.(DropCounter); ok {
			m.drops = append(m.drops, dropSource{topology: t.Name, c: c})
		}
	}
}

// TrackProcess makes the metrics include figures of the Go runtime and of
// the process, read at each scrape, under the names and help texts
// Prometheus' Go client uses for them: go_goroutines, go_threads, go_info,
// go_memstats_alloc_bytes, go_memstats_alloc_bytes_total,
// go_memstats_heap_alloc_bytes, go_memstats_heap_inuse_bytes,
// go_memstats_heap_objects, go_memstats_next_gc_bytes,
// go_memstats_sys_bytes, go_gc_gogc_percent, go_gc_gomemlimit_bytes,
// go_sched_gomaxprocs_threads (read with runtime/metrics) and, on Linux
// (read from /proc/self), process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds. A program that also registers the Prometheus
// client's Go and process collectors should not call it, or the names
// clash.
func (m *Metrics) TrackProcess() {
	m.mu.Lock()
	m.process = true
	m.mu.Unlock()
}

// Families reads every metric now: each of libcluster's families (also
// those without samples yet) and, after [Metrics.TrackProcess], the
// runtime and process figures. Families are sorted by name and samples
// by label values.
func (m *Metrics) Families() []Family {
	m.mu.Lock()
	var fams []Family
	for i, info := range counterInfo {
		f := Family{Name: Namespace + "_" + info.name, Help: info.help, Type: Counter, LabelNames: []string{"topology"}}
		for top, n := range m.counters[i] {
			f.add(float64(n), top)
		}
		fams = append(fams, f)
	}
	status := m.status
	drops := slices.Clone(m.drops)
	process := m.process
	m.mu.Unlock()

	dropped := Family{Name: nameDropped, Help: helpDropped, Type: Counter, LabelNames: []string{"topology", "reason"}}
	for _, d := range drops {
		for reason, n := range d.c.DroppedByReason() {
			dropped.add(float64(n), d.topology, reason)
		}
	}
	desired := Family{Name: nameDesired, Help: helpDesired, Type: Gauge, LabelNames: []string{"topology"}}
	connected := Family{Name: nameConnected, Help: helpConnected, Type: Gauge, LabelNames: []string{"topology"}}
	ready := Family{Name: nameReady, Help: helpReady, Type: Gauge, LabelNames: []string{"topology"}}
	if status != nil {
		for _, s := range status() {
			r := 0.0
			if s.Ready {
				r = 1
			}
			desired.add(float64(len(s.Desired)), s.Name)
			connected.add(float64(len(s.Connected)), s.Name)
			ready.add(r, s.Name)
		}
	}
	fams = append(fams, dropped, desired, connected, ready)
	if process {
		fams = append(fams, runtimeFamilies()...)
		fams = append(fams, processFamilies()...)
	}
	for i := range fams {
		slices.SortStableFunc(fams[i].Samples, func(a, b Sample) int {
			return slices.CompareFunc(a.Labels, b.Labels, func(x, y Label) int { return cmp.Compare(x.Value, y.Value) })
		})
	}
	slices.SortFunc(fams, func(a, b Family) int { return cmp.Compare(a.Name, b.Name) })
	return fams
}

// Snapshot returns every sample [Metrics.Families] reads, in the same
// order.
func (m *Metrics) Snapshot() []Sample {
	var out []Sample
	for _, f := range m.Families() {
		out = append(out, f.Samples...)
	}
	return out
}

// add appends a sample with the given label values, in f.LabelNames order.
func (f *Family) add(v float64, labelValues ...string) {
	s := Sample{Name: f.Name, Value: v}
	if len(labelValues) > 0 {
		s.Labels = make([]Label, len(labelValues))
		for i, lv := range labelValues {
			s.Labels[i] = Label{Name: f.LabelNames[i], Value: lv}
		}
	}
	f.Samples = append(f.Samples, s)
}

// single returns a family of one unlabelled sample.
func single(name, help string, t Type, v float64) Family {
	f := Family{Name: name, Help: help, Type: t}
	f.add(v)
	return f
}
