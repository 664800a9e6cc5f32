package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestFromParamsLibclusterPostgresKeys(t *testing.T) {
	c, err := ConfigFromParams(strategy.NewParams(map[string]any{
		"hostname": "db.internal", "port": 6432, "username": "app", "password": "pw",
		"database": "appdb", "channel_name": "cluster", "heartbeat_interval": 2000,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Hostname: "db.internal", Port: 6432, Username: "app", Password: "pw", Database: "appdb",
		Channel: "cluster", HeartbeatInterval: 2 * time.Second}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	s, err := New(c, strategy.Options{Self: "app@10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.pg.Host != "db.internal" || s.pg.Port != 6432 || s.pg.User != "app" || s.pg.Password != "pw" || s.pg.Database != "appdb" {
		t.Errorf("connection config %s:%d user %s db %s", s.pg.Host, s.pg.Port, s.pg.User, s.pg.Database)
	}
	if got := s.Config(); got.Misses != DefaultMisses || got.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("defaults not filled in: %+v", got)
	}
}

func TestEnvironmentAndURL(t *testing.T) {
	t.Setenv("PGHOST", "envhost")
	t.Setenv("PGPORT", "5499")
	t.Setenv("PGUSER", "envuser")
	t.Setenv("PGDATABASE", "envdb")
	s, err := New(Config{}, strategy.Options{Self: "app@10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.pg.Host != "envhost" || s.pg.Port != 5499 || s.pg.User != "envuser" || s.pg.Database != "envdb" {
		t.Errorf("PG* variables not used: %s:%d %s %s", s.pg.Host, s.pg.Port, s.pg.User, s.pg.Database)
	}
	s, err = New(Config{URL: "postgres://u@urlhost:5433/urldb", Database: "override"}, strategy.Options{Self: "app@10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.pg.Host != "urlhost" || s.pg.Port != 5433 || s.pg.Database != "override" {
		t.Errorf("URL or override not used: %s:%d %s", s.pg.Host, s.pg.Port, s.pg.Database)
	}
}

func TestValidateNamesEachKey(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"url": "postgres://u:secret@h:notaport/db"}, `"url": not a PostgreSQL connection string`},
		{map[string]any{"port": 70000}, `"port": want a TCP port from 1 to 65535`},
		{map[string]any{"channel_name": "My-Channel"}, `"channel_name": want a lowercase SQL identifier`},
		{map[string]any{"channel_name": strings.Repeat("a", 64)}, `"channel_name"`},
		{map[string]any{"heartbeat_interval": "1ms"}, `"heartbeat_interval": want a duration of at least 10ms`},
		{map[string]any{"heartbeat_interval": "infinity"}, `"heartbeat_interval": infinity sends no heartbeat`},
		{map[string]any{"misses": -1}, `"misses": want an integer from 1 to 100`},
		{map[string]any{"name": "nohost"}, `"name"`},
		{map[string]any{"hostnme": "x"}, `"hostnme"`},
	} {
		_, err := ConfigFromParams(strategy.NewParams(tc.params))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %s", tc.params, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestPeersWindowAndPayloads(t *testing.T) {
	p := newPeers(3 * time.Second)
	t0 := time.Unix(1000, 0)
	if !p.heard("app@10.0.0.2", "app@10.0.0.1", t0) {
		t.Fatal("a new peer is not new")
	}
	if p.heard("app@10.0.0.2", "app@10.0.0.1", t0.Add(time.Second)) {
		t.Fatal("a known peer counted as new")
	}
	if p.heard("app@10.0.0.1", "app@10.0.0.1", t0) {
		t.Fatal("own heartbeat counted")
	}
	if p.heard("'; DROP TABLE x; --", "app@10.0.0.1", t0) || p.heard(strings.Repeat("x", 9000), "app@10.0.0.1", t0) {
		t.Fatal("a bad payload counted")
	}
	if d := p.dropped(); len(d) != 2 || len(d[1].Candidate) > 70 {
		t.Fatalf("dropped %+v", d)
	}
	if got := p.alive(t0.Add(4 * time.Second)); len(got) != 1 || got[0] != libcluster.Node("app@10.0.0.2") {
		t.Fatalf("alive within the window: %v", got)
	}
	if got := p.alive(t0.Add(5 * time.Second)); len(got) != 0 {
		t.Fatalf("still alive after the window: %v", got)
	}
	if !p.heard("app@10.0.0.2", "app@10.0.0.1", t0.Add(6*time.Second)) {
		t.Fatal("a peer back after the window is not new again")
	}
}
