package config

import (
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/internal/testkit/tlstest"
)

// tlsFile is a config file with a node.tls block made of lines.
func tlsFile(lines ...string) string {
	b := "node:\n  name: app@127.0.0.1\n  cookie: secret\n  tls:\n"
	for _, l := range lines {
		b += "    " + l + "\n"
	}
	return b + "topologies:\n  one:\n    strategy: epmd\n"
}

func TestTLSBlock(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	cf, kf := ca.Issue(t, "app", "127.0.0.1")
	f, err := Parse([]byte(tlsFile("certfile: "+cf, "keyfile: "+kf, "cacertfile: "+ca.File)), "tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := erldist.TLSOptions{CertFile: cf, KeyFile: kf, CACertFile: ca.File}
	if f.Node.TLS == nil || *f.Node.TLS != want {
		t.Fatalf("node.tls = %+v, want %+v", f.Node.TLS, want)
	}
	f, err = Parse([]byte(tlsFile("certfile: "+cf, "keyfile: "+kf, "cacertfile: "+ca.File, "verify: verify_peer", "fail_if_no_peer_cert: false")), "tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want.Verify, want.AllowNoPeerCert = erldist.VerifyPeer, true
	if *f.Node.TLS != want {
		t.Fatalf("node.tls = %+v, want %+v", *f.Node.TLS, want)
	}
	f, err = Parse([]byte(tlsFile("certfile: "+cf, "keyfile: "+kf, "verify: verify_none")), "tls.yaml")
	if err != nil || f.Node.TLS.Verify != erldist.VerifyNone {
		t.Fatalf("verify_none without cacertfile: %v", err)
	}
	if f, err := Parse([]byte("node:\n  name: app@127.0.0.1\n  cookie: c\ntopologies:\n  one:\n    strategy: epmd\n"), "plain.yaml"); err != nil || f.Node.TLS != nil {
		t.Fatalf("no tls block: %v, %+v", err, f)
	}
}

func TestTLSBlockErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	cf, kf := ca.Issue(t, "app", "127.0.0.1")
	for _, tc := range []struct {
		file string
		want string
	}{
		{tlsFile("certfle: "+cf, "keyfile: "+kf, "cacertfile: "+ca.File), `tls.yaml:5: node.tls.certfle: unknown key; did you mean "certfile"?`},
		{tlsFile("certfile: "+cf, "keyfile: "+kf, "cacertfile: "+ca.File, "verify: verify_peers"), `tls.yaml:8: node.tls.verify: unknown value "verify_peers"; did you mean "verify_peer"? (allowed: verify_peer, verify_none)`},
		{tlsFile("certfile: "+cf, "keyfile: "+kf, "cacertfile: "+ca.File, "fail_if_no_peer_cert: sometimes"), `tls.yaml:8: node.tls.fail_if_no_peer_cert: want true or false`},
		{tlsFile("certfile: "+cf, "keyfile: "+kf, "cacertfile: /nonexistent/ca.pem"), `tls.yaml:7: node.tls.cacertfile: cannot open: open /nonexistent/ca.pem: no such file or directory`},
		{tlsFile("certfile: "+cf, "keyfile: "+kf), `tls.yaml:4: node.tls.cacertfile: missing; verify_peer needs`},
		{tlsFile("certfile: "+cf, "keyfile: "+cf, "cacertfile: "+ca.File), `tls.yaml:6: node.tls.keyfile: no PEM private key block in ` + cf},
		{tlsFile("certfile: \"\"", "cacertfile: "+ca.File), `tls.yaml:5: node.tls.certfile: empty`},
		{"node:\n  name: app@127.0.0.1\n  tls: on\ntopologies:\n  one:\n    strategy: epmd\n", `tls.yaml:3: node.tls: want a mapping`},
		{"node:\n  name: app@127.0.0.1\n  connector: memberlist\n  tls: {certfile: x}\ntopologies:\n  one:\n    strategy: epmd\n", `tls.yaml:4: node.tls: a setting of the dist connector`},
	} {
		_, err := Parse([]byte(tc.file), "tls.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse:\n%s\n= %v\nwant an error with %q", tc.file, err, tc.want)
		}
	}
}
