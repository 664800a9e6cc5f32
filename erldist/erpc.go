package erldist

// erpc and rpc into Go. erpc:call(Node, M, F, A, T) (and rpc:call/4,5,
// which uses it since OTP 23) sends SPAWN_REQUEST for
// erpc:execute_call(Res, M, F, A) with options [{reply, error_only},
// monitor]; the spawned process exits with {Res, return, Value},
// {Res, throw, V}, {Res, exit, R} or {Res, error, Reason, Stack}, and the
// caller reads that as the reason of the 'DOWN' of its monitor (ReqId).
// This file plays that process: SPAWN_REPLY with a Go pid, the registered
// Go function run, then MONITOR_P_EXIT with the reason execute_call would
// have exited with.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// Func is a Go function callable by erpc:call, rpc:call and erpc:cast.
// args has the arity it was registered with. ctx ends when the caller
// abandons the call (a timeout) or the node closes; Node.Close waits for
// running functions to return, so a function must return once ctx ends
// (and must not call Close itself).
//
// A nil error returns the term. An *Exception error raises that exception
// in the caller as an Erlang function would; any other error raises
// error:{go_error, <<Message>>} (erpc:call fails with
// error:{exception, {go_error, Msg}, Stack}, rpc:call returns
// {badrpc, {'EXIT', {{go_error, Msg}, Stack}}}). A panic raises
// error:{go_panic, <<Value>>} the same way; the node carries on.
type Func func(ctx context.Context, args []etf.Term) (etf.Term, error)

// Exception is an error a Func returns to raise a specific Erlang
// exception in the caller: Class is error, exit or throw.
type Exception struct {
	Class  etf.Atom
	Reason etf.Term
}

func (e *Exception) Error() string { return fmt.Sprintf("erlang %s: %v", e.Class, e.Reason) }

type mfa struct {
	mod, fun string
	arity    int
}

// funcTable holds the functions registered with HandleFunc.
type funcTable struct {
	mu      sync.RWMutex
	m       map[mfa]Func
	running int
	topo    func() []libcluster.TopologyStatus
}

// DefaultMaxCalls is the default Config.MaxCalls.
const DefaultMaxCalls = 1024

// HandleFunc registers f as module:function/arity for erpc and rpc calls
// from Erlang nodes; it replaces an earlier registration. The module
// libcluster is built in (members/0, topologies/0) and cannot be used.
func (n *Node) HandleFunc(module, function string, arity int, f Func) error {
	if err := checkName(module); err != nil {
		return fmt.Errorf("dist: HandleFunc module: %w", err)
	}
	if err := checkName(function); err != nil {
		return fmt.Errorf("dist: HandleFunc function: %w", err)
	}
	if arity < 0 || arity > 255 || f == nil {
		return fmt.Errorf("dist: HandleFunc %s:%s/%d: the arity must be 0 to 255 and the function not nil", module, function, arity)
	}
	if module == "libcluster" {
		return errors.New("dist: HandleFunc: the module libcluster is built in; pick another module name")
	}
	n.funcs.mu.Lock()
	defer n.funcs.mu.Unlock()
	if n.funcs.m == nil {
		n.funcs.m = map[mfa]Func{}
	}
	n.funcs.m[mfa{module, function, arity}] = f
	return nil
}

// SetTopologies sets the function libcluster:topologies/0 reports from
// (a Supervisor's Status); nil reports none.
func (n *Node) SetTopologies(f func() []libcluster.TopologyStatus) {
	n.funcs.mu.Lock()
	n.funcs.topo = f
	n.funcs.mu.Unlock()
}

func (n *Node) lookupFunc(k mfa) Func {
	if k.mod == "libcluster" {
		switch {
		case k.fun == "members" && k.arity == 0:
			return n.members
		case k.fun == "topologies" && k.arity == 0:
			return n.topologies
		}
		return nil
	}
	n.funcs.mu.RLock()
	defer n.funcs.mu.RUnlock()
	return n.funcs.m[k]
}

func (n *Node) members(context.Context, []etf.Term) (etf.Term, error) {
	return atoms(n.Nodes()), nil
}

func atoms(ns []libcluster.Node) etf.List {
	out := make(etf.List, len(ns))
	for i, p := range ns {
		out[i] = etf.Atom(p)
	}
	return out
}

