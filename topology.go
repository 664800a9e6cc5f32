package libcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Topology binds one [Strategy] to one [Connector] and keeps what is
// connected equal to what was discovered.
//
// It connects every desired node that is not connected, several at a time
// with a timeout each, and retries a node that fails with exponential
// back-off until it connects or leaves the desired set; no new discovery is
// needed for that, so a lost peer comes back by itself. It never connects to
// the connector's own node. A node missing from a complete discovery set is
// disconnected when the [Prune] policy says so. Every decision is an [Event]
// given to the observers and logged with topology=<Name>.
//
// Several topologies may share one connector. A node is then disconnected
// only when no running topology of that connector wants it, and each
// topology reports (and counts) node up/down events only for the nodes it
// wants.
//
// Set the fields, then call Run (or add the topology to a [Supervisor]).
// Fields must not change after Run starts.
type Topology struct {
	Name      string       // required; appears in every event and log record
	Strategy  Strategy     // required
	Connector Connector    // required
	Policy    Policy       // zero value: the defaults
	Logger    *slog.Logger // default slog.Default()
	Observers []Observer   // called for every event

	mu     sync.Mutex
	status TopologyStatus // its Connected is unused: see up
	// up[i] reports whether status.Desired[i] is connected. The loop
	// updates it in place after every event; Status builds the Connected
	// list from it when asked.
	up []bool
}

// TopologyStatus is a snapshot of a topology's state.
type TopologyStatus struct {
	Name      string
	Desired   []Node // nodes discovered and wanted, sorted; never includes self
	Connected []Node // desired nodes connected now, sorted
	Ready     bool   // at least Policy.MinNodes desired nodes are connected
	Running   bool   // Run is executing
	// LastError is the latest discovery or strategy error, cleared by the
	// next good discovery; nil if none.
	LastError error
	// Restarts counts strategy restarts after an error or panic.
	Restarts int
}

// Status returns a snapshot of the topology's state. It is safe to call at
// any time from any goroutine.
func (t *Topology) Status() TopologyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.status
	s.Name = t.Name
	s.Desired = slices.Clone(s.Desired)
	if len(t.up) == len(s.Desired) {
		for i, n := range s.Desired {
			if t.up[i] {
				s.Connected = append(s.Connected, n)
			}
		}
	}
	if !s.Running {
		s.Ready = false
	}
	return s
}

func (t *Topology) validate() error {
	switch {
	case t.Name == "":
		return errors.New("libcluster: topology has no Name; give every topology a unique name")
	case t.Strategy == nil:
		return fmt.Errorf("libcluster: topology %q has no Strategy", t.Name)
	case t.Connector == nil:
		return fmt.Errorf("libcluster: topology %q has no Connector", t.Name)
	}
	return nil
}

// Run reconciles until ctx ends, then waits for every goroutine it started
// and returns nil. It returns an error at once if the topology is
// misconfigured or already running. The strategy runs under supervision:
// if it returns an error or panics it is restarted after a back-off
// (Policy.Restart) while the desired set and connections are kept.
func (t *Topology) Run(ctx context.Context) error {
	if err := t.begin(); err != nil {
		return err
	}
	t.run(ctx)
	return nil
}

