package gossip

import (
	"maps"
	"sync"
)

// DropReason says why a received datagram was not accepted. The values are
// stable and short, fit for metric labels.
type DropReason string

// The reasons a datagram is dropped.
const (
	DropShort        DropReason = "short"         // too short for the expected format (truncated)
	DropOversize     DropReason = "oversize"      // filled the read buffer; not a heartbeat
	DropNotHeartbeat DropReason = "not_heartbeat" // plain mode: no "heartbeat::" prefix
	DropFormat       DropReason = "format"        // another format: plain packet to a node with a secret, aead to cbc, ...
	DropDecrypt      DropReason = "decrypt"       // cbc: not whole blocks or bad padding (wrong secret?)
	DropAuth         DropReason = "auth"          // aead: tag does not verify (forged, corrupted or wrong secret)
	DropOtherCluster DropReason = "other_cluster" // aead: heartbeat of another cluster name
	DropReplay       DropReason = "replay"        // aead: this exact packet was accepted before
	DropStale        DropReason = "stale"         // aead: timestamp outside the replay window (old, or clocks apart)
	DropBadTerm      DropReason = "bad_term"      // the ETF term is malformed or not %{node: atom}
	DropBadName      DropReason = "bad_name"      // the node atom is not a valid node name
	DropMalformed    DropReason = "malformed"     // anything else
)

// Stats counts what a strategy sent and received. Counters survive
// restarts of Run on the same Strategy.
type Stats struct {
	Received   uint64                // datagrams read from the socket
	Accepted   uint64                // valid heartbeats from other nodes
	Own        uint64                // this node's own heartbeats coming back (ignored)
	Sent       uint64                // heartbeats sent, replies included
	Replies    uint64                // immediate replies to a newly seen node
	SendErrors uint64                // sends that failed (ignored, like libcluster)
	Dropped    map[DropReason]uint64 // datagrams dropped, by reason
}

// DroppedTotal is the sum of Dropped.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

type counters struct {
	mu sync.Mutex
	s  Stats
}

func (c *counters) add(f func(s *Stats)) {
	c.mu.Lock()
	if c.s.Dropped == nil {
		c.s.Dropped = map[DropReason]uint64{}
	}
	f(&c.s)
	c.mu.Unlock()
}

func (c *counters) drop(r DropReason) { c.add(func(s *Stats) { s.Dropped[r]++ }) }

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Dropped = maps.Clone(c.s.Dropped)
	if s.Dropped == nil {
		s.Dropped = map[DropReason]uint64{}
	}
	return s
}

// DroppedByReason returns the datagrams dropped so far by reason, keyed by
// the DropReason strings; the metrics package exports them as
// libcluster_gossip_packets_dropped_total.
func (s *Strategy) DroppedByReason() map[string]uint64 {
	st := s.ctr.snapshot()
	out := make(map[string]uint64, len(st.Dropped))
	for r, n := range st.Dropped {
		out[string(r)] = n
	}
	return out
}
