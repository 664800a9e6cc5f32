package epmd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster/internal/ratelog"
)

// Server defaults.
const (
	// DefaultMaxRegistrations is the default limit on names registered at
	// once (each holds its connection).
	DefaultMaxRegistrations = 1024
	// DefaultMaxQueries is the default limit on connections that have not
	// sent their request yet.
	DefaultMaxQueries = 512
	// DefaultMaxQueriesPerHost is the default limit on such connections
	// from one IP address.
	DefaultMaxQueriesPerHost = 128
	// DefaultRequestTimeout is the default time a client has to send its
	// request and read the reply. Real clients send at once; the timeout is
	// short so that idle connections cannot pile up.
	DefaultRequestTimeout = 2 * time.Second
)

// Server is an EPMD server compatible with real erl nodes and epmd clients:
// it answers ALIVE2_REQ (registration, loopback peers only), PORT_PLEASE2_REQ
// and NAMES_REQ with the byte layouts of the real daemon, answers DUMP_REQ
// for loopback peers, and refuses KILL_REQ. A name stays registered while
// its registration connection is open; duplicates are refused; every
// registration gets a fresh nonzero creation. The zero value is ready to
// use; a Server must not be reused after Close.
type Server struct {
	// Logger receives connection-level diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// MaxRegistrations limits the names registered at once; a
	// registration beyond it is closed without an answer. 0 means
	// DefaultMaxRegistrations. Registrations have their own budget, apart
	// from queries, so idle or slow clients can never keep a node from
	// registering; the registration of a Keeper's own node with its
	// in-process server is never refused for lack of room.
	MaxRegistrations int
	// MaxQueries limits the connections that have not sent a complete
	// request yet (real clients send theirs at once, so these are idle or
	// slow ones). When it is reached, the one that has waited longest is
	// closed to make room for the new one. 0 means DefaultMaxQueries.
	MaxQueries int
	// MaxQueriesPerHost limits such connections from one IP address; when
	// it is reached, the one from that address that has waited longest is
	// closed. 0 means DefaultMaxQueriesPerHost.
	MaxQueriesPerHost int
	// RequestTimeout bounds reading a request and writing its reply;
	// 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}    // every open connection
	queries   map[net.Conn]*queryEntry // connections not yet answered or registered
	byHost    map[string]int           // queries per source address
	regs      int                      // registration connections
	nodes     map[string]*serverEntry
	creation  uint32
	port      int // port of the first listener, for NAMES replies on pipes
	wg        sync.WaitGroup

	limitLog  ratelog.Limiter // summary of connections refused for lack of room
	refuseLog ratelog.Limiter // summary of refused registrations and requests
	acceptLog ratelog.Limiter // summary of accept errors
}

type serverEntry struct {
	info NodeInfo
	conn net.Conn
}

type queryEntry struct {
	host  string
	since time.Time
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) requestTimeout() time.Duration {
	if s.RequestTimeout > 0 {
		return s.RequestTimeout
	}
	return DefaultRequestTimeout
}

// ListenAndServe listens on the TCP address addr (":<Port()>" when empty)
// and serves until Close.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":" + strconv.Itoa(Port())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("epmd: cannot listen on %s (is another epmd running there? stop it or choose another port with ERL_EPMD_PORT): %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Close, then returns ErrServerClosed.
// Only loopback peers (or peers with the listener's own address) may
// register; PORT_PLEASE2 and NAMES are answered for anyone. Serve closes ln
// when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && s.port == 0 {
		s.port = a.Port
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("epmd: listener closed: %w", err)
			}
			// Accept errors on a live listener (EMFILE, ECONNABORTED) are
			// transient: back off and keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if ok, sum := s.acceptLog.Note(""); ok {
				s.logger().Warn("epmd: accept failed, retrying", "err", err, "failures", sum.Count, "retry_in", backoff)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.handle(conn, isLocalPeer(conn))
	}
}

// handle starts serving one connection unless the server is closed or the
// connection is over its limits. own marks the in-process registration of
// a Keeper's node, which bypasses the limits.
func (s *Server) handle(conn net.Conn, local bool) { s.handleConn(conn, local, false) }

