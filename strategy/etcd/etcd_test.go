package etcd

import (
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestFromParamsDefaultsAndKeys(t *testing.T) {
	c, err := FromParams(strategy.NewParams(map[string]any{
		"endpoints": []any{"10.0.0.1:2379", "https://10.0.0.2:2379"},
		"ttl":       "4s", "username": "app", "password": "pw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Endpoints: "10.0.0.1:2379,https://10.0.0.2:2379", TTL: 4 * time.Second, Username: "app", Password: "pw"}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	s, err := New(c, Options{Self: "app@10.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.endpoints, " "); got != "http://10.0.0.1:2379 https://10.0.0.2:2379" {
		t.Errorf("endpoints %q", got)
	}
	if d := s.Config(); d.Prefix != DefaultPrefix || d.DialTimeout != DefaultDialTimeout || d.CommandTimeout != DefaultCommandTimeout {
		t.Errorf("defaults not filled in: %+v", d)
	}
	if s.name != "app@10.0.0.9" {
		t.Errorf("announced name %q", s.name)
	}
}

func TestValidateNamesEachKey(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"endpoints": "ftp://x:1"}, `"endpoints": want client URLs`},
		{map[string]any{"endpoints": []any{}}, `"endpoints": no endpoint`},
		{map[string]any{"prefix": "nodes/"}, `"prefix": want a key prefix starting with '/'`},
		{map[string]any{"ttl": "1s"}, `"ttl": want whole seconds of at least 2s`},
		{map[string]any{"ttl": "2500ms"}, `"ttl": want whole seconds`},
		{map[string]any{"ttl": "infinity"}, `"ttl": infinity is not a lease`},
		{map[string]any{"user": "app"}, `"user": set user and password together`},
		{map[string]any{"cert": "c.pem"}, `"cert": set cert and key together`},
		{map[string]any{"name": "no-at-sign"}, `"name"`},
		{map[string]any{"endpoint": "x"}, `"endpoint"`},
	} {
		_, err := FromParams(strategy.NewParams(tc.params))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %s", tc.params, err, tc.want)
		}
	}
}

func TestNodeSetChecksValues(t *testing.T) {
	s := newNodeSet("/p/")
	s.put([]byte("/p/a"), []byte("app@10.0.0.1"))
	s.put([]byte("/p/b"), []byte("not a node"))
	s.put([]byte("/p/c"), []byte(strings.Repeat("x", 300)))
	s.put([]byte("/p/d"), []byte("app@10.0.0.1")) // same node twice: once
	u := s.update("src")
	if len(u.Nodes()) != 1 || u.Nodes()[0] != "app@10.0.0.1" || u.Kind() != libcluster.KindComplete {
		t.Fatalf("nodes %v complete %v", u.Nodes(), u.Kind() == libcluster.KindComplete)
	}
	if len(u.Explain().Dropped) != 2 || u.Explain().Dropped[0].Candidate != "/p/b" || !strings.Contains(u.Explain().Dropped[1].Reason, "300 bytes") {
		t.Fatalf("dropped %+v", u.Explain().Dropped)
	}
	s.delete([]byte("/p/a"))
	s.delete([]byte("/p/d"))
	if u := s.update("src"); len(u.Nodes()) != 0 {
		t.Fatalf("after delete: %v", u.Nodes())
	}
}