// begin marks the topology running, or says why it cannot run.
func (t *Topology) begin() error {
	if err := t.validate(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status.Running {
		return fmt.Errorf("libcluster: topology %q is already running", t.Name)
	}
	t.status = TopologyStatus{Running: true, Ready: t.Policy.MinNodes <= 0}
	t.up = nil
	return nil
}

// end marks the topology stopped.
func (t *Topology) end() {
	t.mu.Lock()
	t.status.Running = false
	t.mu.Unlock()
}

// run reconciles after a successful begin, until ctx ends.
func (t *Topology) run(ctx context.Context) {
	defer t.end()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := newReconciler(t, ctx)
	defer r.releaseAll()
	var wg sync.WaitGroup
	wg.Go(func() { t.superviseStrategy(ctx, r) })
	r.loop()
	cancel()
	wg.Wait()
	r.workers.Wait()
}

func (t *Topology) logger() *slog.Logger {
	l := t.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("topology", t.Name)
}

// member is the reconciler's record of one desired node.
type member struct {
	misses    int  // consecutive complete sets without it
	connected bool // per the last connect result, event or resync
	inflight  bool // a connect is running
	// doubt: while the connect ran, the connector reported the node down
	// (or a resync could not look), so a success must be checked against
	// the connector's list before it is believed.
	doubt    bool
	failures int       // consecutive failed connects
	retryAt  time.Time // earliest next connect; zero: now
	lastSeen time.Time // when a Seen update last named it
	expire   time.Duration
}

type result struct {
	node       Node
	member     *member // the member a connect was for
	disconnect bool
	err        error
	took       time.Duration
}

// strategyFailure is a strategy error handed to the loop, so that every
// event of a topology is emitted from one goroutine.
type strategyFailure struct {
	err     error
	attempt int
}

// errStillWanted is a disconnect's result when another topology of the
// same connector still wants the node (or is disconnecting it already).
var errStillWanted = errors.New("another topology wants the node")

// errLostAtOnce is a connect that returned success for a connection the
// connector had already reported down again.
var errLostAtOnce = errors.New("the connection went down again before the connect returned")

// reconciler is the single goroutine that owns a topology's state.
type reconciler struct {
	t       *Topology
	ctx     context.Context
	pol     Policy
	log     *slog.Logger
	self    Node
	members map[Node]*member
	order   []Node // members sorted; nil when members changed (never mutated in place)
	shuffle []Node // members in this reconciler's random connect order; nil with order
	// orderM and shuffleM hold the members of order and shuffle, index by
	// index: the loop walks them once per event, and at a few hundred
	// members map lookups and iteration there were a tenth of the CPU.
	orderM, shuffleM []*member
	owners           *owners
	unshare          func()

	updates  chan Update
	results  chan result
	nodeEvs  chan NodeEvent
	resync   chan struct{}
	failures chan strategyFailure
	inflight int
	workers  sync.WaitGroup
}

func newReconciler(t *Topology, ctx context.Context) *reconciler {
	r := &reconciler{
		t:        t,
		ctx:      ctx,
		pol:      t.Policy.withDefaults(),
		log:      t.logger(),
		self:     t.Connector.Self(),
		members:  map[Node]*member{},
		updates:  make(chan Update),
		results:  make(chan result),
		nodeEvs:  make(chan NodeEvent, 256),
		resync:   make(chan struct{}, 1),
		failures: make(chan strategyFailure),
	}
	r.owners, r.unshare = ownersFor(t.Connector)
	return r
}

// addMember makes n a member and claims it in the connector's owners.
func (r *reconciler) addMember(n Node) *member {
	r.owners.claim(n)
	m := &member{}
	r.members[n] = m
	r.order, r.shuffle, r.orderM, r.shuffleM = nil, nil, nil, nil
	return m
}

// removeMember forgets n and gives up its claim.
func (r *reconciler) removeMember(n Node) {
	delete(r.members, n)
	r.order, r.shuffle, r.orderM, r.shuffleM = nil, nil, nil, nil
	r.owners.release(n)
}

// releaseAll gives up every claim when the topology stops. Connections are
// kept, as libcluster keeps them.
func (r *reconciler) releaseAll() {
	for n := range r.members {
		r.owners.release(n)
	}
	r.members = nil
	r.unshare()
}

// Report implements [Reporter] for the topology's strategy.
func (r *reconciler) Report(u Update) {
	u.nodes = slices.Clone(u.nodes)
	select {
	case r.updates <- u:
	case <-r.ctx.Done():
	}
}

func (r *reconciler) loop() {
	if w, ok := r.t.Connector.(NodeWatcher); ok {
		stop := w.WatchNodes(func(ev NodeEvent) {
			select {
			case r.nodeEvs <- ev:
			default: // full: fall back to a resync, which sees the same truth
				select {
				case r.resync <- struct{}{}:
				default:
				}
			}
		})
		defer stop()
	}
	tick := time.NewTicker(r.pol.Resync)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()

	for {
		r.kick()
		r.publish()
		r.armRetry(retry)
		select {
		case <-r.ctx.Done():
			return
		case u := <-r.updates:
			r.apply(u)
		case res := <-r.results:
			// Events the connector delivered before the call returned are
			// already queued: apply them first, so a connection that came
			// up and dropped during the call is judged by its last event.
			r.drainNodeEvents()
			r.finish(res)
			r.drainResults()
		case ev := <-r.nodeEvs:
			r.nodeEvent(ev)
			r.drainNodeEvents()
		case f := <-r.failures:
			r.strategyFailed(f)
		case <-r.resync:
			r.doResync()
		case <-tick.C:
			r.doResync()
		case <-retry.C:
		}
	}
}

// drainNodeEvents applies every connector event that is already queued,
// so that a burst (an up followed at once by a down) is published as its
// outcome, not as each step.
func (r *reconciler) drainNodeEvents() {
	for {
		select {
		case ev := <-r.nodeEvs:
			r.nodeEvent(ev)
		default:
			return
		}
	}
}

// drainResults takes every connect result that is already waiting, so a
// burst of completions costs one kick and one status publish, not one each.
func (r *reconciler) drainResults() {
	for {
		select {
		case res := <-r.results:
			r.finish(res)
		default:
			return
		}
	}
}

func (r *reconciler) emit(ev Event) {
	ev.Topology = r.t.Name
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	attrs := []any{}
	if ev.Node != "" {
		attrs = append(attrs, "node", string(ev.Node))
	}
	if ev.Duration > 0 {
		attrs = append(attrs, "duration", ev.Duration)
	}
	if ev.Attempt > 0 {
		attrs = append(attrs, "attempt", ev.Attempt)
	}
	if ev.Err != nil {
		attrs = append(attrs, "error", ev.Err.Error())
	}
	level, msg := slog.LevelInfo, ev.Kind.String()
	switch ev.Kind {
	case EventConnected:
		msg = "connected to " + string(ev.Node)
	case EventConnectFailed:
		msg = "unable to connect to " + string(ev.Node)
		level = slog.LevelDebug
		if ev.Attempt&(ev.Attempt-1) == 0 { // attempts 1, 2, 4, 8, ...
			level = slog.LevelWarn
		}
	case EventDisconnected:
		msg = "disconnected from " + string(ev.Node)
	case EventDisconnectFailed:
		msg, level = "disconnect from "+string(ev.Node)+" failed", slog.LevelWarn
	case EventDiscoveryError:
		msg, level = "discovery failed; keeping the last good set", slog.LevelWarn
	case EventNodeUp:
		msg = "node up: " + string(ev.Node)
	case EventNodeDown:
		msg = "node down: " + string(ev.Node)
	case EventStrategyFailed:
		msg, level = "strategy failed; restarting", slog.LevelError
	case EventDesired:
		attrs = append(attrs, "desired", len(ev.Nodes))
		msg, level = "desired set changed", slog.LevelDebug
	}
	r.log.Log(context.Background(), level, msg, attrs...)
	r.t.observe(ev)
}

func (t *Topology) observe(ev Event) {
	for _, o := range t.Observers {
		o(ev)
	}
}

// apply takes one strategy report.
func (r *reconciler) apply(u Update) {
	switch u.Kind() {
	case KindFailed:
		r.t.mu.Lock()
		r.t.status.LastError = u.Err()
		r.t.mu.Unlock()
		r.emit(Event{Kind: EventDiscoveryError, Err: u.Err()})
		return
	case KindSeen, KindComplete:
	default:
		r.log.Debug("ignoring an update with no kind; build updates with libcluster.Complete, Seen or Failed")
		return
	}
	complete := u.Kind() == KindComplete
	r.t.mu.Lock()
	r.t.status.LastError = nil
	r.t.mu.Unlock()

	changed := false
	now := time.Now()
	in := make(map[Node]bool, len(u.Nodes()))
	for _, n := range u.Nodes() {
		if n == r.self || n == "" {
			continue
		}
		in[n] = true
		m, ok := r.members[n]
		if !ok {
			m = r.addMember(n)
			changed = true
		}
		m.misses, m.lastSeen = 0, now
		m.expire = 0
		if !complete {
			m.expire = u.Expire()
		}
	}
	if complete {
		limit := r.pol.Prune.Misses()
		var up map[Node]bool // the connector's list, fetched once if anything is pruned
		for n, m := range r.members {
			if in[n] {
				continue
			}
			m.misses++
			if limit == 0 || m.misses < limit {
				continue
			}
			r.removeMember(n)
			changed = true
			if up == nil {
				up = map[Node]bool{}
				for _, c := range r.t.Connector.Nodes() {
					up[c] = true
				}
			}
			if up[n] {
				r.startDisconnect(n)
			}
		}
	}
	if changed {
		r.emit(Event{Kind: EventDesired, Nodes: r.desired()})
	}
}

// desired returns the members sorted. The slice is shared and must not be
// modified; it is rebuilt after the member set changes.
func (r *reconciler) desired() []Node {
	if r.order == nil {
		r.order = slices.Sorted(maps.Keys(r.members))
		r.orderM = make([]*member, len(r.order))
		for i, n := range r.order {
			r.orderM[i] = r.members[n]
		}
	}
	return r.order
}

// sortedMembers returns the members in the order of desired.
func (r *reconciler) sortedMembers() []*member {
	r.desired()
	return r.orderM
}

// connectOrder returns the members in an order of this reconciler's own,
// random, kept while the member set stays the same. A fleet started at
// once then does not aim every node's first Parallelism connects at the
// same few peers (the first in sorted order), which a connector that
// serves each join with a full-state exchange cannot absorb.
func (r *reconciler) connectOrder() []Node {
	if r.shuffle == nil {
		r.shuffle = slices.Clone(r.desired())
		r.shuffleM = slices.Clone(r.orderM)
		rand.Shuffle(len(r.shuffle), func(i, j int) {
			r.shuffle[i], r.shuffle[j] = r.shuffle[j], r.shuffle[i]
			r.shuffleM[i], r.shuffleM[j] = r.shuffleM[j], r.shuffleM[i]
		})
	}
	return r.shuffle
}

// kick starts connects for every member that is due, within Parallelism.
func (r *reconciler) kick() {
	if r.inflight >= r.pol.Parallelism {
		return
	}
	now := time.Now()
	for i, n := range r.connectOrder() {
		if r.inflight >= r.pol.Parallelism {
			return
		}
		m := r.shuffleM[i]
		if m.connected || m.inflight || now.Before(m.retryAt) {
			continue
		}
		m.inflight, m.doubt = true, false
		r.startConnect(n, m)
	}
}

func (r *reconciler) startConnect(n Node, m *member) {
	r.inflight++
	r.spawn(n, m, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, r.pol.ConnectTimeout)
		defer cancel()
		return r.t.Connector.Connect(ctx, n)
	})
}

