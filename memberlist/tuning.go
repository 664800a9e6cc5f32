package memberlist

import (
	"fmt"
	"time"

	ml "github.com/hashicorp/memberlist"
)

// Tuning holds the memberlist settings that users of memberlist commonly
// change, under memberlist's own names. A zero field keeps the profile's
// value. [Tuning.Apply] sets them on a memberlist configuration; use it from
// [Config.Tune], or set [Config.Tuning].
type Tuning struct {
	// PushPullInterval is how often a member exchanges its full state with
	// one random member over TCP (memberlist scales it up above 32
	// members). lan: 30 s, local: 15 s.
	PushPullInterval time.Duration
	// GossipInterval is how often a member gossips queued updates to
	// GossipNodes members over UDP. lan: 200 ms, local: 100 ms.
	GossipInterval time.Duration
	// GossipNodes is how many random members each gossip round reaches.
	// lan: 3.
	GossipNodes int
	// ProbeInterval is how often a member probes one random member. lan:
	// 1 s.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for its ack before asking
	// other members to probe indirectly. lan: 500 ms.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected member has to refute
	// before it is declared dead (times log10(N) probe intervals). lan: 4.
	SuspicionMult int
	// RetransmitMult scales how many times an update is gossiped (times
	// log10(N+1)). lan: 4.
	RetransmitMult int
	// TCPTimeout bounds a TCP state exchange or join. lan: 10 s.
	TCPTimeout time.Duration
	// DeadNodeReclaimTime is how long after its death a member may come
	// back under its name at another address; 0: never.
	DeadNodeReclaimTime time.Duration
	// HandoffQueueDepth bounds how many received gossip messages (alive,
	// suspect, dead) wait for memberlist's single handler goroutine;
	// further ones are dropped with "handler queue full". Each waiting
	// message can pin its UDP read buffer (64 KiB), so the bound is also a
	// memory bound. memberlist: 1024.
	HandoffQueueDepth int
	// Compression, if set, turns memberlist's LZW compression of UDP
	// gossip and TCP state exchanges on or off. Default (nil): off for the
	// lan and local profiles, on for wan. Every memberlist member reads
	// both forms, so members may differ. Compressing a gossip packet
	// allocates a 64 KiB LZW table per packet: at 200 members on two
	// cores compression took about a fifth of the CPU and drove garbage
	// collection (docs/benchmarks.md), while a packet, already bounded at
	// 1,400 bytes, shrinks by a few hundred bytes. Set it with
	// new(true) or new(false).
	Compression *bool
	// RepeatFilter, if set to false, hands every received alive message
	// to memberlist. By default (nil or true) a node drops a byte-identical
	// copy of an alive message it passed within the last ten gossip
	// intervals before memberlist decodes it: each member receives each
	// alive message about RetransmitMult × log10(N+1) times, and the copies
	// change nothing. When many members start together they are most of
	// memberlist's work (docs/benchmarks.md). Encrypted packets are opened
	// with the keyring and, when they lose parts, sealed again with its
	// primary key; compressed ones are handed on decompressed. Other
	// messages, and packets that carry another label or do not open, pass
	// unread. This is not a memberlist
	// setting; Apply ignores it.
	RepeatFilter *bool
}

// Apply sets the non-zero fields of t on c.
func (t Tuning) Apply(c *ml.Config) {
	setD := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setD(&c.PushPullInterval, t.PushPullInterval)
	setD(&c.GossipInterval, t.GossipInterval)
	setI(&c.GossipNodes, t.GossipNodes)
	setD(&c.ProbeInterval, t.ProbeInterval)
	setD(&c.ProbeTimeout, t.ProbeTimeout)
	setI(&c.SuspicionMult, t.SuspicionMult)
	setI(&c.RetransmitMult, t.RetransmitMult)
	setD(&c.TCPTimeout, t.TCPTimeout)
	setD(&c.DeadNodeReclaimTime, t.DeadNodeReclaimTime)
	setI(&c.HandoffQueueDepth, t.HandoffQueueDepth)
	if t.Compression != nil {
		c.EnableCompression = *t.Compression
	}
}

// check reports the first negative field, or a probe timeout not shorter
// than the probe interval.
func (t Tuning) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PushPullInterval", t.PushPullInterval}, {"GossipInterval", t.GossipInterval}, {"ProbeInterval", t.ProbeInterval},
		{"ProbeTimeout", t.ProbeTimeout}, {"TCPTimeout", t.TCPTimeout}, {"DeadNodeReclaimTime", t.DeadNodeReclaimTime}} {
		if d.v < 0 {
			return fmt.Errorf("memberlist: Config.Tuning.%s is negative (%v); use a positive duration, or 0 for the profile's value", d.name, d.v)
		}
	}
	for _, i := range []struct {
		name string
		v    int
	}{{"GossipNodes", t.GossipNodes}, {"SuspicionMult", t.SuspicionMult}, {"RetransmitMult", t.RetransmitMult}} {
		if i.v < 0 || i.v > 1000 {
			return fmt.Errorf("memberlist: Config.Tuning.%s is %d; use 1 to 1000, or 0 for the profile's value", i.name, i.v)
		}
	}
	if t.ProbeInterval > 0 && t.ProbeTimeout > 0 && t.ProbeTimeout >= t.ProbeInterval {
		return fmt.Errorf("memberlist: Config.Tuning.ProbeTimeout %v is not shorter than ProbeInterval %v; a probe must time out before the next one starts", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.HandoffQueueDepth < 0 || t.HandoffQueueDepth > MaxHandoffQueueDepth {
		return fmt.Errorf("memberlist: Config.Tuning.HandoffQueueDepth is %d; use 1 to %d, or 0 for memberlist's 1024", t.HandoffQueueDepth, MaxHandoffQueueDepth)
	}
	return nil
}

// MaxHandoffQueueDepth caps Tuning.HandoffQueueDepth: 16 Ki messages can
// pin up to 1 GiB of read buffers.
const MaxHandoffQueueDepth = 16 << 10
