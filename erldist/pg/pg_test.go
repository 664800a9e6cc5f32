package pg

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// TestGoScopes: two Go nodes, each with the scope; joins on one are seen
// on the other, leaves and closed mailboxes are seen too, and a node that
// goes away takes its members with it.
func TestGoScopes(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startGo(t, "pga@127.0.0.1", ep)
	b := startGo(t, "pgb@127.0.0.1", ep)
	sa := startScope(t, a, DefaultScope)
	sb := startScope(t, b, DefaultScope)
	ctx := testCtx(t)
	m1, m2 := newMailbox(t, a), newMailbox(t, a)
	group := etf.Tuple{etf.Atom("room"), etf.Binary("1")}
	if err := sa.Join(ctx, group, m1, m2); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(ctx, a.Self()); err != nil {
		t.Fatal(err)
	}
	want := []etf.Pid{m1.Pid(), m2.Pid()}
	eventually(t, 10*time.Second, "b sees a's members", func() (bool, string) {
		got := sb.Members(group)
		return sameMembers(got, want), fmt.Sprint(got)
	})
	m3 := newMailbox(t, b)
	if err := sb.Join(ctx, group, m3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a sees b's join", func() (bool, string) {
		got := sa.Members(group)
		return sameMembers(got, append(want, m3.Pid())), fmt.Sprint(got)
	})
	if n, err := sa.Send(ctx, group, etf.Atom("hello")); err != nil || n != 3 {
		t.Fatalf("Send reached %d members (%v), want 3", n, err)
	}
	for _, mb := range []*erldist.Mailbox{m1, m2, m3} {
		m, err := mb.Recv(ctx)
		if err != nil || m.Body != etf.Atom("hello") {
			t.Fatalf("%v got %v (%v)", mb.Pid(), m.Body, err)
		}
	}
	if err := sa.Leave(ctx, group, m1); err != nil {
		t.Fatal(err)
	}
	if err := sa.Leave(ctx, group, m1); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("second Leave: %v, want ErrNotJoined", err)
	}
	m2.Close()
	eventually(t, 10*time.Second, "b sees the leave and the closed mailbox", func() (bool, string) {
		got := sb.Members(group)
		return sameMembers(got, []etf.Pid{m3.Pid()}), fmt.Sprint(got)
	})
	if g := sa.Groups(); len(g) != 1 || !etf.Equal(g[0], group) {
		t.Errorf("Groups() = %v", g)
	}
	sb.Close()
	eventually(t, 10*time.Second, "a drops b's members when b's scope ends", func() (bool, string) {
		got := sa.Members(group)
		return len(got) == 0, fmt.Sprint(got)
	})
	if err := sb.Join(ctx, group, m3); !errors.Is(err, ErrClosed) {
		t.Errorf("Join on a closed scope: %v", err)
	}
}

func TestJoinArgs(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startGo(t, "pgargs@127.0.0.1", ep)
	b := startGo(t, "pgargs2@127.0.0.1", ep)
	s := startScope(t, a, "args")
	ctx := testCtx(t)
	if err := s.Join(ctx, "plain string", newMailbox(t, a)); err == nil {
		t.Error("a plain Go string as group was accepted")
	}
	if err := s.Join(ctx, etf.Atom("g")); err == nil {
		t.Error("Join without mailboxes was accepted")
	}
	if err := s.Join(ctx, etf.Atom("g"), newMailbox(t, b)); err == nil {
		t.Error("a mailbox of another node joined")
	}
	if _, err := Start(a, "args", Options{}); err == nil {
		t.Error("a second scope of the same name started")
	}
}

