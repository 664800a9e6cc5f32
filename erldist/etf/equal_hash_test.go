package etf

import "testing"

func TestHashConsistentWithEqual(t *testing.T) {
	pairs := [][2]Term{
		{int(5), int64(5)},
		{String("ab"), List{97, 98}},
		{Map{{Atom("a"), 1}, {Atom("b"), 2}}, Map{{Atom("b"), 2}, {Atom("a"), 1}}},
		{Tuple{Atom("g"), nil}, Tuple{Atom("g"), List{}}},
		{true, Atom("true")},
	}
	for _, p := range pairs {
		if !Equal(p[0], p[1]) {
			t.Fatalf("%v and %v are not Equal", p[0], p[1])
		}
		if Hash(p[0]) != Hash(p[1]) {
			t.Errorf("Equal terms %v and %v hash differently", p[0], p[1])
		}
	}
	if Hash(Atom("a")) == Hash(Atom("b")) || Hash(1) == Hash(1.0) {
		t.Error("different terms hash alike")
	}
}