func (s *Server) handleConn(conn net.Conn, local, own bool) {
	host := hostOf(conn.RemoteAddr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
		s.queries = make(map[net.Conn]*queryEntry)
		s.byHost = make(map[string]int)
	}
	if !own {
		// Make room: the connection waiting longest goes, from this
		// address when it holds too many, else from any.
		if s.byHost[host] >= orDefault(s.MaxQueriesPerHost, DefaultMaxQueriesPerHost) {
			s.evictOldestLocked(host)
			defer s.noteLimit("too many idle connections from one address; closed the oldest", host)
		} else if len(s.queries) >= orDefault(s.MaxQueries, DefaultMaxQueries) {
			s.evictOldestLocked("")
			defer s.noteLimit("too many idle connections; closed the oldest", host)
		}
		s.queries[conn] = &queryEntry{host: host, since: time.Now()}
		s.byHost[host]++
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, conn)
			s.dropQueryLocked(conn)
			s.mu.Unlock()
			conn.Close()
		}()
		s.serveConn(conn, local, own)
	}()
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// evictOldestLocked closes the query connection (from host, unless "")
// that has waited longest.
func (s *Server) evictOldestLocked(host string) {
	var oldest net.Conn
	var since time.Time
	for c, q := range s.queries {
		if (host == "" || q.host == host) && (oldest == nil || q.since.Before(since)) {
			oldest, since = c, q.since
		}
	}
	if oldest != nil {
		s.dropQueryLocked(oldest)
		oldest.Close()
	}
}

// dropQueryLocked stops counting conn as a query, if it is one.
func (s *Server) dropQueryLocked(conn net.Conn) {
	q := s.queries[conn]
	if q == nil {
		return
	}
	delete(s.queries, conn)
	if s.byHost[q.host]--; s.byHost[q.host] <= 0 {
		delete(s.byHost, q.host)
	}
}

// noteLimit logs connections dropped for lack of room, as a summary.
func (s *Server) noteLimit(what, host string) {
	if ok, sum := s.limitLog.Note(host); ok {
		s.logger().Warn("epmd: dropping connections: "+what, "dropped", sum.Count, "sources", sum.Sources,
			"max_queries", orDefault(s.MaxQueries, DefaultMaxQueries), "max_queries_per_host", orDefault(s.MaxQueriesPerHost, DefaultMaxQueriesPerHost))
	}
}

// hostOf returns the IP address of a remote address ("" for pipes).
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}

// isLocalPeer reports whether the peer of conn is on this host: a loopback
// address or the connection's own local address.
func isLocalPeer(conn net.Conn) bool {
	ra, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	la, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return false
	}
	return ra.IP.IsLoopback() || ra.IP.Equal(la.IP)
}

