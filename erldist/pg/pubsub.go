package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// PubSubScope is the pg scope the phoenix_pubsub application starts on
// every Elixir node (the module atom Phoenix.PubSub).
const PubSubScope = "Elixir.Phoenix.PubSub"

// DefaultDispatcher is Phoenix.PubSub's default dispatcher module: it
// sends the message as is to every local subscriber of the topic.
const DefaultDispatcher = etf.Atom("Elixir.Phoenix.PubSub")

var atomForwardToLocal = etf.Atom("forward_to_local")

// PubSubOptions configure a PubSub.
type PubSubOptions struct {
	// PoolSize is the :pool_size of the Elixir side's Phoenix.PubSub
	// (default 1): how many listener groups each node joins. Use the same
	// value as the Elixir nodes.
	PoolSize int
	// BroadcastPoolSize is the :broadcast_pool_size (default PoolSize):
	// how many of those groups broadcasts are spread over.
	BroadcastPoolSize int
	// SubscriptionBuffer is the channel capacity of each Subscription
	// (default 256); a broadcast that finds it full is dropped for that
	// subscriber and counted in Subscription.Dropped.
	SubscriptionBuffer int
}

// Broadcast is one message published on a topic.
type Broadcast struct {
	Topic   string
	Message etf.Term
	// Dispatcher is the dispatcher module the publisher named; it is
	// DefaultDispatcher unless the Elixir side passed its own (Phoenix
	// channels use Phoenix.Channel.Server for fastlaning).
	Dispatcher etf.Atom
}

// PubSub takes part in a Phoenix.PubSub server of the PG2 adapter (the
// default one) under the same name as the Elixir nodes, so that Go
// subscribers receive Phoenix.PubSub.broadcast/3 from Elixir and Go
// broadcasts reach Elixir subscribers. See the package documentation for
// the wire format.
type PubSub struct {
	scope     *Scope
	name      etf.Atom // Elixir.MyApp.PubSub
	adapter   etf.Atom // Elixir.MyApp.PubSub.Adapter
	groups    []etf.Atom
	broadcast []etf.Atom
	workers   []*erldist.Mailbox
	buffer    int
	next      atomic.Uint64

	mu     sync.RWMutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Subscription receives the broadcasts of one topic.
type Subscription struct {
	ps      *PubSub
	topic   string
	ch      chan Broadcast
	once    sync.Once
	dropped atomic.Uint64
}

// C returns the channel broadcasts arrive on; it is closed by
// Unsubscribe and by PubSub.Close.
func (s *Subscription) C() <-chan Broadcast { return s.ch }

// Dropped returns how many broadcasts found the channel full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Unsubscribe stops the subscription and closes its channel.
func (s *Subscription) Unsubscribe() {
	s.ps.mu.Lock()
	defer s.ps.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	s.once.Do(func() {
		if m := s.ps.subs[s.topic]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(s.ps.subs, s.topic)
			}
		}
		close(s.ch)
	})
}

// ElixirAtom returns the atom of an Elixir module name: "MyApp.PubSub"
// becomes Elixir.MyApp.PubSub; a name that already starts with "Elixir."
// is kept.
func ElixirAtom(module string) etf.Atom {
	if strings.HasPrefix(module, "Elixir.") {
		return etf.Atom(module)
	}
	return etf.Atom("Elixir." + module)
}

// PubSubGroups returns the pg groups (in scope PubSubScope) of the
// Phoenix.PubSub server name with poolSize listeners, as
// Phoenix.PubSub.PG2 names them: Elixir.Name.Adapter, then
// Elixir.Name.Adapter_2 up to _poolSize.
func PubSubGroups(name string, poolSize int) []etf.Atom {
	adapter := string(ElixirAtom(name)) + ".Adapter"
	out := []etf.Atom{etf.Atom(adapter)}
	for i := 2; i <= poolSize; i++ {
		out = append(out, etf.Atom(adapter+"_"+strconv.Itoa(i)))
	}
	return out
}

