// Package erldist is a native Go implementation of the Erlang distribution
// protocol, and the default [libcluster.Connector] of this module: Go nodes
// started with [Start] connect to each other and to real erl and iex nodes,
// and appear on the Erlang side as hidden nodes (nodes(hidden)); a visible
// node is refused ([ErrVisible], see README.md for why).
//
// What a Node does:
//
//   - Registers with EPMD (Config.EPMD): with the local EPMD when one runs,
//     otherwise it serves EPMD in-process and hands over when another process
//     takes the port (see the epmd package's Keeper). Without EPMD it listens
//     on a fixed port and dials peers on that same port.
//   - Speaks the version-6 handshake (OTP 23 and later; the version-5 name
//     message of OTP 23/24 nodes is accepted) with the MD5 cookie challenge in
//     both directions, resolves simultaneous connects the way net_kernel
//     does (the attempt of the node with the greater name wins), and keeps one
//     connection per peer.
//   - Ticks: sends a tick every TickTime/4 on an idle connection and drops a
//     peer that sent nothing for about TickTime, reporting it down with reason
//     "net_tick_timeout" through WatchNodes.
//   - Processes (the process layer, apart from the connection manager; see
//     README.md): [Node.NewMailbox] makes a Go process with a pid and
//     optionally a registered name; it sends, monitors and links Erlang
//     processes and is monitored and linked by them, with [Down] and [Exit]
//     messages and noproc/noconnection reasons as in Erlang. Register, Send
//     and SendPid are the short forms for names and pids.
//   - gen_server both ways: [Mailbox.Serve] answers GenServer.call/cast
//     (plain and alias reply tags), and [Node.Call] calls an Erlang
//     gen_server with a ctx, returning ErrNoProc, ErrNodeDown, ErrTimeout
//     or ErrExited.
//   - erpc and rpc into Go: SPAWN is negotiated, and erpc:call/rpc:call of
//     a function registered with [Node.HandleFunc] runs it; unregistered
//     functions fail with undef as on an Erlang node, Go errors and panics
//     become Erlang errors. The module libcluster is built in
//     (members/0, topologies/0).
//   - TLS (Config.TLS, built from Erlang's ssl_dist_optfile options by
//     [LoadTLS]): every connection runs over mutual TLS, then the cookie
//     handshake inside it, like erl -proto_dist inet_tls; EPMD is unchanged.
//     The dialling node checks the peer's certificate chain and that the
//     certificate names the host part of the peer's node name, as OTP does
//     (a subjectAltName DNS entry equal to the host, also for an IP address;
//     an IP entry is accepted for an IP address too); the accepting node
//     checks the chain and requires a certificate. See README.md.
//   - Answers what Erlang nodes ask unprompted: net_kernel's is_auth (so
//     net_adm:ping returns pong), monitors and links to names or pids that
//     do not exist (noproc), and UNLINK_ID.
//
// The node negotiates no atom cache and no fragments (but SPAWN, ALIAS and
// EXIT_PAYLOAD), and it sends only control messages every OTP release from
// 25 on accepts. Everything
// read from the network is bounded: handshake frames by their 16-bit length,
// packets by Config.MaxMessageSize, terms by etf.Limits (inflated size by
// Config.MaxInflatedSize, decoded memory by an allocation budget).
//
// Hostile peers: incoming connections in the handshake are capped in total
// (at the cap the one waiting longest is closed to make room) and per source
// address (Config.MaxHandshakes, MaxHandshakesPerHost), and
// hold a 512-byte buffer until the peer is authenticated; a source that keeps
// failing the cookie check is refused at accept with a doubling back-off, and
// the failures are logged as a rate-limited summary. Each packet's control
// message is decoded first: a malformed one closes the connection, while a
// payload that cannot be decoded (a newer term format, a term over the
// limits) drops only its message, counted by DroppedMessages. Err reports a
// listener that failed for good, for readiness checks.
package erldist

import "github.com/libcluster-go/libcluster"

var (
	_ libcluster.Connector   = (*Node)(nil)
	_ libcluster.NodeWatcher = (*Node)(nil)
)