// Close stops all listeners and drops every connection, which unregisters
// all names. It waits for connection handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Names returns the currently registered nodes, sorted by name.
func (s *Server) Names() []NodeInfo {
	s.mu.Lock()
	out := make([]NodeInfo, 0, len(s.nodes))
	for _, e := range s.nodes {
		n := e.info
		n.Extra = slices.Clone(n.Extra)
		out = append(out, n)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// serveConn reads one request from conn and answers it. ALIVE2 connections
// are kept until the peer closes them.
func (s *Server) serveConn(conn net.Conn, local, own bool) {
	log := s.logger()
	_ = conn.SetDeadline(time.Now().Add(s.requestTimeout()))
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		log.Debug("epmd: no request", "peer", conn.RemoteAddr(), "err", err)
		return
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > maxRequestLen {
		log.Debug("epmd: bad request length", "peer", conn.RemoteAddr(), "len", n, "max", maxRequestLen)
		return
	}
	req := make([]byte, n)
	if _, err := io.ReadFull(conn, req); err != nil {
		log.Debug("epmd: truncated request", "peer", conn.RemoteAddr(), "err", err)
		return
	}
	// The request is in: answering it takes no waiting on the client, so
	// the connection no longer counts against the idle budget.
	s.mu.Lock()
	s.dropQueryLocked(conn)
	s.mu.Unlock()
	switch req[0] {
	case tagAlive2Req:
		s.alive(conn, req, local, own)
	case tagPortPlease2:
		name := req[1:]
		if len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		var found *NodeInfo
		s.mu.Lock()
		if e, ok := s.nodes[string(name)]; ok {
			info := e.info
			found = &info
		}
		s.mu.Unlock()
		_, _ = conn.Write(encodePort2Resp(found))
	case tagNamesReq:
		_, _ = conn.Write(encodeNames(s.localPort(conn), s.Names()))
	case tagDumpReq:
		if !local {
			s.noteRefusal("DUMP_REQ from a remote peer", conn)
			return
		}
		b := binary.BigEndian.AppendUint32(nil, uint32(s.localPort(conn)))
		for _, n := range s.Names() {
			b = fmt.Appendf(b, "active name     <%s> at port %d\n", n.Name, n.Port)
		}
		_, _ = conn.Write(b)
	case tagKillReq:
		// This EPMD lives inside another program; it cannot be killed remotely.
		if local {
			_, _ = conn.Write([]byte("NO"))
		}
	default:
		// STOP_REQ, obsolete requests and garbage: close without reply, as
		// the real daemon does.
		log.Debug("epmd: unsupported request", "peer", conn.RemoteAddr(), "tag", req[0])
	}
}

// noteRefusal logs a refused request, as a summary.
func (s *Server) noteRefusal(what string, conn net.Conn) {
	if ok, sum := s.refuseLog.Note(hostOf(conn.RemoteAddr())); ok {
		s.logger().Warn("epmd: refused requests", "last", what, "refused", sum.Count, "sources", sum.Sources, "peer", conn.RemoteAddr())
	}
}

func (s *Server) localPort(conn net.Conn) int {
	if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// nextCreation returns a fresh creation: a counter seeded at random, never
// below 4 (0 is reserved and 1-3 are the old 2-bit values). Call with s.mu held.
func (s *Server) nextCreation() uint32 {
	if s.creation == 0 {
		s.creation = rand.Uint32()
	}
	s.creation++
	if s.creation < 4 {
		s.creation = 4
	}
	return s.creation
}

// alive handles ALIVE2_REQ: registers the node and holds the connection
// until the peer closes it or sends anything.
func (s *Server) alive(conn net.Conn, req []byte, local, own bool) {
	log := s.logger()
	hv := uint16(6)
	if len(req) >= 7 {
		hv = binary.BigEndian.Uint16(req[5:7])
	}
	refuse := func(what string) {
		s.noteRefusal(what, conn)
		_, _ = conn.Write(encodeAliveResp(hv, 1, 99))
	}
	if !local {
		refuse("registration from a remote peer; nodes must register on their own host")
		return
	}
	info, err := parseAlive2Req(req[1:])
	if err != nil {
		refuse("registration: " + err.Error())
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if _, dup := s.nodes[info.Name]; dup {
		s.mu.Unlock()
		refuse("registration of a name already in use: " + info.Name)
		return
	}
	if !own && s.regs >= orDefault(s.MaxRegistrations, DefaultMaxRegistrations) {
		s.mu.Unlock()
		// No answer: a refusal would read as "name in use".
		s.noteLimit("too many registrations", hostOf(conn.RemoteAddr()))
		return
	}
	// From here on the connection is a registration, not a query.
	s.dropQueryLocked(conn)
	s.regs++
	defer func() {
		s.mu.Lock()
		s.regs--
		s.mu.Unlock()
	}()
	creation := s.nextCreation()
	if hv < 6 {
		creation = creation%3 + 1
	}
	e := &serverEntry{info: info, conn: conn}
	if s.nodes == nil {
		s.nodes = make(map[string]*serverEntry)
	}
	s.nodes[info.Name] = e
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.nodes[info.Name] == e {
			delete(s.nodes, info.Name)
		}
		s.mu.Unlock()
		log.Info("epmd: node unregistered", "name", info.Name, "port", info.Port)
	}()

	if _, err := conn.Write(encodeAliveResp(hv, 0, creation)); err != nil {
		log.Debug("epmd: cannot answer ALIVE2_REQ", "name", info.Name, "err", err)
		return
	}
	log.Info("epmd: node registered", "name", info.Name, "port", info.Port, "creation", creation)
	_ = conn.SetDeadline(time.Time{})
	var b [1]byte
	_, err = conn.Read(b[:])
	if err == nil {
		log.Warn("epmd: node sent data on its registration connection; unregistering it", "name", info.Name)
	}
}
