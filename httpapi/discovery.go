package httpapi

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Bounds on what a DiscoveryLog keeps per topology, whatever a strategy
// reports.
const (
	maxCandidates = 1000 // nodes of the last answer (or seen since start)
	maxDropped    = 200  // dropped candidates of the last answer (or the latest seen)
)

// Discovery is what a topology's strategy answered last: the source of
// truth the page shows (the live form of `libcluster explain`).
type Discovery struct {
	Time     time.Time `json:"time"`                // of the last report
	Source   string    `json:"source,omitempty"`    // where the answer came from, e.g. "DNS A app.internal"
	Complete bool      `json:"complete"`            // the answer is the whole set (else: nodes seen, additive)
	Reports  int       `json:"reports"`             // reports since start
	Kept     []string  `json:"kept"`                // candidates turned into nodes, sorted
	Dropped  []Drop    `json:"dropped"`             // candidates not turned into nodes, with the reason
	Error    string    `json:"error,omitempty"`     // the last report's error; the last good answer is kept
	ErrorAt  time.Time `json:"error_at,omitzero"`   // when that error came
	Truncate bool      `json:"truncated,omitempty"` // more candidates than the page keeps
}

// Drop is one dropped discovery candidate.
type Drop struct {
	Candidate string `json:"candidate"`
	Reason    string `json:"reason"`
}

// DiscoveryLog records what every topology's strategy reports, for the
// web view. Wrap each topology before it starts. It is safe for
// concurrent use; the zero value is ready.
type DiscoveryLog struct {
	mu     sync.Mutex
	by     map[string]*discoveryState
	redact *redactor
}

type discoveryState struct {
	inner libcluster.Strategy // the strategy itself, for its own counters
	d     Discovery
	seen  map[string]bool // additive strategies: every node seen
}

// Wrap makes t's strategy report through the log. Call it before t runs
// (a Topology's fields must not change after Run starts).
func (l *DiscoveryLog) Wrap(t *libcluster.Topology) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string]*discoveryState{}
	}
	st := &discoveryState{inner: t.Strategy}
	l.by[t.Name] = st
	self := t.Connector.Self()
	inner := t.Strategy
	t.Strategy = libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
		return inner.Run(ctx, &recordingReporter{log: l, st: st, self: self, next: r})
	})
}

// Get returns the last discovery of the named topology.
func (l *DiscoveryLog) Get(topology string) (Discovery, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.by[topology]
	if !ok || st.d.Reports == 0 {
		return Discovery{}, false
	}
	d := st.d
	d.Kept = slices.Clone(d.Kept)
	d.Dropped = slices.Clone(d.Dropped)
	// Redacted on the way out: events before the page was set up count too.
	d.Source, d.Error = l.redact.apply(d.Source), l.redact.apply(d.Error)
	for i, x := range d.Dropped {
		d.Dropped[i] = Drop{Candidate: l.redact.apply(x.Candidate), Reason: l.redact.apply(x.Reason)}
	}
	return d, true
}

// strategy returns the unwrapped strategy of the named topology.
func (l *DiscoveryLog) strategy(topology string) libcluster.Strategy {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, ok := l.by[topology]; ok {
		return st.inner
	}
	return nil
}

func (l *DiscoveryLog) setRedactor(r *redactor) {
	l.mu.Lock()
	l.redact = r
	l.mu.Unlock()
}

type recordingReporter struct {
	log  *DiscoveryLog
	st   *discoveryState
	self libcluster.Node
	next libcluster.Reporter
}

func (r *recordingReporter) Report(u libcluster.Update) {
	r.log.record(r.st, r.self, u)
	r.next.Report(u)
}

func (l *DiscoveryLog) record(st *discoveryState, self libcluster.Node, u libcluster.Update) {
	if u.Kind() == 0 {
		return // the topology ignores it too
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := &st.d
	d.Time = time.Now()
	d.Reports++
	if src := u.Explain().Source; src != "" {
		d.Source = src
	}
	if u.Kind() == libcluster.KindFailed {
		d.Error, d.ErrorAt = u.Err().Error(), d.Time
		return
	}
	d.Error, d.ErrorAt = "", time.Time{}
	var dropped []Drop
	for _, n := range u.Nodes() {
		if n == self {
			dropped = append(dropped, Drop{Candidate: string(n), Reason: "this node itself"})
		}
	}
	for _, x := range u.Explain().Dropped {
		dropped = append(dropped, Drop{Candidate: x.Candidate, Reason: x.Reason})
	}
	if len(dropped) > maxDropped {
		dropped, d.Truncate = dropped[:maxDropped], true
	}
	if u.Kind() == libcluster.KindComplete {
		st.seen = nil
		d.Complete = true
		d.Kept = d.Kept[:0]
		d.Truncate = false
		for _, n := range u.Nodes() {
			if n == self {
				continue
			}
			if len(d.Kept) == maxCandidates {
				d.Truncate = true
				break
			}
			d.Kept = append(d.Kept, string(n))
		}
		slices.Sort(d.Kept)
		d.Kept = slices.Compact(d.Kept)
		d.Dropped = dropped
		return
	}
	// Seen: additive, like the topology; keep every node seen.
	if st.seen == nil || d.Complete {
		st.seen, d.Kept, d.Complete = map[string]bool{}, nil, false
	}
	for _, n := range u.Nodes() {
		if n == self || st.seen[string(n)] {
			continue
		}
		if len(st.seen) == maxCandidates {
			d.Truncate = true
			break
		}
		st.seen[string(n)] = true
		d.Kept = append(d.Kept, string(n))
	}
	slices.Sort(d.Kept)
	if len(dropped) > 0 {
		d.Dropped = dropped
	}
}
