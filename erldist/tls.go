package erldist

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Values of TLSOptions.Verify: Erlang's ssl option verify.
const (
	// VerifyPeer checks the peer's certificate chain against the CA
	// certificates of TLSOptions.CACertFile, and, when dialling, that the
	// certificate names the host part of the peer's node name.
	VerifyPeer = "verify_peer"
	// VerifyNone checks nothing: any peer that speaks TLS gets through to
	// the cookie handshake. The node logs a warning when it starts.
	VerifyNone = "verify_none"
)

// maxPEMFile bounds the certificate and key files LoadTLS reads.
const maxPEMFile = 1 << 20

// TLSOptions are the options of Erlang's -ssl_dist_optfile that a node
// needs, under their Erlang names, for [LoadTLS]. The zero value of every
// field but CertFile and CACertFile is the default.
type TLSOptions struct {
	// CertFile (certfile) is the PEM file with this node's certificate,
	// leaf first, optionally followed by intermediate CA certificates. The
	// node presents it both as a server (to nodes that dial it) and as a
	// client (to the nodes it dials). Required.
	CertFile string
	// KeyFile (keyfile) is the PEM file with the certificate's private key
	// (PKCS #1, PKCS #8 or SEC 1, unencrypted). Empty means the key is in
	// CertFile, as in Erlang.
	KeyFile string
	// CACertFile (cacertfile) is the PEM file with the CA certificates a
	// peer's certificate must chain to. Required with VerifyPeer.
	CACertFile string
	// Verify (verify) is VerifyPeer (the default, also for "") or
	// VerifyNone.
	Verify string
	// AllowNoPeerCert accepts incoming connections from peers that present
	// no certificate at all; a certificate that is presented is still
	// verified. It is Erlang's fail_if_no_peer_cert set to false (the
	// default here is Erlang's fail_if_no_peer_cert true).
	AllowNoPeerCert bool
}

// TLSOptionError is the error of [LoadTLS]: which option is wrong and why.
type TLSOptionError struct {
	// Option is the Erlang option name: certfile, keyfile, cacertfile or
	// verify.
	Option string
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *TLSOptionError) Error() string { return "dist: TLS " + e.Option + ": " + e.Msg }

