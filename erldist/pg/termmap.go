package pg

import "github.com/libcluster-go/libcluster/erldist/etf"

// termMap maps Erlang terms, compared with etf.Equal, to values.
type termMap[V any] struct {
	m map[uint64][]termEntry[V]
	n int
}

type termEntry[V any] struct {
	key etf.Term
	val V
}

func (t *termMap[V]) get(k etf.Term) (V, bool) {
	for _, e := range t.m[etf.Hash(k)] {
		if etf.Equal(e.key, k) {
			return e.val, true
		}
	}
	var zero V
	return zero, false
}

func (t *termMap[V]) set(k etf.Term, v V) {
	if t.m == nil {
		t.m = map[uint64][]termEntry[V]{}
	}
	h := etf.Hash(k)
	b := t.m[h]
	for i := range b {
		if etf.Equal(b[i].key, k) {
			b[i].val = v
			return
		}
	}
	t.m[h] = append(b, termEntry[V]{k, v})
	t.n++
}

func (t *termMap[V]) del(k etf.Term) {
	h := etf.Hash(k)
	b := t.m[h]
	for i := range b {
		if etf.Equal(b[i].key, k) {
			b = append(b[:i], b[i+1:]...)
			if len(b) == 0 {
				delete(t.m, h)
			} else {
				t.m[h] = b
			}
			t.n--
			return
		}
	}
}

func (t *termMap[V]) each(f func(k etf.Term, v V)) {
	for _, b := range t.m {
		for _, e := range b {
			f(e.key, e.val)
		}
	}
}
