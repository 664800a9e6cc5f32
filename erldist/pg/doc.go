// Package pg lets Go mailboxes of an erldist node take part in Erlang's
// pg process groups (OTP 23 and later) and in Phoenix.PubSub, whose
// default adapter is built on pg.
//
// A [Scope] is a pg scope served by the Go node: a mailbox registered under
// the scope's name that speaks pg's protocol with the scope processes of
// the same name on the other nodes. Go mailboxes join and leave groups
// (any term), pg:get_members/1,2 on every Erlang node lists them, and
// [Scope.Members] lists the members of a group across the cluster.
// Membership follows the cluster: a node that connects is discovered, a
// node that goes away takes its members with it, and a mailbox that closes
// leaves its groups.
//
// The protocol, as OTP's pg.erl (OTP 25) and its OTP 29 rewrite on
// data_publisher (which keeps this format as its "version 0") speak it:
//
//	{discover, ScopePid}                  to {Scope, Node}: here I am
//	{discover, ScopePid, Version}         OTP 29's form of the same
//	{'$gen_cast', {sync, ScopePid, [{Group, [Pid]}]}}  all my members (the answer)
//	{join, ScopePid, Group, Pid | [Pid]}  members joined
//	{leave, ScopePid, Pid | [Pid], [Group]}  members left (one membership each)
//
// Each side monitors the other's scope process and drops its members when
// the monitor fires. Erlang's pg discovers only visible nodes (nodes()), so
// a hidden Go node would never be found; the Go scope therefore sends
// discover itself to every node it is connected to, and Erlang's pg answers
// the pid directly. The Go side always answers in the version-0 format,
// which OTP 29 still accepts and answers in kind. OTP 25's pg crashes on a
// message it does not know, so a Scope sends nothing else.
//
// [PubSub] builds Phoenix.PubSub's PG2 adapter on a Scope of the
// PubSubScope scope; see docs/pubsub.md for the format with an example.
package pg