// startDisconnect disconnects n unless another topology of the connector
// wants it.
func (r *reconciler) startDisconnect(n Node) {
	r.spawn(n, nil, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, r.pol.ConnectTimeout)
		defer cancel()
		err := errStillWanted
		r.owners.disconnect(n, func() { err = r.t.Connector.Disconnect(ctx, n) })
		return err
	})
}

// spawn runs a connector call in a worker goroutine, turning a panic into
// an error, and hands the result back to the loop.
// m is the member a connect is for; nil for a disconnect.
func (r *reconciler) spawn(n Node, m *member, call func(context.Context) error) {
	r.workers.Go(func() {
		start := time.Now()
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("connector panicked: %v", p)
				}
			}()
			return call(r.ctx)
		}()
		select {
		case r.results <- result{node: n, member: m, disconnect: m == nil, err: err, took: time.Since(start)}:
		case <-r.ctx.Done():
		}
	})
}

func (r *reconciler) finish(res result) {
	if res.disconnect {
		switch {
		case res.err == nil:
			r.emit(Event{Kind: EventDisconnected, Node: res.node, Duration: res.took})
		case errors.Is(res.err, ErrNotConnected):
			r.log.Debug("disconnect found no connection", "node", string(res.node))
		case errors.Is(res.err, errStillWanted):
			r.log.Debug("not disconnecting: another topology of the connector wants the node", "node", string(res.node))
		default:
			r.emit(Event{Kind: EventDisconnectFailed, Node: res.node, Duration: res.took, Err: res.err})
		}
		return
	}
	r.inflight--
	m, ok := r.members[res.node]
	if !ok || m != res.member {
		// Pruned while connecting (and perhaps discovered again since,
		// as a new member with its own attempt): report what happened,
		// and undo it if nobody wants the node now.
		if res.err == nil {
			r.emit(Event{Kind: EventConnected, Node: res.node, Duration: res.took, Attempt: 1})
			if !ok {
				r.startDisconnect(res.node)
			}
		} else {
			r.emit(Event{Kind: EventConnectFailed, Node: res.node, Duration: res.took, Attempt: 1, Err: res.err})
		}
		return
	}
	m.inflight = false
	if res.err == nil && m.doubt && !slices.Contains(r.t.Connector.Nodes(), res.node) {
		// The connector reported the node down after the connect began:
		// its list, not the stale success, is the truth.
		res.err = errLostAtOnce
	}
	m.doubt = false
	if res.err == nil {
		attempt := m.failures + 1
		m.connected, m.failures, m.retryAt = true, 0, time.Time{}
		r.emit(Event{Kind: EventConnected, Node: res.node, Duration: res.took, Attempt: attempt})
		return
	}
	attempt := m.failures + 1
	if m.connected {
		// The attempt failed, but the connector reported the node up
		// while it ran (the peer connected to us): nothing to retry.
		m.failures, m.retryAt = 0, time.Time{}
	} else {
		m.failures++
		m.retryAt = time.Now().Add(r.pol.Backoff.Delay(m.failures))
	}
	r.emit(Event{Kind: EventConnectFailed, Node: res.node, Duration: res.took, Attempt: attempt, Err: res.err})
}

