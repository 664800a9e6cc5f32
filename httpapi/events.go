package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
)

// DefaultEventLogSize is how many events an [EventLog] keeps when
// NewEventLog is given no positive size.
const DefaultEventLogSize = 500

// maxStreams bounds the event streams served at once, so open pages
// cannot exhaust the node.
const maxStreams = 64

// EventView is one topology event as the web view shows it
// (GET /api/events).
type EventView struct {
	ID         uint64    `json:"id"` // increasing; the SSE event id
	Time       time.Time `json:"time"`
	Topology   string    `json:"topology"`
	Kind       string    `json:"kind"` // libcluster.EventKind in snake case, e.g. "node_down"
	Node       string    `json:"node,omitempty"`
	Nodes      int       `json:"nodes,omitempty"` // desired_changed: size of the new desired set
	Attempt    int       `json:"attempt,omitempty"`
	DurationMS float64   `json:"duration_ms,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// EventLog keeps the latest topology events for the web view and pushes
// new ones to the pages that watch. Pass its Observe method to every
// topology as a [libcluster.Observer]. It is safe for concurrent use. The
// zero value is not usable; call [NewEventLog].
type EventLog struct {
	mu      sync.Mutex
	ring    []EventView // oldest first, at most size
	size    int
	next    uint64
	changed chan struct{} // closed and replaced on every event
	streams int
	redact  *redactor
	closed  chan struct{} // closed by Close: every stream ends
	once    sync.Once
}

// NewEventLog returns a log keeping the latest size events
// (DefaultEventLogSize when size <= 0).
func NewEventLog(size int) *EventLog {
	if size <= 0 {
		size = DefaultEventLogSize
	}
	return &EventLog{size: size, next: 1, changed: make(chan struct{}), closed: make(chan struct{})}
}

// Close ends every event stream being served, e.g. from
// http.Server.RegisterOnShutdown (Shutdown does not end open streams by
// itself). Events are still recorded.
func (l *EventLog) Close() {
	l.once.Do(func() { close(l.closed) })
}

// Observe records ev. It never blocks on a slow page.
func (l *EventLog) Observe(ev libcluster.Event) {
	v := EventView{
		Time:     ev.Time,
		Topology: ev.Topology,
		Kind:     ev.Kind.String(),
		Node:     string(ev.Node),
		Attempt:  ev.Attempt,
	}
	if v.Time.IsZero() {
		v.Time = time.Now()
	}
	if ev.Kind == libcluster.EventDesired {
		v.Nodes = len(ev.Nodes)
	}
	if ev.Duration > 0 {
		v.DurationMS = float64(ev.Duration.Microseconds()) / 1000
	}
	if ev.Err != nil {
		v.Error = ev.Err.Error()
	}
	l.mu.Lock()
	v.ID = l.next
	l.next++
	if len(l.ring) == l.size {
		copy(l.ring, l.ring[1:])
		l.ring = l.ring[:len(l.ring)-1]
	}
	l.ring = append(l.ring, v)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Since returns the kept events with an ID greater than id, oldest first,
// and a channel closed when the next event arrives. Secrets the [Web]
// redacts are already replaced.
func (l *EventLog) Since(id uint64) ([]EventView, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.ring)
	for i > 0 && l.ring[i-1].ID > id {
		i--
	}
	out := append([]EventView(nil), l.ring[i:]...)
	for j := range out {
		out[j].Error = l.redact.apply(out[j].Error)
	}
	return out, l.changed
}

func (l *EventLog) setRedactor(r *redactor) {
	l.mu.Lock()
	l.redact = r
	l.mu.Unlock()
}

// serveStream serves GET /api/events as Server-Sent Events: every kept
// event after the Last-Event-ID header (or the last query parameter),
// then each new one as it happens, one JSON [EventView] per "event"
// message, with a comment line every 15 s to keep proxies from closing
// the stream.
func (l *EventLog) serveStream(w http.ResponseWriter, r *http.Request) {
	var last uint64
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		last, _ = strconv.ParseUint(s, 10, 64)
	} else if s := r.URL.Query().Get("last"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "last: want the numeric id of the last event seen, e.g. last=42", http.StatusBadRequest)
			return
		}
		last = v
	}
	l.mu.Lock()
	if l.streams >= maxStreams {
		l.mu.Unlock()
		http.Error(w, fmt.Sprintf("too many open event streams (%d); close some pages", maxStreams), http.StatusServiceUnavailable)
		return
	}
	l.streams++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.streams--
		l.mu.Unlock()
	}()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// A server WriteTimeout would cut the stream; each write moves the
	// deadline instead.
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second)) }
	extend()
	fmt.Fprint(w, "retry: 1000\n\n")
	if rc.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		evs, changed := l.Since(last)
		if len(evs) > 0 {
			extend()
			for _, ev := range evs {
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", ev.ID, b)
				last = ev.ID
			}
			if rc.Flush() != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-l.closed:
			return
		case <-changed:
		case <-keepAlive.C:
			extend()
			fmt.Fprint(w, ": keep-alive\n\n")
			if rc.Flush() != nil {
				return
			}
		}
	}
}
