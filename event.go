package libcluster

import (
	"fmt"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of [Event]. They are the Go counterpart of libcluster's
// telemetry events ([:libcluster, :connect_node, :ok] and so on), plus the
// discovery and supervision events libcluster does not have.
const (
	EventConnected        EventKind = iota + 1 // a connect attempt succeeded
	EventConnectFailed                         // a connect attempt failed; Err says why, Attempt counts
	EventDisconnected                          // a node left the desired set and was disconnected
	EventDisconnectFailed                      // a disconnect failed
	EventDiscoveryError                        // the strategy reported an error; the last good set is kept
	EventNodeUp                                // the connector saw a connection come up
	EventNodeDown                              // the connector saw a connection go down; Err carries the reason
	EventStrategyFailed                        // the strategy returned an error or panicked and will be restarted
	EventDesired                               // the desired set changed; Nodes is the new set
)

var eventNames = map[EventKind]string{
	EventConnected:        "connected",
	EventConnectFailed:    "connect_failed",
	EventDisconnected:     "disconnected",
	EventDisconnectFailed: "disconnect_failed",
	EventDiscoveryError:   "discovery_error",
	EventNodeUp:           "node_up",
	EventNodeDown:         "node_down",
	EventStrategyFailed:   "strategy_failed",
	EventDesired:          "desired_changed",
}

// String returns the event kind in snake case, e.g. "connect_failed".
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one decision or observation of a topology. Observers receive
// every event; the same information goes to the topology's slog logger.
type Event struct {
	Kind     EventKind
	Topology string
	Node     Node          // the node concerned, if any
	Nodes    []Node        // for EventDesired: the new desired set
	Duration time.Duration // how long a connect or disconnect took
	Attempt  int           // for connect events: 1 for the first attempt at a node
	Err      error         // what went wrong, for failure and down events
	Time     time.Time
}

// Observer receives events. A topology calls its observers from one
// goroutine, one event at a time and in order, never concurrently; an
// observer given to several topologies is called from each of their
// goroutines and must then be safe for concurrent use. It must not block
// for long: the topology's reconciling waits for it.
type Observer func(Event)
