// Package postgres discovers nodes through a PostgreSQL database they all
// reach, with LISTEN/NOTIFY heartbeats, as the libcluster_postgres strategy
// does: every node LISTENs on a channel and NOTIFYs its node name on it
// every heartbeat_interval, and every node it hears is a peer. It needs no
// multicast and no DNS, only the database the application already uses.
//
// The heartbeat is the same as libcluster_postgres's (the payload is the
// bare node name, default interval 5 s), so Go and Elixir nodes on one
// channel find each other. Beyond it:
//
//   - a node that hears a new peer answers with its own heartbeat at once,
//     so a newcomer knows the whole cluster within milliseconds;
//   - a peer whose heartbeats stop for `misses` intervals is forgotten and
//     pruned (the reports are complete sets of the peers heard lately);
//   - a database outage or restart disconnects nobody: the set is kept,
//     an error event says what failed, and after reconnecting the
//     strategy only adds peers until a full window of heartbeats has been
//     heard again;
//   - connection errors name what to fix (wrong password, unknown user or
//     database, unreachable server), and every payload is checked.
//
// Config keys (libcluster_postgres's names, then ours):
//
//	hostname, port, username, password, database   override the connection string
//	channel_name        channel to LISTEN and NOTIFY on (default "libcluster")
//	heartbeat_interval  time between heartbeats (default 5s)
//	url                 connection string, URL or key=value; unset: the PG* environment variables
//	misses              missed heartbeats before a peer is forgotten (default 3)
//	connect_timeout     bound on connecting and on one statement (default 5s)
//	name                node name to announce (default this node's name)
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// Defaults of the Config fields.
const (
	DefaultChannel           = "libcluster"
	DefaultHeartbeatInterval = 5 * time.Second // libcluster_postgres's heartbeat_interval
	DefaultMisses            = 3
	DefaultConnectTimeout    = 5 * time.Second
	// MaxPeers bounds the peers remembered; heartbeats from more distinct
	// names are dropped.
	MaxPeers = 10000
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "postgres",
		Aliases: []string{"Cluster.Strategy.Postgres", "LibclusterPostgres.Strategy"},
		Summary: "LISTEN/NOTIFY heartbeats through a PostgreSQL database (libcluster_postgres compatible)",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config is the strategy's configuration; every zero field means its
// default. [Config.Validate] checks it and [New] fills the defaults in.
type Config struct {
	// URL is a libpq connection string, a URL
	// (postgres://user:pass@host:5432/db?sslmode=require) or key=value
	// pairs. Empty: the PG* environment variables (PGHOST, PGPORT, PGUSER,
	// PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and libpq's defaults.
	URL string
	// Hostname, Port, Username, Password and Database override the
	// matching part of URL (libcluster_postgres's keys). A Hostname that
	// starts with '/' is a unix socket directory.
	Hostname string
	Port     int
	Username string
	Password string
	Database string
	// Channel is the channel to LISTEN and NOTIFY on: a lowercase SQL
	// identifier, at most 63 bytes. Default DefaultChannel.
	// (libcluster_postgres defaults to the Erlang cookie with non-word
	// characters replaced by '_'; set it to that to share a channel with
	// Elixir nodes.)
	Channel string
	// HeartbeatInterval is the time between heartbeats. Default
	// DefaultHeartbeatInterval. Use the same value on every node.
	HeartbeatInterval time.Duration
	// Misses is how many heartbeat intervals a peer may stay silent
	// before it is forgotten. Default DefaultMisses.
	Misses int
	// ConnectTimeout bounds connecting and each statement. Default
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Name is the node name this node announces; default the Self of
	// [strategy.Options].
	Name libcluster.Node
}

// DefaultConfig returns the defaults: channel DefaultChannel, a
// heartbeat every DefaultHeartbeatInterval, DefaultMisses misses and
// DefaultConnectTimeout; the connection from the PG* variables.
func DefaultConfig() Config {
	return Config{Channel: DefaultChannel, HeartbeatInterval: DefaultHeartbeatInterval, Misses: DefaultMisses, ConnectTimeout: DefaultConnectTimeout}
}

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Channel = cmp.Or(c.Channel, d.Channel)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, d.HeartbeatInterval)
	c.Misses = cmp.Or(c.Misses, d.Misses)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, d.ConnectTimeout)
	return c
}

var channelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_$]{0,62}$`) }) // compiled on first use, not at init

// Validate reports every invalid field in one error, naming the config key.
func (c Config) Validate() error {
	c = c.withDefaults()
	var ps strategy.Problems
	fail := ps.Add
	if _, err := pgx.ParseConfig(c.URL); err != nil {
		// The parse error may quote the string; never echo a password.
		fail("url", "not a PostgreSQL connection string (want e.g. postgres://user:pass@host:5432/db or host=... user=...): %v", redact(err))
	}
	if c.Port < 0 || c.Port > 65535 {
		fail("port", "want a TCP port from 1 to 65535, got %d", c.Port)
	}
	if !channelRE().MatchString(c.Channel) {
		fail("channel_name", "want a lowercase SQL identifier of at most 63 bytes (letters, digits, '_'), such as %s, got %q", DefaultChannel, c.Channel)
	}
	if c.HeartbeatInterval < 10*time.Millisecond {
		fail("heartbeat_interval", "want a duration of at least 10ms such as 5s, got %v", c.HeartbeatInterval)
	}
	if c.Misses < 1 || c.Misses > 100 {
		fail("misses", "want an integer from 1 to 100, got %d", c.Misses)
	}
	if c.ConnectTimeout < 0 {
		fail("connect_timeout", "want a positive duration such as 5s")
	}
	if c.Name != "" {
		if _, err := libcluster.ParseNode(string(c.Name)); err != nil {
			fail("name", "%v", err)
		}
	}
	return ps.Err()
}

// redact keeps only pgx's message kind, not the input it quotes.
func redact(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "cannot parse it"
}

// ConfigFromParams decodes libcluster_postgres-style config keys into a
// Config and validates it.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	c := Config{
		URL:               p.String("url", ""),
		Hostname:          p.String("hostname", ""),
		Port:              p.Int("port", 0),
		Username:          p.String("username", ""),
		Password:          p.String("password", ""),
		Database:          p.String("database", ""),
		Channel:           p.String("channel_name", ""),
		HeartbeatInterval: p.Duration("heartbeat_interval", 0),
		Misses:            p.Int("misses", 0),
		ConnectTimeout:    p.Duration("connect_timeout", 0),
		Name:              libcluster.Node(p.String("name", "")),
	}
	if p.Has("heartbeat_interval") && c.HeartbeatInterval == 0 {
		p.Fail("heartbeat_interval", "infinity sends no heartbeat; want e.g. 5s")
	}
	return strategy.Checked(p, c)
}

// Strategy is the PostgreSQL strategy. Make it with [New].
type Strategy struct {
	cfg  Config
	pg   *pgx.ConnConfig
	name libcluster.Node
	log  *slog.Logger
	now  func() time.Time
}

// New checks cfg and returns the strategy. The name announced is cfg.Name,
// else opts.Self; opts.Logger receives connection-state logs.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pg, _ := pgx.ParseConfig(cfg.URL)
	if cfg.Hostname != "" {
		pg.Host = cfg.Hostname
		pg.Fallbacks = nil
	}
	if cfg.Port != 0 {
		pg.Port = uint16(cfg.Port)
		for _, f := range pg.Fallbacks {
			f.Port = uint16(cfg.Port)
		}
	}
	if cfg.Username != "" {
		pg.User = cfg.Username
	}
	if cfg.Password != "" {
		pg.Password = cfg.Password
	}
	if cfg.Database != "" {
		pg.Database = cfg.Database
	}
	pg.ConnectTimeout = cfg.ConnectTimeout
	pg.RuntimeParams["application_name"] = "libcluster"
	return &Strategy{cfg: cfg, pg: pg, name: cmp.Or(cfg.Name, opts.Self),
		log: opts.Log(), now: time.Now}, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Strategy) Config() Config { return s.cfg }

func (s *Strategy) server() string {
	if len(s.pg.Host) > 0 && s.pg.Host[0] == '/' {
		return fmt.Sprintf("socket %s/.s.PGSQL.%d", s.pg.Host, s.pg.Port)
	}
	return net.JoinHostPort(s.pg.Host, strconv.Itoa(int(s.pg.Port)))
}

func (s *Strategy) source() string {
	return fmt.Sprintf("PostgreSQL LISTEN %s at %s database %s", s.cfg.Channel, s.server(), s.pg.Database)
}

// explain wraps a database error with what to fix.
func (s *Strategy) explain(what string, err error) error {
	var pe *pgconn.PgError
	var hint string
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01":
		hint = fmt.Sprintf("the server refused the password of user %q: check password (or PGPASSWORD, the connection string, ~/.pgpass)", s.pg.User)
	case errors.As(err, &pe) && pe.Code == "28000":
		hint = fmt.Sprintf("user %q may not connect to database %q from here: check username and the server's pg_hba.conf", s.pg.User, s.pg.Database)
	case errors.As(err, &pe) && pe.Code == "3D000":
		hint = fmt.Sprintf("database %q does not exist: check database (or PGDATABASE)", s.pg.Database)
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "57"):
		hint = "the server is shutting down or restarting (SQLSTATE " + pe.Code + "); reconnecting"
	case errors.As(err, &pe):
		hint = "the server refused: " + pe.Message
	case errors.Is(err, context.DeadlineExceeded):
		hint = fmt.Sprintf("no answer within %v: check that PostgreSQL is running at %s and reachable", s.cfg.ConnectTimeout, s.server())
	default:
		hint = fmt.Sprintf("check that PostgreSQL is running at %s (hostname, port or PGHOST, PGPORT) and the TLS settings", s.server())
	}
	return fmt.Errorf("postgres: %s at %s: %w (%s)", what, s.server(), err, hint)
}

// connect opens the connection and LISTENs on the channel.
func (s *Strategy) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pg)
	if err != nil {
		return nil, s.explain(fmt.Sprintf("connect as %q to database %q", s.pg.User, s.pg.Database), err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.cfg.Channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, s.explain("LISTEN "+s.cfg.Channel, err)
	}
	return conn, nil
}

// heartbeat NOTIFYs this node's name on the channel.
func (s *Strategy) heartbeat(ctx context.Context, conn *pgx.Conn) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	if _, err := conn.Exec(cctx, "SELECT pg_notify($1, $2)", s.cfg.Channel, string(s.name)); err != nil {
		return s.explain("NOTIFY "+s.cfg.Channel, err)
	}
	return nil
}

// Run announces this node and reports the peers it hears until ctx ends.
// Database errors are reported as discovery errors (the last good set is
// kept) and the connection is retried with back-off.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	if s.name == "" {
		return errors.New("postgres: no node name to announce; set name or run the strategy in a topology")
	}
	peers := newPeers(s.window())
	return strategy.Sessions(ctx, r, s.log, s.source(), 500*time.Millisecond, func(ctx context.Context) error {
		return s.session(ctx, r, peers)
	})
}

// window is how long a peer may stay silent.
func (s *Strategy) window() time.Duration {
	return time.Duration(s.cfg.Misses) * s.cfg.HeartbeatInterval
}

// Discover listens for one heartbeat interval (or until ctx ends) without
// announcing this node, and returns the peers heard. It is what explain
// shows; the set is not complete (a peer may be between heartbeats).
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return libcluster.Update{}, err
	}
	defer conn.Close(context.Background())
	peers := newPeers(s.window())
	deadline := s.now().Add(s.cfg.HeartbeatInterval + s.cfg.HeartbeatInterval/5)
	lctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(lctx)
		if lctx.Err() != nil {
			break
		}
		if err != nil {
			return libcluster.Update{}, s.explain("wait for heartbeats", err)
		}
		peers.heard(n.Payload, s.name, s.now())
	}
	return libcluster.Seen(peers.alive(s.now())).WithDropped(peers.dropped()).WithSource(s.source()), nil
}

// session runs one connection until it fails or ctx ends.
func (s *Strategy) session(ctx context.Context, r libcluster.Reporter, peers *peers) error {
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// Heartbeats sent while the connection was down were not heard: only
	// add peers until a whole window has passed on this connection.
	connected := s.now()
	s.log.Info("postgres: listening", "channel", s.cfg.Channel, "server", s.server())
	next := s.now()
	lastAnswer := time.Time{}
	for {
		if !s.now().Before(next) {
			if err := s.heartbeat(ctx, conn); err != nil {
				return err
			}
			lastAnswer = s.now()
			next = s.now().Add(s.cfg.HeartbeatInterval)
			s.report(r, peers, connected)
		}
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if timedOut {
			continue // time for the next heartbeat
		}
		if err != nil {
			return s.explain("wait for heartbeats", err)
		}
		if !peers.heard(n.Payload, s.name, s.now()) {
			continue
		}
		// A new peer: report it, and answer at once so it learns this
		// node without waiting for the next heartbeat. Answers are rate
		// limited; one that is due meanwhile is sent when the limit allows.
		s.report(r, peers, connected)
		limit := min(s.cfg.HeartbeatInterval/10, 500*time.Millisecond)
		if due := lastAnswer.Add(limit); s.now().Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		lastAnswer = s.now()
		if err := s.heartbeat(ctx, conn); err != nil {
			return err
		}
	}
}

// report sends the peers heard within the window: a complete set once the
// connection has been up for a whole window, else (just after connecting)
// an additive one.
func (s *Strategy) report(r libcluster.Reporter, peers *peers, connected time.Time) {
	now := s.now()
	u := libcluster.SeenExpiring(peers.alive(now), s.window())
	if now.Sub(connected) >= s.window() {
		u = libcluster.Complete(peers.alive(now))
	}
	r.Report(u.WithDropped(peers.dropped()).WithSource(s.source()))
}

// peers is the set of peers heard and when each was last heard.
type peers struct {
	window time.Duration
	last   map[libcluster.Node]time.Time
	bad    map[string]string // invalid payloads seen lately (bounded)
}

func newPeers(window time.Duration) *peers {
	return &peers{window: window, last: map[libcluster.Node]time.Time{}, bad: map[string]string{}}
}

// heard records a heartbeat payload and reports whether it named a peer
// not heard within the window.
func (p *peers) heard(payload string, self libcluster.Node, now time.Time) bool {
	n, err := libcluster.ParseNode(payload)
	if err != nil {
		if len(p.bad) < 16 {
			c := payload
			if len(c) > 64 {
				c = c[:64] + "..."
			}
			p.bad[c] = fmt.Sprintf("heartbeat payload is not a node name: %v", err)
		}
		return false
	}
	if n == self {
		return false
	}
	prev, known := p.last[n]
	if !known && len(p.last) >= MaxPeers {
		p.expire(now)
		if len(p.last) >= MaxPeers {
			return false
		}
	}
	p.last[n] = now
	return !known || now.Sub(prev) > p.window
}

// expire forgets peers silent for longer than the window.
func (p *peers) expire(now time.Time) {
	for n, t := range p.last {
		if now.Sub(t) > p.window {
			delete(p.last, n)
		}
	}
}

// alive returns the peers heard within the window, sorted.
func (p *peers) alive(now time.Time) []libcluster.Node {
	p.expire(now)
	out := make([]libcluster.Node, 0, len(p.last))
	for n := range p.last {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// dropped returns the invalid payloads seen since the last call.
func (p *peers) dropped() []libcluster.Dropped {
	var out []libcluster.Dropped
	for c, why := range p.bad {
		out = append(out, libcluster.Dropped{Candidate: c, Reason: why})
	}
	clear(p.bad)
	slices.SortFunc(out, func(a, b libcluster.Dropped) int { return cmp.Compare(a.Candidate, b.Candidate) })
	return out
}
