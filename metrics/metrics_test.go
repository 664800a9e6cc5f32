package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/libcluster-go/libcluster"
)

// drops is a strategy that counts drops, like gossip.
type drops struct{ m map[string]uint64 }

func (d drops) Run(ctx context.Context, r libcluster.Reporter) error { <-ctx.Done(); return nil }
func (d drops) DroppedByReason() map[string]uint64                   { return d.m }

type plain struct{}

func (plain) Run(ctx context.Context, r libcluster.Reporter) error { <-ctx.Done(); return nil }

func TestTrackDrops(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.TrackDrops(
		&libcluster.Topology{Name: "gossip", Strategy: drops{map[string]uint64{"auth": 3, "replay": 1}}},
		&libcluster.Topology{Name: "static", Strategy: plain{}},
	)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "libcluster_gossip_packets_dropped_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["topology"]+"/"+labels["reason"]] = mt.GetCounter().GetValue()
		}
	}
	if len(got) != 2 || got["gossip/auth"] != 3 || got["gossip/replay"] != 1 {
		t.Errorf("dropped counters %v, want gossip/auth 3 and gossip/replay 1 only", got)
	}
}
