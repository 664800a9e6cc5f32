package static_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/static"
)

func TestRegisteredUnderLibclusterNames(t *testing.T) {
	for _, name := range []string{"epmd", "Cluster.Strategy.Epmd", "Elixir.Cluster.Strategy.Epmd"} {
		if _, ok := strategy.Lookup(name); !ok {
			t.Errorf("%q not registered", name)
		}
	}
}

func TestInvalidHostIsAStartupError(t *testing.T) {
	_, err := static.ConfigFromParams(strategy.NewParams(map[string]any{"hosts": []any{"a@127.0.0.1", "not a node"}}))
	if err == nil || !strings.Contains(err.Error(), `"hosts": item 2: invalid node name "not a node"`) {
		t.Fatalf("err = %v", err)
	}
}

type rec struct {
	mu sync.Mutex
	us []libcluster.Update
}

func (r *rec) Report(u libcluster.Update) { r.mu.Lock(); r.us = append(r.us, u); r.mu.Unlock() }
func (r *rec) n() int                     { r.mu.Lock(); defer r.mu.Unlock(); return len(r.us) }

func TestReportsHostsAndRepeatsEveryTimeout(t *testing.T) {
	s, err := static.New(static.Config{Hosts: []libcluster.Node{"a@127.0.0.1"}, Timeout: 20 * time.Millisecond}, strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rec{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, r) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.n() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.us) < 3 || r.us[0].Kind() == libcluster.KindComplete || len(r.us[0].Nodes()) != 1 || r.us[0].Nodes()[0] != "a@127.0.0.1" {
		t.Fatalf("updates = %+v", r.us)
	}
}

func TestNoHostsFinishesAtOnce(t *testing.T) {
	s, err := static.New(static.DefaultConfig(), strategy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &rec{}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromParamsMatchesStructLiteral(t *testing.T) {
	got, err := static.ConfigFromParams(strategy.NewParams(map[string]any{"hosts": []any{"a@127.0.0.1"}, "timeout": 20}))
	if err != nil {
		t.Fatal(err)
	}
	want := static.Config{Hosts: []libcluster.Node{"a@127.0.0.1"}, Timeout: 20 * time.Millisecond}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ConfigFromParams = %+v, want %+v", got, want)
	}
	if _, err := static.New(static.Config{Hosts: []libcluster.Node{"nope"}}, strategy.Options{}); err == nil || !strings.Contains(err.Error(), `"hosts": item 1`) {
		t.Fatalf("New with an invalid host: err = %v", err)
	}
}
