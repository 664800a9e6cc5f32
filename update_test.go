package libcluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
)

func TestUpdateConstructors(t *testing.T) {
	ns := []libcluster.Node{"a@127.0.0.1"}
	d := []libcluster.Dropped{{Candidate: "x", Reason: "bad"}}
	cases := []struct {
		u      libcluster.Update
		kind   libcluster.UpdateKind
		nodes  int
		err    bool
		expire time.Duration
	}{
		{libcluster.Complete(ns), libcluster.KindComplete, 1, false, 0},
		{libcluster.Seen(ns), libcluster.KindSeen, 1, false, 0},
		{libcluster.SeenExpiring(ns, time.Second), libcluster.KindSeen, 1, false, time.Second},
		{libcluster.SeenExpiring(ns, -time.Second), libcluster.KindSeen, 1, false, 0},
		{libcluster.Failed(errors.New("SERVFAIL")), libcluster.KindFailed, 0, true, 0},
		{libcluster.Failed(nil), libcluster.KindFailed, 0, true, 0},
		{libcluster.Update{}, 0, 0, false, 0},
	}
	for i, c := range cases {
		u := c.u.WithSource("src").WithDropped(d)
		if u.Kind() != c.kind || len(u.Nodes()) != c.nodes || (u.Err() != nil) != c.err || u.Expire() != c.expire {
			t.Errorf("%d: kind %v nodes %v err %v expire %v", i, u.Kind(), u.Nodes(), u.Err(), u.Expire())
		}
		if ex := u.Explain(); ex.Source != "src" || len(ex.Dropped) != 1 {
			t.Errorf("%d: explain %+v", i, ex)
		}
		if c.u.Explain().Source != "" {
			t.Errorf("%d: WithSource changed the original", i)
		}
	}
	if got := libcluster.KindComplete.String(); got != "complete" {
		t.Errorf("KindComplete.String() = %q", got)
	}
}
