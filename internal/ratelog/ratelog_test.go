package ratelog

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := Limiter{Every: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, s := l.NoteAt(t0, "a"); !ok || s.Count != 1 || len(s.Sources) != 1 {
		t.Fatalf("first event: %v %+v", ok, s)
	}
	lines := 0
	for i := range 10000 {
		if ok, _ := l.NoteAt(t0.Add(time.Duration(i)*50*time.Microsecond), fmt.Sprint("src", i%20)); ok {
			lines++
		}
	}
	if lines != 0 {
		t.Errorf("%d lines within one interval", lines)
	}
	ok, s := l.NoteAt(t0.Add(time.Second), "b")
	if !ok || s.Count != 10001 || len(s.Sources) != maxSources || s.MoreSources == 0 {
		t.Errorf("summary after the interval: %v %+v", ok, s)
	}
	if ok, s := l.NoteAt(t0.Add(3*time.Second), ""); !ok || s.Count != 1 || len(s.Sources) != 0 {
		t.Errorf("after a quiet period: %v %+v", ok, s)
	}
}
