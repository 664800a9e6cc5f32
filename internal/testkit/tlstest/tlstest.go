// Package tlstest makes certificate authorities and node certificates for
// tests of TLS distribution: ECDSA P-256 keys, which Go and every OTP
// release from 22 on accept, written as PEM files to the test's temporary
// directory.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// CA is a certificate authority made for one test.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key *ecdsa.PrivateKey
	// Dir is the directory the CA writes its files to.
	Dir string
	// File is the PEM file of the CA certificate (a cacertfile).
	File string
}

var serial atomic.Int64

// newKey returns a fresh key and a certificate template for common name
// name, valid from an hour ago for a day.
func newKey(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key, &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

// NewCA makes a CA with common name name, valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, tmpl := newKey(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Cert: cert, Key: key, Dir: t.TempDir()}
	ca.File = filepath.Join(ca.Dir, name+"-ca.pem")
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// Issue makes a certificate with common name name for both server and
// client authentication, valid for hosts, and returns its certificate and
// key files. A host is a DNS name; an IP address, which goes in as an IP
// entry and as a DNS entry (Go checks the first, OTP the second); or
// "IP:" and an address, for an IP entry only.
func (ca *CA) Issue(t testing.TB, name string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	key, tmpl := newKey(t, name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip, ok := strings.CutPrefix(h, "IP:"); ok {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(ca.Dir, name+"-cert.pem")
	keyFile = filepath.Join(ca.Dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SSLHint is how to install Erlang's ssl application on Debian.
const SSLHint = "apt-get install erlang-ssl"

var sslCheck struct {
	once sync.Once
	lib  string // code:lib_dir(ssl) as erl printed it
}

// RequireErlSSL skips the test (fails it under CI) when the erl under
// test (see erltest) has no ssl application, which -proto_dist inet_tls
// needs.
func RequireErlSSL(t testing.TB) {
	t.Helper()
	sslCheck.once.Do(func() {
		sslCheck.lib = erltest.RunErl(t, "", "-noshell", "-eval", `io:format("ssl=~p~n", [code:lib_dir(ssl)]), halt().`)
	})
	if !strings.Contains(sslCheck.lib, "ssl=\"") {
		testenv.Missing(t, "the erl under test has no ssl application (%s); %s", strings.TrimSpace(sslCheck.lib), SSLHint)
	}
}

// ErlArgs issues a certificate for name valid for hosts, writes an
// -ssl_dist_optfile with it that trusts trust (ca itself when nil), and
// returns the erl arguments that run distribution over TLS with it: both
// roles verify the peer (verify_peer) and the server requires a client
// certificate (fail_if_no_peer_cert).
//
// It skips the test (fails it under CI) when erl has no ssl application.
func (ca *CA) ErlArgs(t testing.TB, trust *CA, name string, hosts ...string) []string {
	t.Helper()
	RequireErlSSL(t)
	if trust == nil {
		trust = ca
	}
	cf, kf := ca.Issue(t, name, hosts...)
	opts := fmt.Sprintf(`{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}`, cf, kf, trust.File)
	file := filepath.Join(t.TempDir(), name+"-ssl_dist.conf")
	content := fmt.Sprintf("[{server, [%s, {fail_if_no_peer_cert, true}]},\n {client, [%s]}].\n", opts, opts)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", file}
}