// nodeEvent applies a connector event to a member; events for nodes this
// topology does not want are not its business and are dropped.
func (r *reconciler) nodeEvent(ev NodeEvent) {
	m, ok := r.members[ev.Node]
	if !ok || ev.Node == r.self {
		return
	}
	var err error
	kind := EventNodeUp
	if !ev.Up {
		kind = EventNodeDown
		if ev.Reason != "" {
			err = errors.New(ev.Reason)
		}
	}
	r.emit(Event{Kind: kind, Node: ev.Node, Err: err})
	if ev.Up {
		m.connected, m.failures, m.retryAt, m.doubt = true, 0, time.Time{}, false
		return
	}
	m.connected = false
	if m.inflight {
		m.doubt = true
		return
	}
	// The first reconnect is immediate; the back-off applies from there.
	m.retryAt = time.Time{}
}

// doResync aligns each member's connected flag with the connector and
// forgets expired Seen members.
func (r *reconciler) doResync() {
	up := map[Node]bool{}
	for _, n := range r.t.Connector.Nodes() {
		up[n] = true
	}
	forgot := false
	for n, m := range r.members {
		if m.inflight {
			// The list may predate or postdate the attempt; let its
			// result be checked against the connector.
			m.doubt = true
			continue
		}
		if m.expire > 0 && !up[n] && time.Since(m.lastSeen) > m.expire {
			r.log.Info("forgetting node not seen for a while", "node", string(n), "expire", m.expire)
			r.removeMember(n)
			forgot = true
			continue
		}
		switch {
		case up[n] && !m.connected:
			m.connected, m.failures, m.retryAt = true, 0, time.Time{}
		case !up[n] && m.connected:
			r.log.Info("connection lost; reconnecting", "node", string(n))
			m.connected, m.retryAt = false, time.Time{}
		}
	}
	if forgot {
		r.emit(Event{Kind: EventDesired, Nodes: r.desired()})
	}
}