// TestErlScopes runs against a real erl (OTP 25, or OTP 29 with
// LIBCLUSTER_OTP): Go's joins are seen by pg:get_members/1,2, erl's joins
// by Members, in the default and in a named scope, for a hidden Go node;
// after erl is killed and started again the views converge again.
func TestErlScopes(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	g := startGo(t, "gopg@127.0.0.1", ep)
	def := startScope(t, g, DefaultScope)
	named := startScope(t, g, "chat")
	e := startErl(t, g, ep, "erlpg@127.0.0.1")
	if v := e.eval(t, `{ok, _} = pg:start(chat), ok.`); v != etf.Atom("ok") {
		t.Fatalf("pg:start(chat): %v", v)
	}
	if v := e.eval(t, `lists:member('gopg@127.0.0.1', nodes(hidden)).`); v != etf.Atom("true") {
		t.Fatalf("the Go node is not hidden to erl: %v", v)
	}
	ctx := testCtx(t)
	m1, m2 := newMailbox(t, g), newMailbox(t, g)
	if err := def.Join(ctx, etf.Atom("workers"), m1, m2); err != nil {
		t.Fatal(err)
	}
	if err := named.Join(ctx, etf.Tuple{etf.Atom("room"), etf.Binary("lobby")}, m1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "erl sees Go's members", func() (bool, string) {
		a := e.pids(t, `pg:get_members(workers).`)
		b := e.pids(t, `pg:get_members(chat, {room, <<"lobby">>}).`)
		return sameMembers(a, []etf.Pid{m1.Pid(), m2.Pid()}) && sameMembers(b, []etf.Pid{m1.Pid()}), fmt.Sprint(a, b)
	})

	// erl's members, echoing what they get back to the sender.
	echo := `Echo = fun L() -> receive {ping, From} -> From ! {pong, self()}, L(); stop -> ok end end,`
	ep1 := e.pids(t, echo+` P = spawn(Echo), ok = pg:join(workers, P), ok = pg:join(chat, {room, <<"lobby">>}, [P, P]), [P].`)
	eventually(t, 15*time.Second, "Go sees erl's members", func() (bool, string) {
		a, b := def.Members(etf.Atom("workers")), named.Members(etf.Tuple{etf.Atom("room"), etf.Binary("lobby")})
		return sameMembers(a, []etf.Pid{m1.Pid(), m2.Pid(), ep1[0]}) && sameMembers(b, []etf.Pid{m1.Pid(), ep1[0], ep1[0]}), fmt.Sprint(a, b)
	})
	sender := newMailbox(t, g)
	if n, err := def.Send(ctx, etf.Atom("workers"), etf.Tuple{etf.Atom("ping"), sender.Pid()}); err != nil || n != 3 {
		t.Fatalf("Send reached %d (%v)", n, err)
	}
	if m, err := sender.Recv(ctx); err != nil || !etf.Equal(m.Body, etf.Tuple{etf.Atom("pong"), ep1[0]}) {
		t.Fatalf("erl member answered %v (%v)", m.Body, err)
	}

	// Leaves both ways: one membership each.
	if err := def.Leave(ctx, etf.Atom("workers"), m2); err != nil {
		t.Fatal(err)
	}
	m1.Close() // leaves workers and the chat room
	// One read of the group: two reads could straddle Go's leaves arriving,
	// and the match would then fail and skip the leave.
	if v := e.eval(t, `[P] = [X || X <- pg:get_members(workers), node(X) =:= node()], pg:leave(chat, {room, <<"lobby">>}, P).`); v != etf.Atom("ok") {
		t.Fatalf("erl's pg:leave: %v", v)
	}
	eventually(t, 15*time.Second, "leaves are seen on both sides", func() (bool, string) {
		a := e.pids(t, `pg:get_members(workers).`)
		b := e.pids(t, `pg:get_members(chat, {room, <<"lobby">>}).`)
		c := named.Members(etf.Tuple{etf.Atom("room"), etf.Binary("lobby")})
		return sameMembers(a, ep1) && sameMembers(b, ep1) && sameMembers(c, ep1), fmt.Sprint(a, b, c)
	})

	// The erl node dies: its members go. It comes back (same name, new
	// creation): Go's members are seen again, and its new members too.
	m3 := newMailbox(t, g)
	if err := def.Join(ctx, etf.Atom("workers"), m3); err != nil {
		t.Fatal(err)
	}
	e.proc.Kill()
	eventually(t, 15*time.Second, "the dead node's members are dropped", func() (bool, string) {
		a := def.Members(etf.Atom("workers"))
		return sameMembers(a, []etf.Pid{m3.Pid()}), fmt.Sprint(a)
	})
	e2 := startErl(t, g, ep, "erlpg@127.0.0.1")
	ep2 := e2.pids(t, echo+` P = spawn(Echo), ok = pg:join(workers, P), [P].`)
	eventually(t, 15*time.Second, "views converge after the restart", func() (bool, string) {
		a := e2.pids(t, `pg:get_members(workers).`)
		b := def.Members(etf.Atom("workers"))
		return sameMembers(a, []etf.Pid{m3.Pid(), ep2[0]}) && sameMembers(b, []etf.Pid{m3.Pid(), ep2[0]}), fmt.Sprint(a, b)
	})

	// Closing the Go scope: erl drops its members (it monitors the scope).
	def.Close()
	eventually(t, 15*time.Second, "erl drops the members of a closed Go scope", func() (bool, string) {
		a := e2.pids(t, `pg:get_members(workers).`)
		return sameMembers(a, ep2), fmt.Sprint(a)
	})
	if v := e2.eval(t, `is_pid(whereis(pg)).`); v != etf.Atom("true") {
		t.Fatalf("erl's pg scope died: %v", v)
	}
	t.Logf("scope %s ignored %d messages", named.Name(), named.Ignored())
}

// TestScopeIgnoresGarbage: messages that are not pg's protocol, or come
// from peers never discovered, are counted and ignored; the scope keeps
// serving.
func TestScopeIgnoresGarbage(t *testing.T) {
	t.Parallel()
	ep := startEPMD(t)
	a := startGo(t, "pggarbage@127.0.0.1", ep)
	b := startGo(t, "pggarbage2@127.0.0.1", ep)
	s := startScope(t, a, "junk")
	ctx := testCtx(t)
	from := newMailbox(t, b)
	stranger := etf.Pid{Node: "nobody@127.0.0.1", ID: 1}
	garbage := []etf.Term{
		etf.Atom("hello"),
		etf.Tuple{atomDiscover, 1},
		etf.Tuple{atomDiscover, etf.Atom(a.Self())},
		etf.Tuple{atomGenCast, etf.Tuple{atomSync, from.Pid(), etf.Atom("bad")}},
		etf.Tuple{atomGenCast, etf.Atom("x")},
		etf.Tuple{atomJoin, stranger, etf.Atom("g"), etf.List{stranger}}, // never discovered
		etf.Tuple{atomJoin, from.Pid(), etf.Atom("g"), etf.Atom("notapid")},
		etf.Tuple{atomLeave, from.Pid(), etf.List{1}, etf.List{}},
		etf.Record{Module: "m", Name: "r"},
	}
	for _, g := range garbage {
		if err := from.SendName(ctx, a.Self(), "junk", g); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "every garbage message ignored", func() (bool, string) {
		return s.Ignored() == uint64(len(garbage)), fmt.Sprint(s.Ignored())
	})
	mb := newMailbox(t, a)
	if err := s.Join(ctx, etf.Atom("g"), mb); err != nil {
		t.Fatal(err)
	}
	if got := s.Members(etf.Atom("g")); !sameMembers(got, []etf.Pid{mb.Pid()}) {
		t.Fatalf("members after garbage: %v", got)
	}
}
