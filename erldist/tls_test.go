package erldist

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/etf"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/tlstest"
)

// testCA is a certificate authority made for one test.
type testCA = tlstest.CA

func newTestCA(t testing.TB, name string) *testCA { return tlstest.NewCA(t, name) }

// tlsConfig issues a certificate for name from ca (see tlstest.CA.Issue
// for hosts) and loads it with trust in trust (ca itself when nil).
func tlsConfig(t testing.TB, ca *testCA, name string, trust *testCA, hosts ...string) *tls.Config {
	t.Helper()
	if trust == nil {
		trust = ca
	}
	cf, kf := ca.Issue(t, name, hosts...)
	cfg, err := LoadTLS(TLSOptions{CertFile: cf, KeyFile: kf, CACertFile: trust.File})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func captureLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// waitLog waits until the log holds every one of parts on one line.
func waitLog(t testing.TB, b *logBuf, parts ...string) string {
	t.Helper()
	var found string
	clustertest.EventuallyWithin(t, 15*time.Second, "log line with "+strings.Join(parts, " + "), func() bool {
		for _, line := range strings.Split(b.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

// peerCertName returns the common name of the certificate the peer
// presented on n's connection to it, or "" when the connection does not
// run over TLS.
func peerCertName(n *Node, peer libcluster.Node) string {
	n.mu.Lock()
	c := n.conns[peer]
	n.mu.Unlock()
	if c == nil {
		return ""
	}
	tc, ok := c.nc.(*tlsConn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}

// TestTLSGoGo: two Go nodes with certificates from one CA connect over
// mutual TLS, each sees the other's certificate, and a message goes
// through; a node named by a DNS host is checked against a DNS entry.
func TestTLSGoGo(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca1")
	ep := startEPMD(t)
	g1 := startNode(t, Config{Name: "gt1@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gt1", nil, "127.0.0.1")})
	g2 := startNode(t, Config{Name: "gt2@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gt2", nil, "127.0.0.1")})
	inbox, err := g2.Register("inbox")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := g1.Connect(ctx, g2.Self()); err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	if got := peerCertName(g1, g2.Self()); got != "gt2" {
		t.Fatalf("g1 sees peer certificate %q, want gt2", got)
	}
	clustertest.EventuallyWithin(t, 10*time.Second, "g2 sees g1's certificate", func() bool { return peerCertName(g2, g1.Self()) == "gt1" })
	if err := g1.Send(ctx, g2.Self(), "inbox", etf.Atom("over_tls")); err != nil {
		t.Fatal(err)
	}
	if m := recvMsg(t, inbox, 10*time.Second); m.Body != etf.Atom("over_tls") {
		t.Fatalf("got %v, want over_tls", m.Body)
	}

	// A short name: the host part is checked against a DNS entry.
	g3 := startNode(t, Config{Name: "gt3@localhost", EPMDPort: ep, TLS: tlsConfig(t, ca, "gt3", nil, "localhost")})
	if err := g1.Connect(ctx, g3.Self()); err != nil {
		t.Fatalf("TLS connect to gt3@localhost: %v", err)
	}
	if got := peerCertName(g1, g3.Self()); got != "gt3" {
		t.Fatalf("g1 sees peer certificate %q, want gt3", got)
	}
}

// TestTLSHostname: the dialling node checks the host part of the peer's
// name against the certificate as OTP does, accepting a DNS entry with the
// address text (what OTP needs) or an IP entry (what Go checks); a
// certificate from the right CA that names neither is refused, and no
// connection comes up.
func TestTLSHostname(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca1")
	ep := startEPMD(t)
	g1 := startNode(t, Config{Name: "gh1@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gh1", nil, "127.0.0.1")})
	ctx := testCtx(t)
	for _, tc := range []struct {
		node  string
		hosts []string
		ok    bool
	}{
		{"ghip", []string{"IP:127.0.0.1"}, true},
		{"ghdns", []string{"localhost", "127.0.0.1"}, true},
		{"ghcn", nil, false}, // no SAN; its CN is the node's base name
		{"ghno", []string{"localhost", "127.0.0.2"}, false},
	} {
		g := startNode(t, Config{Name: libcluster.Node(tc.node + "@127.0.0.1"), EPMDPort: ep, TLS: tlsConfig(t, ca, tc.node, nil, tc.hosts...)})
		err := g1.Connect(ctx, g.Self())
		if tc.ok != (err == nil) {
			t.Fatalf("connect to %s (certificate for %v): %v; want ok=%v", g.Self(), tc.hosts, err, tc.ok)
		}
		if !tc.ok && (!strings.Contains(err.Error(), "does not name the host 127.0.0.1") || !strings.Contains(err.Error(), "subjectAltName")) {
			t.Fatalf("connect to %s: %v; want a hostname error", g.Self(), err)
		}
		if !tc.ok {
			t.Logf("refused as expected: %v", err)
			if len(g.Nodes()) != 0 {
				t.Fatalf("%s has nodes %v after the refusal", g.Self(), g.Nodes())
			}
		}
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "host.example"}}
	if err := verifyHost(cert, "HOST.example"); err != nil {
		t.Fatalf("CN fallback without DNS entries: %v", err)
	}
	cert.DNSNames = []string{"*.example"}
	if verifyHost(cert, "host.example") != nil || verifyHost(cert, "a.b.example") == nil || verifyHost(cert, "example") == nil {
		t.Fatal("wildcard: *.example must match host.example only")
	}
}

// TestTLSOtherCA: a peer whose certificate comes from another CA is
// refused both ways: by the dialling node (server certificate) and by the
// accepting node (client certificate), each with an error that names the
// CA problem.
func TestTLSOtherCA(t *testing.T) {
	t.Parallel()
	ca1, ca2 := newTestCA(t, "ca1"), newTestCA(t, "ca2")
	ep := startEPMD(t)
	log1, buf1 := captureLog()
	g1 := startNode(t, Config{Name: "gca1@127.0.0.1", EPMDPort: ep, Logger: log1, TLS: tlsConfig(t, ca1, "gca1", nil, "127.0.0.1")})
	// gca2 trusts ca1, so it accepts g1's server certificate, but its own
	// certificate is from ca2.
	g2 := startNode(t, Config{Name: "gca2@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca2, "gca2", ca1, "127.0.0.1")})
	// gca3 has a ca2 certificate and trusts ca2 only.
	g3 := startNode(t, Config{Name: "gca3@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca2, "gca3", nil, "127.0.0.1")})
	ctx := testCtx(t)

	// g1 dials g3: g3's server certificate is not from ca1.
	err := g1.Connect(ctx, g3.Self())
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) || !strings.Contains(err.Error(), "not issued by a CA in this node's cacertfile") {
		t.Fatalf("g1 -> g3 (other CA): %v; want an unknown-authority error", err)
	}
	t.Logf("dialler refused the server: %v", err)

	// g2 dials g1: g1 refuses g2's client certificate.
	err = g2.Connect(ctx, g1.Self())
	if err == nil || !strings.Contains(err.Error(), "refused this node's TLS certificate") {
		t.Fatalf("g2 -> g1 (client certificate from another CA): %v; want the peer's refusal", err)
	}
	t.Logf("dialler saw: %v", err)
	line := waitLog(t, buf1, "incoming TLS connection refused", "not issued by a CA")
	t.Logf("acceptor logged: %s", line)
	if n := len(g1.Nodes()) + len(g2.Nodes()) + len(g3.Nodes()); n != 0 {
		t.Fatalf("%d connections came up; want none", n)
	}
}

// TestTLSRefusesPlainTCP: a TLS node and a plain TCP node cannot connect,
// whichever dials, and the TLS node says why.
func TestTLSRefusesPlainTCP(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca1")
	ep := startEPMD(t)
	logT, bufT := captureLog()
	gt := startNode(t, Config{Name: "gpt1@127.0.0.1", EPMDPort: ep, Logger: logT, HandshakeTimeout: 2 * time.Second, TLS: tlsConfig(t, ca, "gpt1", nil, "127.0.0.1")})
	gp := startNode(t, Config{Name: "gpt2@127.0.0.1", EPMDPort: ep, HandshakeTimeout: 2 * time.Second})
	ctx := testCtx(t)

	if err := gp.Connect(ctx, gt.Self()); err == nil || !strings.Contains(err.Error(), "does it use TLS distribution") {
		t.Fatalf("plain node -> TLS node: %v; want an error that asks about TLS", err)
	} else {
		t.Logf("plain dialler: %v", err)
	}
	line := waitLog(t, bufT, "incoming TLS connection refused", "does not speak TLS")
	t.Logf("TLS acceptor logged: %s", line)

	err := gt.Connect(ctx, gp.Self())
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "plain TCP") {
		t.Fatalf("TLS node -> plain node: %v; want a TLS handshake error naming plain TCP", err)
	}
	t.Logf("TLS dialler: %v", err)
	if n := len(gt.Nodes()) + len(gp.Nodes()); n != 0 {
		t.Fatalf("%d connections came up; want none", n)
	}
}

// TestLoadTLSErrors: each wrong option is named.
func TestLoadTLSErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca1")
	cf, kf := ca.Issue(t, "n1", "127.0.0.1")
	other := newTestCA(t, "ca2")
	_, otherKey := other.Issue(t, "n2", "127.0.0.1")
	dir := t.TempDir()
	combined := filepath.Join(dir, "combined.pem")
	cb, _ := os.ReadFile(cf)
	kb, _ := os.ReadFile(kf)
	if err := os.WriteFile(combined, append(cb, kb...), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), maxPEMFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o      TLSOptions
		option string
		msg    string
	}{
		{TLSOptions{KeyFile: kf, CACertFile: ca.File}, "certfile", "missing"},
		{TLSOptions{CertFile: cf, KeyFile: kf}, "cacertfile", "verify_peer needs"},
		{TLSOptions{CertFile: cf, KeyFile: kf, CACertFile: ca.File, Verify: "verify_maybe"}, "verify", "neither"},
		{TLSOptions{CertFile: filepath.Join(dir, "nope.pem"), CACertFile: ca.File}, "certfile", "no such file"},
		{TLSOptions{CertFile: cf, CACertFile: ca.File}, "certfile", "set keyfile"},
		{TLSOptions{CertFile: cf, KeyFile: otherKey, CACertFile: ca.File}, "keyfile", "cannot use the key"},
		{TLSOptions{CertFile: cf, KeyFile: kf, CACertFile: kf}, "cacertfile", "no PEM CERTIFICATE"},
		{TLSOptions{CertFile: big, KeyFile: kf, CACertFile: ca.File}, "certfile", "larger than"},
		{TLSOptions{CertFile: dir, KeyFile: kf, CACertFile: ca.File}, "certfile", "not a regular file"},
	} {
		_, err := LoadTLS(tc.o)
		var oe *TLSOptionError
		if !errors.As(err, &oe) || oe.Option != tc.option || !strings.Contains(oe.Msg, tc.msg) {
			t.Errorf("LoadTLS(%+v) = %v; want a %s error with %q", tc.o, err, tc.option, tc.msg)
		}
	}
	// The key may sit in certfile; verify_none needs no CA file.
	cfg, err := LoadTLS(TLSOptions{CertFile: combined, CACertFile: ca.File})
	if err != nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.InsecureSkipVerify {
		t.Fatalf("combined file: %v, %+v", err, cfg)
	}
	cfg, err = LoadTLS(TLSOptions{CertFile: cf, KeyFile: kf, CACertFile: ca.File, AllowNoPeerCert: true})
	if err != nil || cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Fatalf("fail_if_no_peer_cert false: %v, %v", err, cfg.ClientAuth)
	}
	cfg, err = LoadTLS(TLSOptions{CertFile: cf, KeyFile: kf, Verify: VerifyNone})
	if err != nil || !cfg.InsecureSkipVerify || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("verify_none: %v, %+v", err, cfg)
	}
	// verify_none warns at start-up, and such a node still talks TLS.
	logN, bufN := captureLog()
	ep := startEPMD(t)
	gn := startNode(t, Config{Name: "gvn@127.0.0.1", EPMDPort: ep, Logger: logN, TLS: cfg})
	if !strings.Contains(bufN.String(), "without certificate verification (verify_none)") {
		t.Fatalf("no verify_none warning at start-up; log:\n%s", bufN.String())
	}
	gv := startNode(t, Config{Name: "gvp@127.0.0.1", EPMDPort: ep, TLS: tlsConfig(t, ca, "gvp", nil, "127.0.0.1")})
	if err := gn.Connect(testCtx(t), gv.Self()); err != nil {
		t.Fatalf("verify_none node -> verify_peer node: %v", err)
	}
	if _, err := Start(testCtx(t), Config{Name: "gnocert@127.0.0.1", Cookie: "c", EPMDPort: ep, TLS: &tls.Config{}}); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("Start with a TLS config without certificate: %v", err)
	}
}