// armRetry sets the timer to the earliest pending retry.
func (r *reconciler) armRetry(t *time.Timer) {
	var next time.Time
	for _, m := range r.sortedMembers() {
		if m.connected || m.inflight || m.retryAt.IsZero() {
			continue
		}
		if next.IsZero() || m.retryAt.Before(next) {
			next = m.retryAt
		}
	}
	d := time.Hour
	if !next.IsZero() && r.inflight < r.pol.Parallelism { // when saturated, a result wakes the loop
		d = max(time.Until(next), 0)
	}
	t.Reset(d)
}

// publish copies the state into the status snapshot. It allocates only
// when the desired set has changed: the loop publishes after every event,
// and while a fleet of 1,000 members formed, a new Connected slice each
// time the set grew was a quarter of the bytes a node allocated.
func (r *reconciler) publish() {
	desired, members := r.desired(), r.sortedMembers()
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if prev := r.t.status.Desired; len(prev) != len(desired) || len(prev) > 0 && &prev[0] != &desired[0] {
		r.t.up = make([]bool, len(desired)) // desired is a new slice: never written after publication
	}
	k := 0
	for i, m := range members {
		r.t.up[i] = m.connected
		if m.connected {
			k++
		}
	}
	r.t.status.Desired = desired
	r.t.status.Ready = k >= r.pol.MinNodes
}

// strategyFailed records a strategy failure reported by superviseStrategy.
func (r *reconciler) strategyFailed(f strategyFailure) {
	r.t.mu.Lock()
	r.t.status.LastError = f.err
	r.t.status.Restarts++
	r.t.mu.Unlock()
	r.emit(Event{Kind: EventStrategyFailed, Err: f.err, Attempt: f.attempt})
}
