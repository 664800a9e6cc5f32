package strategy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestParamsTypesAndDefaults(t *testing.T) {
	p := strategy.NewParams(map[string]any{
		"query": "app.local", "polling_interval": 2500, "timeout": "1m", "t2": "infinity",
		"mode": ":ip", "hosts": []any{"a@b", "c@d"}, "flag": true, "ttl": 2.0,
	})
	if got := p.RequiredString("query", "x"); got != "app.local" {
		t.Errorf("query = %q", got)
	}
	if got := p.Duration("polling_interval", 0); got != 2500*time.Millisecond {
		t.Errorf("integer ms = %v", got)
	}
	if got := p.Duration("timeout", 0); got != time.Minute {
		t.Errorf("Go duration = %v", got)
	}
	if got := p.Duration("t2", time.Second); got != 0 {
		t.Errorf("infinity = %v", got)
	}
	if got := p.Duration("unset", 7*time.Second); got != 7*time.Second {
		t.Errorf("default = %v", got)
	}
	if got := p.Enum("mode", "dns", "ip", "dns", "hostname"); got != "ip" {
		t.Errorf("atom-form enum = %q", got)
	}
	if got := p.StringList("hosts"); len(got) != 2 || got[1] != "c@d" {
		t.Errorf("list = %v", got)
	}
	if !p.Bool("flag", false) || p.IntRange("ttl", 1, 1, 255) != 2 {
		t.Error("bool/int wrong")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
}

func TestParamsErrorsNameTheKey(t *testing.T) {
	p := strategy.NewParams(map[string]any{
		"polling_intreval": 5000, "node_basename": "", "polling_interval": "5 seconds", "mode": "fast",
	})
	p.RequiredString("query", "app.svc")
	p.RequiredString("node_basename", "app")
	p.Duration("polling_interval", time.Second)
	p.Enum("mode", "ip", "ip", "dns")
	err := p.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`"query": required`,
		`"node_basename": want a non-empty string`,
		`"polling_interval": invalid duration "5 seconds"`,
		`"mode": want one of ip, dns`,
		`"polling_intreval": unknown key; did you mean "polling_interval"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	var pe *strategy.ParamError
	if !errors.As(err, &pe) {
		t.Error("errors are not ParamErrors")
	}
}

func TestParamsAlias(t *testing.T) {
	p := strategy.NewParams(map[string]any{"poll_interval": 100})
	p.Alias("poll_interval", "polling_interval")
	if d := p.Duration("polling_interval", time.Second); d != 100*time.Millisecond {
		t.Fatalf("alias value = %v", d)
	}
	if p.Err() != nil || len(p.Warnings()) != 1 || !strings.Contains(p.Warnings()[0], "deprecated") {
		t.Fatalf("err %v warnings %v", p.Err(), p.Warnings())
	}
	both := strategy.NewParams(map[string]any{"poll_interval": 1, "polling_interval": 2})
	both.Alias("poll_interval", "polling_interval")
	both.Duration("polling_interval", 0)
	if both.Err() == nil {
		t.Fatal("both spellings accepted")
	}
}

type recorder struct {
	mu sync.Mutex
	us []libcluster.Update
}

func (r *recorder) Report(u libcluster.Update) { r.mu.Lock(); r.us = append(r.us, u); r.mu.Unlock() }
func (r *recorder) len() int                   { r.mu.Lock(); defer r.mu.Unlock(); return len(r.us) }

func TestPollerFirstPollAtOnceErrorsReported(t *testing.T) {
	calls := 0
	p := &strategy.Poller{
		Interval: time.Hour, // only the first poll can happen in this test
		Source:   "test source",
		Discover: func(context.Context) (libcluster.Update, error) {
			calls++
			return libcluster.Seen([]libcluster.Node{"a@b"}), nil
		},
	}
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx, r) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls != 1 || r.us[0].Kind() != libcluster.KindComplete || r.us[0].Explain().Source != "test source" {
		t.Fatalf("calls %d, updates %+v", calls, r.us)
	}

	failing := &strategy.Poller{Interval: time.Millisecond, Source: "dns",
		Discover: func(context.Context) (libcluster.Update, error) { return libcluster.Update{}, errors.New("SERVFAIL") }}
	r = &recorder{}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- failing.Run(ctx, r) }()
	for r.len() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.us {
		if u.Err() == nil || u.Kind() == libcluster.KindComplete || u.Explain().Source != "dns" {
			t.Fatalf("error poll reported %+v", u)
		}
	}
}

func TestNodesFromNamesDropsInvalid(t *testing.T) {
	ns, dropped := strategy.NodesFromNames([]string{"a@b", "bad", "a@b", "c@d"})
	if len(ns) != 2 || len(dropped) != 1 || dropped[0].Candidate != "bad" {
		t.Fatalf("nodes %v dropped %v", ns, dropped)
	}
}
