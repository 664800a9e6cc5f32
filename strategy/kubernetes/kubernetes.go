package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// coalesce is how long the watch loop gathers changes before it reports
// the new set: a burst of events (a rollout) becomes one report.
const coalesce = 25 * time.Millisecond

// watchListTimeout bounds one LIST made by the watch loop.
const watchListTimeout = time.Minute

// listPageSize is the limit of one page of a consistent LIST (client-go's
// reflector pages by 500 too).
const listPageSize = 500

// minWatchTimeout is the shortest timeoutSeconds of a watch; each one
// asks for a random value between it and twice it, as client-go's
// reflector does, so that watches of many nodes do not end together.
const minWatchTimeout = 5 * time.Minute

// Run discovers until ctx ends. With Poll false (watch: true) it lists
// once and watches, reporting the complete set after every change; with
// Poll true it lists every PollingInterval. Errors are reported as error
// updates (the topology keeps the last good set) and retried with back-off;
// Run returns an error only when the configuration cannot work at all.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	if err := s.Validate(); err != nil {
		return err
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	if s.cfg.Poll {
		p := strategy.Poller{
			Interval: s.interval(),
			Discover: func(ctx context.Context) (libcluster.Update, error) { return s.discover(ctx, c) },
			Source:   s.source(c, "LIST"),
		}
		return p.Run(ctx, r)
	}
	return s.watch(ctx, r, c)
}

// Discover runs one LIST and returns the nodes it yields, with every
// endpoint or pod left out and why. It implements strategy.Discoverer for
// the explain command.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	if err := s.Validate(); err != nil {
		return libcluster.Update{}, err
	}
	c, err := s.resolve()
	if err != nil {
		return libcluster.Update{}, err
	}
	return s.discover(ctx, c)
}

func (s *Strategy) source(c *conn, verb string) string {
	return fmt.Sprintf("Kubernetes %s %s in namespace %s with selector %q at %s (readiness: %s)",
		verb, s.resource(), c.namespace, s.cfg.Selector, c.host, s.readiness())
}

func (s *Strategy) discover(ctx context.Context, c *conn) (libcluster.Update, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	rv := ""
	if s.cfg.UseCachedResources {
		rv = "0"
	}
	objs, _, err := s.list(ctx, c, rv)
	if err != nil {
		return libcluster.Update{}, s.apiError(c, "list", err)
	}
	var cands []candidate
	for _, o := range objs {
		cands = append(cands, o.cands...)
	}
	nodes, dropped := s.build(cands)
	return libcluster.Seen(nodes).WithDropped(dropped).WithSource(s.source(c, "LIST")), nil
}

