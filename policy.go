package libcluster

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Policy says how a [Topology] reconciles. The zero Policy is usable: every
// zero field takes the default named on it.
type Policy struct {
	// ConnectTimeout bounds one whole connect attempt: the Connect call's
	// ctx ends then, and a connector must give up with it (dist cancels
	// the attempt and names the step that hung in the error). A
	// connector's own per-step timeouts, such as dist's HandshakeTimeout
	// (7s), apply within it. Default 5s.
	ConnectTimeout time.Duration
	// Parallelism is how many connects may run at once. Default 16.
	Parallelism int
	// Backoff spaces retries of a node that failed to connect.
	Backoff Backoff
	// Prune says when a node missing from a complete discovery set is
	// disconnected. Default PruneImmediate, like libcluster.
	Prune Prune
	// MinNodes is how many peers (not counting this node) must be
	// connected before the topology reports ready. Default 0.
	MinNodes int
	// Restart spaces restarts of a strategy that failed or panicked.
	Restart Backoff
	// Resync is how often the topology compares the connector's node list
	// with the desired set, to catch connections lost without an event.
	// Default 5s.
	Resync time.Duration
}

// DefaultConnectTimeout, DefaultParallelism and DefaultResync are the
// defaults of the [Policy] fields of the same names.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultParallelism    = 16
	DefaultResync         = 5 * time.Second
)

func (p Policy) withDefaults() Policy {
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = DefaultConnectTimeout
	}
	if p.Parallelism <= 0 {
		p.Parallelism = DefaultParallelism
	}
	if p.Resync <= 0 {
		p.Resync = DefaultResync
	}
	if p.MinNodes < 0 {
		p.MinNodes = 0
	}
	p.Backoff = p.Backoff.withDefaults()
	p.Restart = p.Restart.withDefaults()
	return p
}

// Backoff is exponential back-off with jitter: the n-th retry waits
// Initial·Multiplier^(n-1), at most Max, spread by ±Jitter of itself.
// The zero Backoff takes the defaults named on each field.
type Backoff struct {
	Initial    time.Duration // default 250ms
	Max        time.Duration // default 30s
	Multiplier float64       // default 2
	Jitter     float64       // fraction, 0..1; default 0.2
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	if b.Jitter <= 0 || b.Jitter > 1 {
		b.Jitter = 0.2
	}
	return b
}

// Delay returns how long to wait before retry number attempt (1 for the
// first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial)
	for i := 1; i < attempt && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	d += d * b.Jitter * (2*rand.Float64() - 1)
	return time.Duration(max(d, float64(time.Millisecond)))
}

// Prune says when a node that is missing from a complete discovery set is
// disconnected. The zero value is PruneImmediate.
type Prune int

// The prune policies. Use [PruneAfter] for "after N misses".
const (
	// PruneImmediate disconnects at the first set that lacks the node
	// (libcluster's behaviour).
	PruneImmediate Prune = 0
	// PruneNever keeps every node ever discovered; a node that disappears
	// stays connected as long as the connection holds.
	PruneNever Prune = -1
)

// PruneAfter disconnects a node only after it is missing from n
// consecutive complete sets, which rides out flapping DNS answers.
// PruneAfter(1) is PruneImmediate.
func PruneAfter(n int) Prune {
	if n <= 1 {
		return PruneImmediate
	}
	return Prune(n)
}

// Misses returns how many consecutive misses prune a node, or 0 for never.
func (p Prune) Misses() int {
	switch {
	case p < 0:
		return 0
	case p <= 1:
		return 1
	}
	return int(p)
}

// String returns "immediate", "never" or "after N misses".
func (p Prune) String() string {
	switch m := p.Misses(); m {
	case 0:
		return "never"
	case 1:
		return "immediate"
	default:
		return fmt.Sprintf("after %d misses", m)
	}
}

// ParsePrune parses "immediate", "never", "after N misses", "after N" or
// "after:N".
func ParsePrune(s string) (Prune, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "immediate", "":
		return PruneImmediate, nil
	case "never":
		return PruneNever, nil
	}
	if rest, ok := strings.CutPrefix(t, "after"); ok {
		rest = strings.TrimSpace(strings.TrimPrefix(rest, ":"))
		rest = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(rest, "misses"), "miss"))
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 1 {
			return PruneAfter(n), nil
		}
	}
	return 0, fmt.Errorf("invalid prune policy %q: want immediate, never, or \"after N misses\" with N ≥ 1", s)
}
