package pg

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// erlPhoenixPubSub sets up, on an erl node, what Phoenix.PubSub with the
// PG2 adapter sets up for {Phoenix.PubSub, name: MyApp.PubSub,
// pool_size: 2}, following its source: the scope Elixir.Phoenix.PubSub
// (Phoenix.PubSub.Application), one PG2Worker per listener group,
// registered under the group's name and joined to it, which hands
// {forward_to_local, Topic, Message, Dispatcher} to the local subscribers
// (here an ETS bag stands in for the Registry), and functions doing what
// Phoenix.PubSub.broadcast/3 and subscribe/2 do. The subscriber forwards
// what it gets to {sink, GoNode}.
const erlPhoenixPubSub = `
{ok, _} = pg:start('Elixir.Phoenix.PubSub'),
Groups = {'Elixir.MyApp.PubSub.Adapter', 'Elixir.MyApp.PubSub.Adapter_2'},
subs = ets:new(subs, [bag, public, named_table]),
Dispatch = fun(Topic, Msg) -> [P ! Msg || {_, P} <- ets:lookup(subs, Topic)] end,
Worker = fun(G) -> spawn(fun() ->
    register(G, self()),
    ok = pg:join('Elixir.Phoenix.PubSub', G, self()),
    (fun L() -> receive
        {forward_to_local, Topic, Msg, 'Elixir.Phoenix.PubSub'} -> Dispatch(Topic, Msg), L();
        _ -> L()
    end end)()
  end) end,
[Worker(G) || G <- tuple_to_list(Groups)],
Broadcast = fun(Topic, Msg) ->
    G = element(erlang:phash2(self(), tuple_size(Groups)) + 1, Groups),
    [P ! {forward_to_local, Topic, Msg, 'Elixir.Phoenix.PubSub'} || P <- pg:get_members('Elixir.Phoenix.PubSub', G), node(P) =/= node()],
    Dispatch(Topic, Msg),
    ok
  end,
persistent_term:put(broadcast, Broadcast),
Sub = spawn(fun L() -> receive M -> {sink, 'gopubsub@127.0.0.1'} ! {got, M}, L() end end),
true = ets:insert(subs, {<<"room:1">>, Sub}),
ok.
`

// TestPhoenixPubSub: Go takes part in a Phoenix.PubSub server emulated in
// erl exactly as Phoenix.PubSub.PG2 works; broadcasts go both ways,
// direct broadcasts too.
func TestPhoenixPubSub(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startGo(t, "gopubsub@127.0.0.1", ep)
	ctx := testCtx(t)
	scope := startScope(t, g, PubSubScope)
	ps, err := NewPubSub(ctx, scope, "MyApp.PubSub", PubSubOptions{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	sink, err := g.NewMailbox("sink")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	sub, err := ps.Subscribe("room:1")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ps.Subscribe("room:2")

	e := startErl(t, g, ep, "erlpubsub@127.0.0.1")
	if v := e.eval(t, erlPhoenixPubSub); v != etf.Atom("ok") {
		t.Fatalf("setting up Phoenix.PubSub in erl: %v", v)
	}
	for _, grp := range PubSubGroups("MyApp.PubSub", 2) {
		eventually(t, 15*time.Second, "both sides see both listeners of "+string(grp), func() (bool, string) {
			erlSide := e.pids(t, fmt.Sprintf(`pg:get_members('Elixir.Phoenix.PubSub', '%s').`, grp))
			goSide := scope.Members(grp)
			return len(erlSide) == 2 && len(goSide) == 2, fmt.Sprint(erlSide, goSide)
		})
	}

	// Elixir broadcasts, Go receives.
	e.eval(t, `(persistent_term:get(broadcast))(<<"room:1">>, {new_msg, #{body => <<"hi">>}}).`)
	b := recvBroadcast(t, sub)
	want := etf.Tuple{etf.Atom("new_msg"), etf.Map{{Key: etf.Atom("body"), Value: etf.Binary("hi")}}}
	if b.Topic != "room:1" || !etf.Equal(b.Message, want) || b.Dispatcher != DefaultDispatcher {
		t.Fatalf("Go got %+v", b)
	}
	if got := recvSink(t, sink); !etf.Equal(got, want) { // erl's own subscriber
		t.Fatalf("erl subscriber got %v", got)
	}
	select {
	case b := <-other.C():
		t.Fatalf("a subscriber of room:2 got %+v", b)
	default:
	}

	// Go broadcasts (over both broadcast groups), Elixir's subscriber and
	// Go's own receive it.
	for i := range 2 {
		msg := etf.Tuple{etf.Atom("from_go"), i}
		if err := ps.Broadcast(ctx, "room:1", msg); err != nil {
			t.Fatal(err)
		}
		if got := recvSink(t, sink); !etf.Equal(got, msg) {
			t.Fatalf("erl subscriber got %v, want %v", got, msg)
		}
		if b := recvBroadcast(t, sub); !etf.Equal(b.Message, msg) {
			t.Fatalf("Go subscriber got %+v", b)
		}
	}

	// Direct broadcasts both ways.
	e.eval(t, `{'Elixir.MyApp.PubSub.Adapter', 'gopubsub@127.0.0.1'} ! {forward_to_local, <<"room:1">>, direct, 'Elixir.Phoenix.PubSub'}, ok.`)
	if b := recvBroadcast(t, sub); b.Message != etf.Atom("direct") {
		t.Fatalf("direct broadcast to Go: %+v", b)
	}
	if err := ps.DirectBroadcast(ctx, e.name, "room:1", etf.Atom("direct_from_go")); err != nil {
		t.Fatal(err)
	}
	if got := recvSink(t, sink); got != etf.Atom("direct_from_go") {
		t.Fatalf("direct broadcast to erl: %v", got)
	}
	sub.Unsubscribe()
	if _, ok := <-sub.C(); ok {
		t.Fatal("the channel of an ended subscription is open")
	}
}

func TestPubSubArgs(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startGo(t, "gopubsubargs@127.0.0.1", ep)
	ctx := testCtx(t)
	other := startScope(t, g, DefaultScope)
	if _, err := NewPubSub(ctx, other, "MyApp.PubSub", PubSubOptions{}); err == nil || !strings.Contains(err.Error(), PubSubScope) {
		t.Errorf("NewPubSub on the pg scope: %v", err)
	}
	scope := startScope(t, g, PubSubScope)
	if _, err := NewPubSub(ctx, scope, "MyApp.PubSub", PubSubOptions{PoolSize: 1, BroadcastPoolSize: 2}); err == nil {
		t.Error("BroadcastPoolSize > PoolSize accepted")
	}
	if got := PubSubGroups("Elixir.A", 3); len(got) != 3 || got[0] != "Elixir.A.Adapter" || got[2] != "Elixir.A.Adapter_3" {
		t.Errorf("PubSubGroups = %v", got)
	}
}

func recvBroadcast(t *testing.T, s *Subscription) Broadcast {
	t.Helper()
	select {
	case b := <-s.C():
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no broadcast within 10 s")
	}
	return Broadcast{}
}

func recvSink(t *testing.T, sink *erldist.Mailbox) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sink.Recv(ctx)
	if err != nil {
		t.Fatalf("erl subscriber sent nothing: %v", err)
	}
	got, ok := m.Body.(etf.Tuple)
	if !ok || len(got) != 2 || got[0] != etf.Atom("got") {
		t.Fatalf("sink got %v", m.Body)
	}
	return got[1]
}
