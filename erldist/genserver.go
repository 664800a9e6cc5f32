package erldist

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
)

// Errors of Call, matched with errors.Is; a *CallError carries the details.
var (
	// ErrNoProc: the called process does not exist (reason noproc).
	ErrNoProc = errors.New("dist: no such process (noproc)")
	// ErrNodeDown: the called process's node cannot be reached, or was
	// lost during the call (reason noconnection; gen_server's nodedown).
	ErrNodeDown = errors.New("dist: node down (nodedown)")
	// ErrTimeout: ctx ended before the reply; the error also matches
	// ctx.Err().
	ErrTimeout = errors.New("dist: call timed out")
	// ErrExited: the called process ended during the call; CallError.Reason
	// is its exit reason.
	ErrExited = errors.New("dist: the called process exited")
)

var (
	atomGenCast = etf.Atom("$gen_cast")
	atomAlias   = etf.Atom("alias")
)

// CallError is the error of a failed Call: Kind is one of ErrNoProc,
// ErrNodeDown, ErrTimeout or ErrExited; Reason the exit reason the 'DOWN'
// carried (nil for a timeout); Cause the ctx error or the connect error.
type CallError struct {
	To     any
	Kind   error
	Reason etf.Term
	Cause  error
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("dist: gen_server call to %v: %v", e.To, e.Kind)
	if e.Reason != nil {
		s += fmt.Sprintf(" (reason %v)", e.Reason)
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns Kind and Cause, for errors.Is and errors.As.
func (e *CallError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// Call makes a gen_server call to, an etf.Pid or a Name, and returns the
// reply, as gen_server:call/3 (GenServer.call/3) does: the target is
// monitored for the duration of the call, and ctx bounds it. The errors
// are *CallError values matching ErrNoProc, ErrNodeDown, ErrTimeout (and
// ctx.Err()) or ErrExited.
func (n *Node) Call(ctx context.Context, to any, req etf.Term) (etf.Term, error) {
	// A call's mailbox gets its reply and DOWN only: a small channel.
	raw, err := n.procs.addSized("", 8)
	if err != nil {
		return nil, err
	}
	mb := &Mailbox{n: n, mb: raw}
	defer mb.Close()
	var ref etf.Ref
	switch t := to.(type) {
	case etf.Pid:
		ref, err = mb.Monitor(ctx, t)
	case Name:
		ref, err = mb.MonitorName(ctx, t.Node, t.Name)
	default:
		return nil, fmt.Errorf("dist: Call: the destination must be an etf.Pid or an erldist.Name, not %T", to)
	}
	if err != nil {
		return nil, callSetupError(ctx, to, err)
	}
	msg := etf.Tuple{atomGenCall, etf.Tuple{mb.Pid(), ref}, req}
	switch t := to.(type) {
	case etf.Pid:
		err = mb.Send(ctx, t, msg)
	case Name:
		err = mb.SendName(ctx, t.Node, t.Name, msg)
	}
	if err != nil && ctx.Err() == nil {
		return nil, &CallError{To: to, Kind: ErrNodeDown, Cause: err}
	}
	for {
		m, err := mb.Recv(ctx)
		if errors.Is(err, ErrMailboxClosed) {
			return nil, ErrClosed // the node closed during the call
		}
		if err != nil {
			mb.Demonitor(ref)
			return nil, &CallError{To: to, Kind: ErrTimeout, Cause: err}
		}
		switch b := m.Body.(type) {
		case Down:
			if !etf.Equal(b.Ref, ref) {
				continue
			}
			switch b.Reason {
			case atomNoproc:
				return nil, &CallError{To: to, Kind: ErrNoProc, Reason: b.Reason}
			case atomNoconnection:
				return nil, &CallError{To: to, Kind: ErrNodeDown, Reason: b.Reason}
			}
			return nil, &CallError{To: to, Kind: ErrExited, Reason: b.Reason}
		case etf.Tuple:
			if len(b) == 2 && etf.Equal(b[0], ref) {
				mb.Demonitor(ref)
				return b[1], nil
			}
		}
	}
}

// callSetupError is the error of a Call whose monitor could not be set
// up: ErrTimeout when ctx ended meanwhile (the monitor's send or the dial
// was cut short by the deadline, not by the node), else ErrNodeDown.
func callSetupError(ctx context.Context, to any, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		return &CallError{To: to, Kind: ErrNodeDown, Cause: err}
	}
	if !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return &CallError{To: to, Kind: ErrTimeout, Cause: err}
}

// Cast sends a gen_server cast ({'$gen_cast', Req}) to to, an etf.Pid or a
// Name. As gen_server:cast/2, it does not wait and reports only local
// failures.
func (n *Node) Cast(ctx context.Context, to any, req etf.Term) error {
	msg := etf.Tuple{atomGenCast, req}
	switch t := to.(type) {
	case etf.Pid:
		return n.SendPid(ctx, t, msg)
	case Name:
		return n.Send(ctx, t.Node, t.Name, msg)
	}
	return fmt.Errorf("dist: Cast: the destination must be an etf.Pid or an erldist.Name, not %T", to)
}

// From identifies the caller of a gen_server call: {Pid, Tag} in Erlang.
// Tag is a reference, or [alias|Ref] from OTP 24 on.
type From struct {
	Pid etf.Pid
	Tag etf.Term
}

// NoReply, returned by GenServer.Call, sends no reply now; the handler (or
// anyone holding the From) replies later with Node.Reply, as
// {noreply, State} with gen_server:reply/2.
var NoReply etf.Term = noReply{}

type noReply struct{}

// GenServer handles the gen_server messages of a Mailbox served by
// Mailbox.Serve. Each handler runs in the Serve goroutine, one message at
// a time, as gen_server callbacks do. A nil handler ignores its messages.
type GenServer struct {
	// Call answers {'$gen_call', From, Req}: the returned term is the
	// reply, unless it is NoReply.
	Call func(ctx context.Context, from From, req etf.Term) etf.Term
	// Cast handles {'$gen_cast', Req}.
	Cast func(ctx context.Context, req etf.Term)
	// Info handles every other message, Down and Exit included.
	Info func(ctx context.Context, m Message)
}

// PanicError is returned by Serve when a handler panicked; the mailbox
// then exited with reason {go_panic, <<Value>>}, which callers see as the
// callee's exit reason.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("dist: gen_server handler panicked: %v", e.Value)
}

// ParseGenCall reports whether m is a gen_server call, and returns its
// From and request.
func ParseGenCall(m Message) (From, etf.Term, bool) {
	t, ok := m.Body.(etf.Tuple)
	if !ok || len(t) != 3 || t[0] != atomGenCall {
		return From{}, nil, false
	}
	f, ok := t[1].(etf.Tuple)
	if !ok || len(f) != 2 {
		return From{}, nil, false
	}
	pid, ok := f[0].(etf.Pid)
	if !ok {
		return From{}, nil, false
	}
	return From{Pid: pid, Tag: f[1]}, t[2], true
}

// aliasOf returns the alias in a [alias|Ref] (or [[alias|Ref]|_]) tag.
func aliasOf(tag etf.Term) (etf.Ref, bool) {
	il, ok := tag.(etf.ImproperList)
	if !ok || len(il.Elems) == 0 {
		return etf.Ref{}, false
	}
	if len(il.Elems) == 1 && il.Elems[0] == atomAlias {
		r, ok := il.Tail.(etf.Ref)
		return r, ok
	}
	return aliasOf(il.Elems[0])
}

// Reply sends reply to a gen_server caller, as gen:reply/2: {Tag, Reply}
// to the caller's alias when the tag carries one (and its node supports
// aliases), else to its pid.
func (n *Node) Reply(ctx context.Context, from From, reply etf.Term) error {
	msg := etf.Tuple{from.Tag, reply}
	if alias, ok := aliasOf(from.Tag); ok && libcluster.Node(alias.Node) != n.self {
		c, err := n.route(ctx, libcluster.Node(alias.Node))
		if err != nil {
			return err
		}
		if c.peerFlags()&flagAlias != 0 {
			pkt, err := packet(etf.Tuple{int64(opAliasSend), n.pid, alias}, msg, true)
			if err != nil {
				return fmt.Errorf("dist: reply to %v: %w", from.Pid, err)
			}
			return c.send(ctx, pkt)
		}
	}
	return n.SendPid(ctx, from.Pid, msg)
}

// Serve runs m as a gen_server with h until ctx ends (it then returns nil
// and leaves m open) or m is closed (ErrMailboxClosed). A handler that
// panics ends m with reason {go_panic, <<Value>>} and Serve returns a
// *PanicError; it never crashes the program.
func (m *Mailbox) Serve(ctx context.Context, h GenServer) error {
	for {
		msg, err := m.Recv(ctx)
		if err != nil {
			if errors.Is(err, ErrMailboxClosed) {
				return err
			}
			return nil
		}
		if perr := m.serveOne(ctx, h, msg); perr != nil {
			m.Exit(etf.Tuple{etf.Atom("go_panic"), etf.Binary(fmt.Sprint(perr.Value))})
			return perr
		}
	}
}

func (m *Mailbox) serveOne(ctx context.Context, h GenServer, msg Message) (perr *PanicError) {
	defer func() {
		if v := recover(); v != nil {
			perr = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if from, req, ok := ParseGenCall(msg); ok {
		if h.Call == nil {
			return nil
		}
		reply := h.Call(ctx, from, req)
		if _, ok := reply.(noReply); ok {
			return nil
		}
		if err := m.n.Reply(ctx, from, reply); err != nil {
			m.n.log.Debug("dist: gen_server reply failed", "to", fmt.Sprint(from.Pid), "err", err)
		}
		return nil
	}
	if t, ok := msg.Body.(etf.Tuple); ok && len(t) == 2 && t[0] == atomGenCast {
		if h.Cast != nil {
			h.Cast(ctx, t[1])
		}
		return nil
	}
	if h.Info != nil {
		h.Info(ctx, msg)
	}
	return nil
}