// topologies returns, per topology, #{name => <<Name>>, desired => [atom],
// connected => [atom], ready => bool, running => bool, restarts => int,
// last_error => nil | <<Msg>>}.
func (n *Node) topologies(context.Context, []etf.Term) (etf.Term, error) {
	n.funcs.mu.RLock()
	f := n.funcs.topo
	n.funcs.mu.RUnlock()
	var sts []libcluster.TopologyStatus
	if f != nil {
		sts = f()
	}
	sort.SliceStable(sts, func(i, j int) bool { return sts[i].Name < sts[j].Name })
	out := make(etf.List, 0, len(sts))
	for _, s := range sts {
		var lastErr etf.Term = etf.Atom("nil")
		if s.LastError != nil {
			lastErr = etf.Binary(s.LastError.Error())
		}
		out = append(out, etf.Map{
			{Key: etf.Atom("name"), Value: etf.Binary(s.Name)},
			{Key: etf.Atom("desired"), Value: atoms(s.Desired)},
			{Key: etf.Atom("connected"), Value: atoms(s.Connected)},
			{Key: etf.Atom("ready"), Value: s.Ready},
			{Key: etf.Atom("running"), Value: s.Running},
			{Key: etf.Atom("restarts"), Value: int64(s.Restarts)},
			{Key: etf.Atom("last_error"), Value: lastErr},
		})
	}
	return out, nil
}

var (
	atomErpc     = etf.Atom("erpc")
	atomReturn   = etf.Atom("return")
	atomThrow    = etf.Atom("throw")
	atomError    = etf.Atom("error")
	atomExit     = etf.Atom("exit")
	atomUndef    = etf.Atom("undef")
	atomMonitor  = etf.Atom("monitor")
	atomLink     = etf.Atom("link")
	atomSysLimit = etf.Atom("system_limit")
)

// spawnRequest answers SPAWN_REQUEST {29, ReqId, From, GroupLeader,
// {M, F, Arity}, Opts} (+ Token for 30) with the argument list as payload.
func (n *Node) spawnRequest(c peerLink, op int64, ctrl etf.Tuple, args etf.Term, hasMsg bool) error {
	if len(ctrl) != map[int64]int{opSpawnRequest: 6, opSpawnRequestTT: 7}[op] || !hasMsg {
		return malformed(op, ctrl)
	}
	if _, bad := args.(Undecodable); bad {
		if reqID, ok := ctrl[1].(etf.Ref); ok {
			if from, ok := ctrl[2].(etf.Pid); ok {
				c.sendNow(mustPacket(etf.Tuple{int64(opSpawnReply), reqID, from, int64(0), etf.Atom("badarg")}))
			}
		}
		return nil
	}
	reqID, ok1 := ctrl[1].(etf.Ref)
	from, ok2 := ctrl[2].(etf.Pid)
	m, ok3 := ctrl[4].(etf.Tuple)
	opts, ok4 := ctrl[5].(etf.List)
	if _, empty := ctrl[5].(etf.String); empty {
		ok4 = true
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || len(m) != 3 {
		return malformed(op, ctrl)
	}
	mod, ok1 := m[0].(etf.Atom)
	fun, ok2 := m[1].(etf.Atom)
	argv, ok3 := listElems(args)
	if !ok1 || !ok2 || !ok3 {
		return malformed(op, ctrl)
	}
	var flags int64
	for _, o := range opts {
		switch o := o.(type) {
		case etf.Atom:
			if o == atomMonitor {
				flags |= 2
			} else if o == atomLink {
				flags |= 1
			}
		case etf.Tuple:
			if len(o) == 2 && o[0] == atomMonitor {
				flags |= 2
			}
		}
	}
	reply := func(result etf.Term, fl int64) {
		c.sendNow(mustPacket(etf.Tuple{int64(opSpawnReply), reqID, from, fl, result}))
	}
	n.funcs.mu.Lock()
	max := n.cfg.MaxCalls
	if n.funcs.running >= max {
		n.funcs.mu.Unlock()
		reply(atomSysLimit, 0)
		return nil
	}
	n.funcs.running++
	n.funcs.mu.Unlock()
	mb, err := n.procs.addSized("", 4)
	if err != nil {
		n.callDone()
		reply(atomSysLimit, 0)
		return nil
	}
	ctx, cancel := context.WithCancel(n.ctx)
	var killed etf.Term // set under procs.mu by an exit signal
	p := n.procs
	p.mu.Lock()
	if flags&2 != 0 {
		mb.mons = append(mb.mons, remoteMon{c: c, watcher: from, target: mb.pid, ref: reqID})
	}
	if flags&1 != 0 {
		mb.links = append(mb.links, remoteLink{c: c, from: from})
	}
	mb.onExit = func(_ etf.Pid, reason etf.Term) {
		if reason != atomNormal && killed == nil {
			killed = reason
			cancel()
		}
	}
	p.mu.Unlock()
	reply(mb.pid, flags)
	// Close waits for the function to return (its ctx ends at Close), so
	// no call outlives the node. This runs on a connection's reader, which
	// is itself counted in n.wg, so the Add cannot race Close's Wait.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.callDone()
		defer cancel()
		reason := n.runSpawned(ctx, string(mod), string(fun), argv)
		p.mu.Lock()
		if killed != nil {
			reason = killed
		}
		p.mu.Unlock()
		p.exit(mb, reason)
	}()
	return nil
}