// benchPair starts two nodes, over TLS when tlsOn, for the TLS benchmarks.
func benchPair(b *testing.B, prefix string, tlsOn bool) (*Node, *Node) {
	ep := startEPMD(b)
	var ca *testCA
	cfg := func(name string) Config {
		c := Config{Name: libcluster.Node(name + "@127.0.0.1"), EPMDPort: ep}
		if tlsOn {
			c.TLS = tlsConfig(b, ca, name, nil, "127.0.0.1")
		}
		return c
	}
	if tlsOn {
		ca = newTestCA(b, "ca")
	}
	return startNode(b, cfg(prefix+"a")), startNode(b, cfg(prefix+"b"))
}

// BenchmarkTLSConnect measures Connect (EPMD lookup, TCP connect, the TLS
// handshake when on, the cookie handshake) and Disconnect between two Go
// nodes, plain and over TLS.
func BenchmarkTLSConnect(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "tls"}[tlsOn], func(b *testing.B) {
			na, nb := benchPair(b, "bc", tlsOn)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := na.Connect(ctx, nb.Self()); err != nil {
					b.Fatal(err)
				}
				if err := na.Disconnect(ctx, nb.Self()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTLSSendReceive measures a REG_SEND round trip of a 64 KiB
// binary between two Go nodes, plain and over TLS.
func BenchmarkTLSSendReceive(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "tls"}[tlsOn], func(b *testing.B) {
			na, nb := benchPair(b, "bs", tlsOn)
			back, err := na.Register("back")
			if err != nil {
				b.Fatal(err)
			}
			in, err := nb.Register("go_echo")
			if err != nil {
				b.Fatal(err)
			}
			echoLoop(b, nb, in)
			ctx := context.Background()
			if err := na.Connect(ctx, nb.Self()); err != nil {
				b.Fatal(err)
			}
			body := etf.Binary(bytes.Repeat([]byte("x"), 64<<10))
			msg := etf.Tuple{etf.Atom("back"), body}
			b.SetBytes(2 * int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := na.Send(ctx, nb.Self(), "go_echo", msg); err != nil {
					b.Fatal(err)
				}
				recvMsg(b, back, 10*time.Second)
			}
		})
	}
}
