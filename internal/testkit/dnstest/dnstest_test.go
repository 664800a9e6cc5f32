package dnstest_test

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
)

func ask(t *testing.T, addr, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	m, _, err := (&dns.Client{}).ExchangeContext(context.Background(), q, addr)
	return m, err
}

func TestRecordsRcodesRestartAndLog(t *testing.T) {
	s := dnstest.New(t)
	s.SetA("x.test", "127.0.0.1")
	s.SetSERVFAIL("y.test")
	if m, err := ask(t, s.Addr(), "X.test", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("A: %v %v", m, err)
	}
	if m, err := ask(t, s.Addr(), "y.test", dns.TypeA); err != nil || m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("SERVFAIL: %v %v", m, err)
	}
	if m, err := ask(t, s.Addr(), "z.test", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("unknown name: %v %v", m, err)
	}
	addr := s.Addr()
	s.Stop()
	if _, err := ask(t, addr, "x.test", dns.TypeA); err == nil {
		t.Fatal("stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if m, err := ask(t, s.Addr(), "x.test", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("after restart: %v %v", m, err)
	}
	if n := s.Queries("x.test", dns.TypeA); n != 2 {
		t.Fatalf("%d queries logged for x.test A, want 2", n)
	}
}