func (n *Node) callDone() {
	n.funcs.mu.Lock()
	n.funcs.running--
	n.funcs.mu.Unlock()
}

func listElems(t etf.Term) ([]etf.Term, bool) {
	switch l := t.(type) {
	case etf.List:
		return l, true
	case etf.String:
		out := make([]etf.Term, len(l))
		for i := range len(l) {
			out[i] = int64(l[i])
		}
		return out, true
	}
	return nil, false
}

// runSpawned runs what the spawned process would and returns its exit
// reason.
func (n *Node) runSpawned(ctx context.Context, mod, fun string, args []etf.Term) etf.Term {
	if mod == "erpc" && (fun == "execute_call" && len(args) == 4 || fun == "execute_cast" && len(args) == 3) {
		var res etf.Term
		if fun == "execute_call" {
			res, args = args[0], args[1:]
		}
		m, ok1 := args[0].(etf.Atom)
		f, ok2 := args[1].(etf.Atom)
		a, ok3 := listElems(args[2])
		if !ok1 || !ok2 || !ok3 {
			// apply/3 with bad arguments: {erpc, badarg}-like badarg.
			if fun == "execute_cast" {
				return etf.Tuple{etf.Atom("badarg"), etf.List{}}
			}
			return etf.Tuple{res, atomError, etf.Tuple{atomErpc, etf.Atom("badarg")}}
		}
		class, value, stack := n.apply(ctx, m, f, a)
		if fun == "execute_cast" {
			if class != atomReturn {
				n.log.Info("dist: erpc:cast into Go failed", "mfa", fmt.Sprintf("%s:%s/%d", m, f, len(a)), "class", string(class), "reason", fmt.Sprint(value))
			}
			return atomNormal
		}
		switch class {
		case atomReturn, atomThrow, atomExit:
			return etf.Tuple{res, class, value}
		}
		return etf.Tuple{res, atomError, value, stack}
	}
	// A plain spawn_request of M:F(Args): run it as that process.
	class, value, stack := n.apply(ctx, etf.Atom(mod), etf.Atom(fun), args)
	switch class {
	case atomReturn:
		return atomNormal
	case atomExit:
		return value
	case atomThrow:
		return etf.Tuple{etf.Tuple{etf.Atom("nocatch"), value}, stack}
	}
	return etf.Tuple{value, stack}
}

// apply runs M:F(A) and returns the class (return, throw, exit, error),
// the value or reason, and a stack for errors.
func (n *Node) apply(ctx context.Context, m, f etf.Atom, a []etf.Term) (class etf.Atom, value etf.Term, stack etf.Term) {
	fn := n.lookupFunc(mfa{string(m), string(f), len(a)})
	if fn == nil {
		// What an Erlang node without that module or function raises.
		return atomError, atomUndef, etf.List{etf.Tuple{m, f, etf.List(a), etf.List{}}}
	}
	stack = etf.List{etf.Tuple{m, f, int64(len(a)), etf.List{}}}
	defer func() {
		if v := recover(); v != nil {
			n.log.Warn("dist: a Go function called over erpc panicked", "mfa", fmt.Sprintf("%s:%s/%d", m, f, len(a)), "panic", fmt.Sprint(v))
			class, value = atomError, etf.Tuple{etf.Atom("go_panic"), etf.Binary(fmt.Sprint(v))}
		}
	}()
	v, err := fn(ctx, a)
	if err == nil {
		return atomReturn, v, nil
	}
	var ex *Exception
	if errors.As(err, &ex) && (ex.Class == atomError || ex.Class == atomExit || ex.Class == atomThrow) {
		return ex.Class, ex.Reason, stack
	}
	return atomError, etf.Tuple{etf.Atom("go_error"), etf.Binary(err.Error())}, stack
}