// NewPubSub joins the Phoenix.PubSub server name ("MyApp.PubSub", the
// :name given to Phoenix.PubSub in the Elixir application) through scope,
// which must be the PubSubScope scope of this node (start it with
// Start(n, PubSubScope, ...)). It starts one listener per pool group,
// registered under the group's name and joined to the group, as
// Phoenix.PubSub.PG2 does on every Elixir node.
func NewPubSub(ctx context.Context, scope *Scope, name string, opts PubSubOptions) (*PubSub, error) {
	if scope == nil || scope.Name() != PubSubScope {
		return nil, fmt.Errorf("pg: NewPubSub needs the %s scope; start it with pg.Start(node, pg.PubSubScope, opts)", PubSubScope)
	}
	if name == "" || len(name) > 200 {
		return nil, errors.New("pg: the PubSub name must be the Elixir module name of the server, such as MyApp.PubSub")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 1
	}
	if opts.BroadcastPoolSize <= 0 {
		opts.BroadcastPoolSize = opts.PoolSize
	}
	if opts.BroadcastPoolSize > opts.PoolSize {
		return nil, errors.New("pg: PoolSize must be greater than or equal to BroadcastPoolSize, as Phoenix.PubSub requires")
	}
	if opts.SubscriptionBuffer <= 0 {
		opts.SubscriptionBuffer = 256
	}
	groups := PubSubGroups(name, opts.PoolSize)
	ps := &PubSub{
		scope: scope, name: ElixirAtom(name), adapter: groups[0], groups: groups,
		broadcast: groups[:opts.BroadcastPoolSize], buffer: opts.SubscriptionBuffer,
		subs: map[string]map[*Subscription]struct{}{},
	}
	for _, g := range groups {
		mb, err := scope.n.NewMailbox(string(g))
		if err != nil {
			ps.Close()
			return nil, fmt.Errorf("pg: starting the listener %s: %w", g, err)
		}
		ps.workers = append(ps.workers, mb)
		if err := scope.Join(ctx, g, mb); err != nil {
			ps.Close()
			return nil, fmt.Errorf("pg: joining %s: %w", g, err)
		}
		ps.wg.Add(1)
		go ps.listen(mb)
	}
	return ps, nil
}

// listen is a Phoenix.PubSub.PG2Worker: {forward_to_local, Topic, Message,
// Dispatcher} is dispatched to the local subscribers; anything else is
// ignored, as the worker does.
func (ps *PubSub) listen(mb *erldist.Mailbox) {
	defer ps.wg.Done()
	for m := range mb.C() {
		t, ok := m.Body.(etf.Tuple)
		if !ok || len(t) != 4 || t[0] != atomForwardToLocal {
			continue
		}
		topic, ok1 := t[1].(etf.Binary)
		disp, ok2 := t[3].(etf.Atom)
		if !ok1 || !ok2 {
			continue
		}
		ps.LocalBroadcast(Broadcast{Topic: string(topic), Message: t[2], Dispatcher: disp})
	}
}

// Subscribe subscribes to topic, like Phoenix.PubSub.subscribe/2.
func (ps *PubSub) Subscribe(topic string) (*Subscription, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, ErrClosed
	}
	s := &Subscription{ps: ps, topic: topic, ch: make(chan Broadcast, ps.buffer)}
	m := ps.subs[topic]
	if m == nil {
		m = map[*Subscription]struct{}{}
		ps.subs[topic] = m
	}
	m[s] = struct{}{}
	return s, nil
}

// LocalBroadcast delivers b to the Go subscribers of its topic only
// (Phoenix.PubSub.local_broadcast/3).
func (ps *PubSub) LocalBroadcast(b Broadcast) {
	if b.Dispatcher == "" {
		b.Dispatcher = DefaultDispatcher
	}
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for s := range ps.subs[b.Topic] {
		select {
		case s.ch <- b:
		default:
			s.dropped.Add(1)
		}
	}
}

// Broadcast publishes msg on topic across the cluster, as
// Phoenix.PubSub.broadcast/3 does with the PG2 adapter: it sends
// {forward_to_local, Topic, Msg, Elixir.Phoenix.PubSub} to the listener of
// one broadcast group on every other node, and delivers msg to the Go
// subscribers here. Topic goes out as an Elixir string (a binary).
func (ps *PubSub) Broadcast(ctx context.Context, topic string, msg etf.Term) error {
	g := ps.broadcast[ps.next.Add(1)%uint64(len(ps.broadcast))]
	fwd := etf.Tuple{atomForwardToLocal, etf.Binary(topic), msg, DefaultDispatcher}
	var remote []etf.Pid
	for _, p := range ps.scope.Members(g) {
		if libcluster.Node(p.Node) != ps.scope.n.Self() {
			remote = append(remote, p)
		}
	}
	_, err := ps.scope.sendTo(ctx, remote, fwd)
	ps.LocalBroadcast(Broadcast{Topic: topic, Message: msg, Dispatcher: DefaultDispatcher})
	return err
}

// DirectBroadcast publishes msg on topic to the subscribers of one node
// only (Phoenix.PubSub.direct_broadcast/4): it sends to the listener
// registered as the adapter name on that node.
func (ps *PubSub) DirectBroadcast(ctx context.Context, node libcluster.Node, topic string, msg etf.Term) error {
	if node == ps.scope.n.Self() {
		ps.LocalBroadcast(Broadcast{Topic: topic, Message: msg, Dispatcher: DefaultDispatcher})
		return nil
	}
	return ps.workers[0].SendName(ctx, node, string(ps.adapter), etf.Tuple{atomForwardToLocal, etf.Binary(topic), msg, DefaultDispatcher})
}

// Close stops the listeners (they leave their groups as their mailboxes
// close) and closes every subscription. The scope stays up.
func (ps *PubSub) Close() {
	for _, mb := range ps.workers {
		mb.Close()
	}
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closed = true
	for _, m := range ps.subs {
		for s := range m {
			s.closeLocked()
		}
	}
}
