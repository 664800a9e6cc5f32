package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server defaults, used for zero fields of [ServerConfig].
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxConns          = 512
	DefaultMaxConnsPerHost   = 128
)

// ServerConfig bounds what HTTP clients can hold on to. A zero field takes
// its default; a negative duration or count means no limit.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers, including the
	// wait for the first request on a new connection (default 5 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request (default 10 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default 30 s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long (default 30 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes is the largest request header block (default 16 KiB).
	MaxHeaderBytes int
	// MaxConns caps open connections; a connection over the cap is closed
	// at once (default 512).
	MaxConns int
	// MaxConnsPerHost caps open connections from one IP address, so that
	// one client cannot take the whole MaxConns from the others, such as
	// the kubelet's probes (default 128).
	MaxConnsPerHost int
	// Logger receives a rate-limited note when connections are refused;
	// nil means slog.Default().
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		} else if *d < 0 {
			*d = 0 // net/http: zero means none
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerHost == 0 {
		c.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is an http.Server whose timeouts, header size and connection
// counts are bounded by a [ServerConfig]. Create it with [NewServer].
type Server struct {
	*http.Server
	cfg ServerConfig
}

// NewServer returns a server for h with the bounds of cfg.
func NewServer(h http.Handler, cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		},
		cfg: cfg,
	}
}

// Serve serves HTTP on ln, with the connection caps applied, until
// Shutdown or Close. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(LimitListener(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerHost, s.cfg.Logger))
}

// ListenAndServe listens on the TCP address addr and serves it like Serve
// (the embedded http.Server's own ListenAndServe would skip the caps).
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// LimitListener returns a listener that closes, right after accepting
// them, connections beyond max open ones in total or perHost open ones
// from one IP address (a value <= 0 means no cap). Refusals are logged as
// one summary line per minute at most, through log (nil: slog.Default()).
func LimitListener(ln net.Listener, max, perHost int, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.Default()
	}
	return &limitListener{Listener: ln, max: max, perHost: perHost, log: log, byHost: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max, perHost int
	log          *slog.Logger

	mu       sync.Mutex
	open     int
	byHost   map[string]int
	refused  int
	lastNote time.Time
}

func hostOf(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c)
		l.mu.Lock()
		if (l.max > 0 && l.open >= l.max) || (l.perHost > 0 && l.byHost[host] >= l.perHost) {
			l.refused++
			var note int
			if now := time.Now(); now.Sub(l.lastNote) >= time.Minute {
				note, l.refused, l.lastNote = l.refused, 0, now
			}
			open := l.open
			l.mu.Unlock()
			c.Close()
			if note > 0 {
				l.log.Warn("http: too many connections; closing new ones (a client holds many idle connections?)",
					"refused", note, "last_from", host, "open", open, "max_conns", l.max, "max_conns_per_host", l.perHost)
			}
			continue
		}
		l.open++
		l.byHost[host]++
		l.mu.Unlock()
		return &limitConn{Conn: c, l: l, host: host}, nil
	}
}

func (l *limitListener) release(host string) {
	l.mu.Lock()
	l.open--
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
	l.mu.Unlock()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	host string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}