// listPage is the part of a List the strategy reads.
type listPage struct {
	Kind     string `json:"kind"`
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
		Continue        string `json:"continue"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// list reads the whole collection with the label selector, page by page
// when rv is "" (a consistent read), and returns
// its objects and resourceVersion. Errors the server sent are
// *StatusError; a malformed or oversized answer is a plain error.
func (s *Strategy) list(ctx context.Context, c *conn, rv string) ([]object, string, error) {
	var objs []object
	total := int64(0)
	cont := ""
	for {
		q := url.Values{"labelSelector": {s.cfg.Selector}}
		if rv != "" && cont == "" {
			q.Set("resourceVersion", rv)
		}
		if rv == "" {
			// Only a consistent read (from etcd) is paged. A LIST at a
			// resourceVersion is served, unpaged, from the watch cache
			// as "not older than" it; with a limit it would be an exact
			// read of that (old) version, as client-go's reflector avoids.
			q.Set("limit", strconv.Itoa(listPageSize))
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		resp, err := c.get(ctx, s.resource().path(c.namespace), q)
		if err != nil {
			return nil, "", err
		}
		lr := &io.LimitedReader{R: resp.Body, N: maxListBytes - total + 1}
		var page listPage
		err = json.NewDecoder(lr).Decode(&page)
		resp.Body.Close()
		total = maxListBytes + 1 - lr.N
		switch {
		case lr.N <= 0:
			return nil, "", fmt.Errorf("the %s list is larger than %d MiB; narrow kubernetes_selector", s.resource(), maxListBytes>>20)
		case err != nil:
			return nil, "", fmt.Errorf("reading the %s list: %v", s.resource(), err)
		case page.Metadata.ResourceVersion == "":
			return nil, "", fmt.Errorf("the %s list has no metadata.resourceVersion; is %s an API server?", s.resource(), c.host)
		}
		for _, raw := range page.Items {
			o, err := decodeObject(s.lookup(), raw)
			if err != nil {
				return nil, "", fmt.Errorf("reading the %s list: %v", s.resource(), err)
			}
			objs = append(objs, o)
		}
		if page.Metadata.Continue == "" {
			return objs, page.Metadata.ResourceVersion, nil
		}
		cont = page.Metadata.Continue
	}
}

func (s *Strategy) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.Default()
}

// setStore holds, for each object (namespace/name), the candidates it
// holds. Every change marks it dirty.
type setStore struct {
	mu     sync.Mutex
	objs   map[string][]candidate
	synced bool
	dirty  chan struct{}
}

func (st *setStore) mark() {
	select {
	case st.dirty <- struct{}{}:
	default:
	}
}

func (st *setStore) put(o object) {
	st.mu.Lock()
	st.objs[o.key] = o.cands
	st.mu.Unlock()
	st.mark()
}

func (st *setStore) remove(key string) {
	st.mu.Lock()
	delete(st.objs, key)
	st.mu.Unlock()
	st.mark()
}

// replace takes a full LIST.
func (st *setStore) replace(list []object) {
	objs := make(map[string][]candidate, len(list))
	for _, o := range list {
		objs[o.key] = o.cands
	}
	st.mu.Lock()
	st.objs, st.synced = objs, true
	st.mu.Unlock()
	st.mark()
}

func (st *setStore) snapshot() ([]candidate, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	keys := make([]string, 0, len(st.objs))
	for k := range st.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []candidate
	for _, k := range keys {
		out = append(out, st.objs[k]...)
	}
	return out, st.synced
}

// reflector keeps a setStore in step with the API server: LIST, then
// WATCH from the list's resourceVersion with bookmarks; a new WATCH from
// the latest resourceVersion when one ends; a new LIST after 410 Gone or
// a failed watch; back-off on errors. It is what client-go's Reflector
// does for this one use.
type reflector struct {
	s         *Strategy
	c         *conn
	st        *setStore
	errs      chan error    // latest request error
	recovered chan struct{} // a watch started after an error
	bo        backoff
}

func (r *reflector) run(ctx context.Context) {
	rv := ""
	unavailable := false // rv is too old to list from: list the latest
	for ctx.Err() == nil {
		listRV := rv
		switch {
		case unavailable:
			listRV = ""
		case rv == "":
			listRV = "0" // the first LIST may come from the watch cache
		}
		lctx, cancel := context.WithTimeout(ctx, watchListTimeout)
		objs, newRV, err := r.s.list(lctx, r.c, listRV)
		cancel()
		if err != nil {
			unavailable = isGone(err)
			r.fail(ctx, "list", err)
			r.bo.wait(ctx)
			continue
		}
		unavailable = false
		r.st.replace(objs)
		rv = newRV
		for ctx.Err() == nil {
			started := time.Now()
			events, err := r.watchOnce(ctx, &rv)
			if err == nil {
				if events == 0 && time.Since(started) < time.Second {
					r.bo.wait(ctx) // closed at once: do not spin
				}
				continue // the watch ended: watch again from rv
			}
			if isGone(err) {
				break // relist
			}
			r.bo.wait(ctx)
			if errors.Is(err, syscall.ECONNREFUSED) || statusCode(err) == 429 {
				continue // the server is restarting or busy: watch again
			}
			break
		}
	}
}

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchOnce runs one WATCH from *rv until the server ends it, the stream
// breaks or ctx ends (nil), or it fails; *rv follows the events and
// bookmarks. It returns the number of events read.
func (r *reflector) watchOnce(ctx context.Context, rv *string) (int, error) {
	timeout := minWatchTimeout + rand.N(minWatchTimeout)
	q := url.Values{
		"watch":               {"true"},
		"labelSelector":       {r.s.cfg.Selector},
		"resourceVersion":     {*rv},
		"allowWatchBookmarks": {"true"},
		"timeoutSeconds":      {strconv.Itoa(int(timeout.Seconds()))},
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	resp, err := r.c.get(wctx, r.s.resource().path(r.c.namespace), q)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(ctx, "watch", err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	select {
	case r.recovered <- struct{}{}:
	default:
	}
	lr := &io.LimitedReader{R: bufio.NewReader(resp.Body)}
	dec := json.NewDecoder(lr)
	for n := 0; ; n++ {
		lr.N = maxEventBytes
		var ev watchEvent
		if err := dec.Decode(&ev); err != nil {
			if lr.N <= 0 && ctx.Err() == nil {
				return n, fmt.Errorf("a %s watch event is larger than %d MiB", r.s.resource(), maxEventBytes>>20)
			}
			// Closed by the server at timeoutSeconds, or broken (a
			// restart): watch again from *rv.
			return n, nil
		}
		switch ev.Type {
		case "ADDED", "MODIFIED", "DELETED":
			o, err := decodeObject(r.s.lookup(), ev.Object)
			if err != nil {
				return n, fmt.Errorf("reading a %s watch event: %v", r.s.resource(), err)
			}
			if ev.Type == "DELETED" {
				r.st.remove(o.key)
			} else {
				r.st.put(o)
			}
			if o.rv != "" {
				*rv = o.rv
			}
		case "BOOKMARK":
			var b struct {
				Metadata objectMeta `json:"metadata"`
			}
			if json.Unmarshal(ev.Object, &b) == nil && b.Metadata.ResourceVersion != "" {
				*rv = b.Metadata.ResourceVersion
			}
		case "ERROR":
			var st status
			_ = json.Unmarshal(ev.Object, &st)
			return n, &StatusError{Code: st.Code, Reason: st.Reason, Message: st.Message}
		default:
			return n, fmt.Errorf("a %s watch event of unknown type %q", r.s.resource(), ev.Type)
		}
	}
}

func (r *reflector) fail(ctx context.Context, verb string, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // shutting down
	}
	e := r.s.apiError(r.c, verb, err)
	for {
		select {
		case r.errs <- e:
			return
		default:
		}
		select { // replace a stale error with the latest
		case <-r.errs:
		default:
		}
	}
}

// backoff is client-go's reflector back-off: 800 ms doubling to 30 s,
// with up to 100 % jitter, starting over after 2 min without a failure.
type backoff struct {
	next time.Duration
	last time.Time
}

func (b *backoff) wait(ctx context.Context) {
	if b.next == 0 || time.Since(b.last) > 2*time.Minute {
		b.next = 800 * time.Millisecond
	}
	d := b.next + rand.N(b.next)
	b.next = min(2*b.next, 30*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.last = time.Now()
}

// watch runs the reflector into a setStore and reports the complete set
// after changes.
func (s *Strategy) watch(ctx context.Context, r libcluster.Reporter, c *conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &setStore{objs: map[string][]candidate{}, dirty: make(chan struct{}, 1)}
	refl := &reflector{s: s, c: c, st: st, errs: make(chan error, 1), recovered: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Go(func() { refl.run(ctx) })
	defer wg.Wait()
	defer cancel()

	src := s.source(c, "LIST+WATCH")
	var last []libcluster.Node
	reported, failing := false, false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	arm := func() {
		if !armed {
			armed = true
			timer.Reset(coalesce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-st.dirty:
			arm()
		case <-refl.recovered:
			if failing {
				s.logger().Info("kubernetes: watching again", "resource", s.resource().String(), "namespace", c.namespace)
				arm()
			}
		case err := <-refl.errs:
			failing = true
			r.Report(libcluster.Failed(err).WithSource(src))
		case <-timer.C:
			armed = false
			cands, synced := st.snapshot()
			if !synced {
				continue
			}
			nodes, dropped := s.build(cands)
			slices.Sort(nodes)
			if reported && !failing && slices.Equal(nodes, last) {
				continue
			}
			last, reported, failing = nodes, true, false
			r.Report(libcluster.Complete(nodes).WithDropped(dropped).WithSource(src))
		}
	}
}