// LoadTLS reads the files o names and returns the [tls.Config] for
// Config.TLS: this node's certificate for both roles, the CA pool for
// both, and client certificates required per o (verify_peer with
// fail_if_no_peer_cert, the default: tls.RequireAndVerifyClientCert).
// The minimum version is TLS 1.2, which every OTP release from 22 on
// speaks. An error is a [*TLSOptionError].
func LoadTLS(o TLSOptions) (*tls.Config, error) {
	verify := o.Verify
	if verify == "" {
		verify = VerifyPeer
	}
	if verify != VerifyPeer && verify != VerifyNone {
		return nil, &TLSOptionError{"verify", fmt.Sprintf("%q is neither %s nor %s", o.Verify, VerifyPeer, VerifyNone)}
	}
	if o.CertFile == "" {
		return nil, &TLSOptionError{"certfile", "missing; name the PEM file with this node's certificate (every node presents one, as server and as client)"}
	}
	certPEM, err := readPEMFile(o.CertFile)
	if err != nil {
		return nil, &TLSOptionError{"certfile", err.Error()}
	}
	keyPEM, keyOpt, keyPath, hint := certPEM, "certfile", o.CertFile, "; set keyfile to the file with the key"
	if o.KeyFile != "" {
		if keyPEM, err = readPEMFile(o.KeyFile); err != nil {
			return nil, &TLSOptionError{"keyfile", err.Error()}
		}
		keyOpt, keyPath, hint = "keyfile", o.KeyFile, ""
	}
	if !hasPEM(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, &TLSOptionError{"certfile", o.CertFile + " holds no PEM CERTIFICATE block"}
	}
	if !hasPEM(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		return nil, &TLSOptionError{keyOpt, fmt.Sprintf("no PEM private key block in %s%s", keyPath, hint)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &TLSOptionError{keyOpt, fmt.Sprintf("cannot use the key with the certificate of %s: %v (an encrypted key is not supported; decrypt it with openssl pkey)", o.CertFile, err)}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, &TLSOptionError{"certfile", fmt.Sprintf("the certificate in %s expired on %s; issue a new one", o.CertFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if o.CACertFile != "" {
		caPEM, err := readPEMFile(o.CACertFile)
		if err != nil {
			return nil, &TLSOptionError{"cacertfile", err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, &TLSOptionError{"cacertfile", o.CACertFile + " holds no PEM CERTIFICATE block"}
		}
		cfg.RootCAs, cfg.ClientCAs = pool, pool
	}
	switch {
	case verify == VerifyNone:
		cfg.InsecureSkipVerify = true
		cfg.ClientAuth = tls.NoClientCert
	case o.CACertFile == "":
		return nil, &TLSOptionError{"cacertfile", "missing; verify_peer needs the PEM file of the CA certificates peers' certificates must chain to"}
	case o.AllowNoPeerCert:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// readPEMFile reads a regular file of at most maxPEMFile bytes.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; name a PEM file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it the right file?", path, maxPEMFile)
	}
	return b, nil
}

// hasPEM reports whether b holds a PEM block whose type satisfies ok.
func hasPEM(b []byte, ok func(string) bool) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if ok(blk.Type) {
			return true
		}
	}
}

// checkTLS validates Config.TLS in Start and warns about what it lets
// through unverified.
func (n *Node) checkTLS() error {
	t := n.cfg.TLS
	if t == nil {
		return nil
	}
	if len(t.Certificates) == 0 && t.GetCertificate == nil {
		return errors.New("dist: Config.TLS has no certificate; every node presents one, as server and as client (see LoadTLS)")
	}
	if t.InsecureSkipVerify || t.ClientAuth < tls.VerifyClientCertIfGiven {
		n.log.Warn("dist: TLS distribution without certificate verification (verify_none): any peer that speaks TLS reaches the cookie handshake, and this node does not know whom it dials; use verify_peer with a cacertfile")
	} else if t.ClientAuth == tls.VerifyClientCertIfGiven {
		n.log.Warn("dist: TLS distribution accepts peers without a certificate (fail_if_no_peer_cert false); only the cookie authenticates them")
	}
	return nil
}

// tlsConn is a distribution connection over TLS. Close closes the TCP
// connection at once: sending close_notify could block a connection
// whose peer stopped reading for seconds, and Erlang peers need none.
// Read errors caused by a TLS alert from the peer say what it refused.
type tlsConn struct {
	*tls.Conn
	raw net.Conn
}

func (c *tlsConn) Close() error { return c.raw.Close() }

func (c *tlsConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	if err != nil {
		err = explainTLS(err, false)
	}
	return k, err
}

// dialTLS runs the TLS client handshake on a dialled connection when the
// node uses TLS, and checks the peer's certificate as OTP's inet_tls_dist
// does: the chain against the CA certificates, then the host part of peer
// (which OTP passes as server_name_indication) against the certificate's
// names, see verifyHost. It closes nc on error.
func (n *Node) dialTLS(ctx context.Context, nc net.Conn, peer libcluster.Node, addr string) (net.Conn, error) {
	if n.cfg.TLS == nil {
		return nc, nil
	}
	cfg := n.cfg.TLS.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = peer.Host()
	}
	if !cfg.InsecureSkipVerify {
		// crypto/tls matches an IP address against IP entries only;
		// OTP matches the host text against DNS entries. Verify here to
		// accept what OTP accepts.
		cfg.InsecureSkipVerify = true
		roots, host, next := cfg.RootCAs, cfg.ServerName, cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyServer(cs, roots, host); err != nil {
				return err
			}
			if next != nil {
				return next(cs)
			}
			return nil
		}
	}
	if cfg.GetClientCertificate == nil && len(cfg.Certificates) > 0 {
		// Present the certificate even when it is not from a CA the
		// server lists (Go would send none), as OTP does: the server's
		// refusal then names the real problem.
		cert := &cfg.Certificates[0]
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tc := &tlsConn{Conn: tls.Client(nc, cfg), raw: nc}
	hctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("dist: TLS handshake with %s at %s failed: %w", peer, addr, explainTLS(err, true))
	}
	return tc, nil
}

// verifyServer checks a server's certificate chain against roots (the
// system's when nil) for server authentication, and its names against
// host with verifyHost.
func verifyServer(cs tls.ConnectionState, roots *x509.CertPool, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return verifyHost(leaf, host)
}

// errHostname is wrapped by verifyHost's errors.
var errHostname = errors.New("the certificate does not name the host")

// verifyHost checks the host part of a node name against a certificate
// the way OTP's public_key:pkix_verify_hostname does for the dns_id that
// inet_tls_dist derives from the node name: host equals a subjectAltName
// DNS entry, ignoring case (a leading "*." entry matches one label of a
// DNS name), or, when the certificate has no DNS entry, its subject
// common name. An IP address also matches a subjectAltName IP entry (what
// crypto/tls and RFC 6125 check). So a node named app@10.0.0.5 needs a
// certificate with the DNS entry "10.0.0.5" for OTP peers, and the DNS
// or the IP entry for Go peers.
func verifyHost(leaf *x509.Certificate, host string) error {
	ip := net.ParseIP(host)
	if ip != nil {
		for _, a := range leaf.IPAddresses {
			if a.Equal(ip) {
				return nil
			}
		}
	}
	for _, d := range leaf.DNSNames {
		if strings.EqualFold(d, host) {
			return nil
		}
		if ip == nil && strings.HasPrefix(d, "*.") {
			if _, rest, ok := strings.Cut(host, "."); ok && rest != "" && strings.EqualFold(d[2:], rest) {
				return nil
			}
		}
	}
	if len(leaf.DNSNames) == 0 && leaf.Subject.CommonName != "" && strings.EqualFold(leaf.Subject.CommonName, host) {
		return nil
	}
	names := append([]string(nil), leaf.DNSNames...)
	for _, a := range leaf.IPAddresses {
		names = append(names, "IP:"+a.String())
	}
	if len(leaf.DNSNames) == 0 {
		names = append(names, "CN:"+leaf.Subject.CommonName)
	}
	return fmt.Errorf("tls: %w %s (it names %s)", errHostname, host, strings.Join(names, ", "))
}

// acceptTLS runs the TLS server handshake on an accepted connection when
// the node uses TLS; nc must be in n.handshake, where the TLS connection
// takes its place. On failure it logs (rate-limited), closes nc and
// returns false.
func (n *Node) acceptTLS(nc net.Conn) (net.Conn, bool) {
	if n.cfg.TLS == nil {
		return nc, true
	}
	tc := &tlsConn{Conn: tls.Server(nc, n.cfg.TLS), raw: nc}
	n.mu.Lock()
	started := n.handshake[nc]
	delete(n.handshake, nc)
	n.handshake[tc] = started
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if err == nil {
		return tc, true
	}
	n.mu.Lock()
	delete(n.handshake, tc)
	n.mu.Unlock()
	nc.Close()
	if n.ctx.Err() == nil {
		n.tlsLog.log(n, nc.RemoteAddr().String(), explainTLS(err, true))
	}
	return nil, false
}

// explainTLS adds to a TLS error what it most likely means. handshake is
// true for errors of the handshake itself.
func explainTLS(err error, handshake bool) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w; the peer's certificate is not issued by a CA in this node's cacertfile: give every node a certificate from the same CA", err)
	case errors.As(err, &hostErr) || errors.Is(err, errHostname):
		return fmt.Errorf("%w; the certificate must name the host part of the node name in a subjectAltName DNS entry (OTP peers match an IP address against DNS entries too: add DNS:10.0.0.5 beside IP:10.0.0.5)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w; check the certificate's validity period and key usage (serverAuth and clientAuth)", err)
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		return fmt.Errorf("%w; the peer presented no certificate: give it one (certfile), or accept such peers with fail_if_no_peer_cert false", err)
	case errors.As(err, &recHdr):
		return fmt.Errorf("%w; the peer does not speak TLS: start it with -proto_dist inet_tls -ssl_dist_optfile (erl) or node.tls (libcluster)", err)
	case errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("the peer refused this node's TLS certificate (%w); is it issued by a CA in the peer's cacertfile, and does the peer need one (fail_if_no_peer_cert)?", err)
	case handshake && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return fmt.Errorf("%w; the peer did not complete the TLS handshake: does it use TLS distribution (plain TCP nodes cannot talk to TLS nodes)?", err)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rateLog writes at most tlsLogBurst warnings per tlsLogInterval about
// refused TLS handshakes and counts the ones it leaves out, so that a
// flood of bad connections cannot flood the log.
type rateLog struct {
	mu         sync.Mutex
	start      time.Time // of the current interval
	lines      int       // written in the current interval
	suppressed int       // left out since the last line written
}

const (
	tlsLogInterval = 10 * time.Second
	tlsLogBurst    = 5
)

func (r *rateLog) log(n *Node, remote string, err error) {
	r.mu.Lock()
	if now := time.Now(); now.Sub(r.start) >= tlsLogInterval {
		r.start, r.lines = now, 0
	}
	if r.lines >= tlsLogBurst {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.lines++
	sup := r.suppressed
	r.suppressed = 0
	r.mu.Unlock()
	n.log.Warn("dist: incoming TLS connection refused", "remote", remote, "err", err, "suppressed_before", sup)
}
