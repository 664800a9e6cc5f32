package pg

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

const cookie = "pgcookie"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startEPMD(t testing.TB) int {
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	return port
}

func startGo(t testing.TB, name string, epmdPort int) *erldist.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := erldist.Start(ctx, erldist.Config{Name: libcluster.Node(name), Cookie: cookie, EPMDPort: epmdPort,
		ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func startScope(t testing.TB, n *erldist.Node, name string) *Scope {
	t.Helper()
	s, err := Start(n, name, Options{Logger: quiet(), Rediscover: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newMailbox(t testing.TB, n *erldist.Node) *erldist.Mailbox {
	t.Helper()
	mb, err := n.NewMailbox("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mb.Close)
	return mb
}

// eventually polls cond every 20 ms until it holds, failing after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last state: %s", what, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sameMembers(got, want []etf.Pid) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	cmp := func(x, y etf.Pid) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// erlCtl is the -eval of an erl node that serves a registered process ctl:
// {From, Ref, Src} evaluates the Erlang expressions in the binary Src and
// answers From with {Ref, Value} (or {Ref, {Class, Reason}} when they
// raise). Kernel starts the default pg scope.
const erlCtl = `
Eval = fun(Src) ->
  {ok, Ts, _} = erl_scan:string(binary_to_list(Src)),
  {ok, Es} = erl_parse:parse_exprs(Ts),
  {value, V, _} = erl_eval:exprs(Es, []),
  V
end,
Loop = fun L() ->
  receive {From, Ref, Src} ->
    R = try Eval(Src) catch C:E -> {C, E} end,
    From ! {Ref, R},
    L()
  end
end,
register(ctl, spawn(Loop)),
io:format("ready~n").
`

type erlNode struct {
	name libcluster.Node
	proc *erltest.Proc
	mb   *erldist.Mailbox
	seq  atomic.Uint64
}

func startErl(t testing.TB, g *erldist.Node, epmdPort int, name string) *erlNode {
	t.Helper()
	p := erltest.StartErl(t, erltest.ErlOptions{Name: name, Cookie: cookie, EPMDPort: epmdPort,
		Args: []string{"-kernel", "start_pg", "true"}, Eval: erlCtl})
	p.WaitOutput(t, 30*time.Second, "ready")
	e := &erlNode{name: libcluster.Node(name), proc: p, mb: newMailbox(t, g)}
	if err := g.Connect(testCtx(t), e.name); err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	return e
}

// eval evaluates src on the erl node and returns the value.
func (e *erlNode) eval(t testing.TB, src string) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ref := int64(e.seq.Add(1))
	if err := e.mb.SendName(ctx, e.name, "ctl", etf.Tuple{e.mb.Pid(), ref, etf.Binary(src)}); err != nil {
		t.Fatalf("eval %s on %s: %v", src, e.name, err)
	}
	for {
		m, err := e.mb.Recv(ctx)
		if err != nil {
			t.Fatalf("eval %s on %s: no answer: %v", src, e.name, err)
		}
		if r, ok := m.Body.(etf.Tuple); ok && len(r) == 2 && etf.Equal(r[0], ref) {
			return r[1]
		}
	}
}

// pids evaluates src, which must return a list of pids.
func (e *erlNode) pids(t testing.TB, src string) []etf.Pid {
	t.Helper()
	v := e.eval(t, src)
	if isNil(v) {
		return nil
	}
	l, ok := v.(etf.List)
	if !ok {
		t.Fatalf("%s returned %v, not a list of pids", src, v)
	}
	out := make([]etf.Pid, len(l))
	for i, x := range l {
		if out[i], ok = x.(etf.Pid); !ok {
			t.Fatalf("%s returned %v, not a list of pids", src, v)
		}
	}
	return out
}
