// Package metrics exports a node's clustering activity as Prometheus
// metrics: counters fed by topology events (connects, connect failures,
// disconnects, node downs, discovery errors, strategy restarts) and gauges
// read from topology status at scrape time (desired and connected members,
// readiness). Every series carries a topology label. Strategies that count
// the packets they drop (gossip) export those counts too, by reason, once
// registered with [Metrics.TrackDrops].
//
//	m := metrics.New(prometheus.NewRegistry())
//	topologies, _ := file.NewTopologies(conn, logger, m.Observe)
//	sup := libcluster.NewSupervisor(topologies...)
//	m.Track(sup.Status)
package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libcluster-go/libcluster"
)

// Namespace prefixes every metric name.
const Namespace = "libcluster"

// Metrics holds the collectors. Create it with [New].
type Metrics struct {
	connects        *prometheus.CounterVec
	connectFailures *prometheus.CounterVec
	disconnects     *prometheus.CounterVec
	nodeDowns       *prometheus.CounterVec
	discoveryErrors *prometheus.CounterVec
	restarts        *prometheus.CounterVec

	mu     sync.Mutex
	status func() []libcluster.TopologyStatus
	drops  []dropSource
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

var (
	descDesired   = prometheus.NewDesc(Namespace+"_desired_nodes", "Nodes the topology's strategy discovered and wants connected.", []string{"topology"}, nil)
	descConnected = prometheus.NewDesc(Namespace+"_connected_nodes", "Desired nodes connected now (current members).", []string{"topology"}, nil)
	descReady     = prometheus.NewDesc(Namespace+"_topology_ready", "1 when the topology has met its min_nodes, else 0.", []string{"topology"}, nil)
	descDropped   = prometheus.NewDesc(Namespace+"_gossip_packets_dropped_total", "Packets the topology's strategy received and dropped, by reason (short, oversize, not_heartbeat, format, decrypt, auth, other_cluster, replay, stale, bad_term, bad_name, malformed).", []string{"topology", "reason"}, nil)
)

func counter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, []string{"topology"})
}

// New creates the collectors and registers them with reg. It panics if reg
// already holds metrics of the same names, as prometheus.MustRegister does.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connects:        counter("connects_total", "Successful connects to a node."),
		connectFailures: counter("connect_failures_total", "Failed connect attempts."),
		disconnects:     counter("disconnects_total", "Nodes disconnected because discovery no longer lists them."),
		nodeDowns:       counter("node_down_total", "Connections the connector saw go down (peer crash, tick timeout)."),
		discoveryErrors: counter("discovery_errors_total", "Discovery rounds that failed; the last good set was kept."),
		restarts:        counter("strategy_restarts_total", "Strategy restarts after an error or panic."),
	}
	reg.MustRegister(m.connects, m.connectFailures, m.disconnects, m.nodeDowns, m.discoveryErrors, m.restarts, statusCollector{m})
	return m
}

// Observe counts one event. Pass it as a [libcluster.Observer].
func (m *Metrics) Observe(ev libcluster.Event) {
	var c *prometheus.CounterVec
	switch ev.Kind {
	case libcluster.EventConnected:
		c = m.connects
	case libcluster.EventConnectFailed:
		c = m.connectFailures
	case libcluster.EventDisconnected:
		c = m.disconnects
	case libcluster.EventNodeDown:
		c = m.nodeDowns
	case libcluster.EventDiscoveryError:
		c = m.discoveryErrors
	case libcluster.EventStrategyFailed:
		c = m.restarts
	default:
		return
	}
	c.WithLabelValues(ev.Topology).Inc()
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

type statusCollector struct{ m *Metrics }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDesired
	ch <- descConnected
	ch <- descReady
	ch <- descDropped
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	status := c.m.status
	drops := slices.Clone(c.m.drops)
	c.m.mu.Unlock()
	for _, d := range drops {
		for reason, n := range d.c.DroppedByReason() {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), d.topology, reason)
		}
	}
	if status == nil {
		return
	}
	for _, s := range status() {
		ready := 0.0
		if s.Ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(descDesired, prometheus.GaugeValue, float64(len(s.Desired)), s.Name)
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(len(s.Connected)), s.Name)
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready, s.Name)
	}
}
