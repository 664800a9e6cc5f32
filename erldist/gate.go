package erldist

import "time"

// Wrong-cookie back-off: a source address that fails the cookie check
// freeFailures times within failMemory is refused at accept for a time that
// doubles with every further failure, from firstBackoff up to maxBackoff.
// A successful handshake from the address forgets its failures.
const (
	freeFailures = 3
	failMemory   = time.Minute
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
	maxTracked   = 10000 // source addresses remembered at most
)

// handshakeGate decides, before a byte is read, whether an incoming
// connection may start a handshake: it caps handshakes in progress in
// total and per source address, and backs off sources that keep failing
// the cookie check. It is guarded by Node.mu.
type handshakeGate struct {
	max, perHost int
	active       int
	byHost       map[string]int
	fails        map[string]*failures
}

type failures struct {
	n     int
	last  time.Time
	until time.Time
}

func newHandshakeGate(max, perHost int) handshakeGate {
	return handshakeGate{max: max, perHost: perHost, byHost: map[string]int{}, fails: map[string]*failures{}}
}

// admit returns "" and counts the handshake as started, or the reason to
// refuse it. evict means the handshakes in progress are at the global cap:
// the caller must close the one that has waited longest (a real peer
// finishes in milliseconds), so that idle connections from many addresses
// cannot lock every peer out until their handshake timeout.
func (g *handshakeGate) admit(host string, now time.Time) (reason string, evict bool) {
	if f := g.fails[host]; f != nil && now.Before(f.until) {
		return "wrong_cookie_backoff", false
	}
	if g.byHost[host] >= g.perHost {
		return "too_many_handshakes_from_host", false
	}
	evict = g.active >= g.max
	g.active++
	g.byHost[host]++
	return "", evict
}

// done ends a handshake admitted for host: ok when it succeeded, badCookie
// when the peer failed the cookie check.
func (g *handshakeGate) done(host string, now time.Time, ok, badCookie bool) {
	g.active--
	if g.byHost[host]--; g.byHost[host] <= 0 {
		delete(g.byHost, host)
	}
	if ok {
		delete(g.fails, host)
		return
	}
	if !badCookie {
		return
	}
	f := g.fails[host]
	if f == nil {
		if len(g.fails) >= maxTracked {
			g.prune(now)
			if len(g.fails) >= maxTracked {
				return
			}
		}
		f = &failures{}
		g.fails[host] = f
	}
	if now.Sub(f.last) > failMemory {
		f.n = 0
	}
	f.n++
	f.last = now
	if f.n >= freeFailures {
		f.until = now.Add(min(firstBackoff<<min(f.n-freeFailures, 20), maxBackoff))
	}
}

// prune forgets sources whose failures are old.
func (g *handshakeGate) prune(now time.Time) {
	for h, f := range g.fails {
		if now.Sub(f.last) > failMemory && now.After(f.until) {
			delete(g.fails, h)
		}
	}
}
