package kubernetes

//lint:file-ignore SA1019 the endpoints lookup mode reads the deprecated core v1 Endpoints on purpose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// coalesce is how long the watch loop gathers changes before it reports
// the new set: a burst of events (a rollout) becomes one report.
const coalesce = 25 * time.Millisecond

// watchListTimeout bounds one LIST made by the watch loop.
const watchListTimeout = time.Minute

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
	if s.Poll {
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
		verb, s.resource(), c.namespace, s.Selector, c.host, s.readiness())
}

func (s *Strategy) discover(ctx context.Context, c *conn) (libcluster.Update, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	opts := metav1.ListOptions{LabelSelector: s.Selector}
	if s.UseCachedResources {
		opts.ResourceVersion = "0"
	}
	list, err := s.list(ctx, c, opts)
	if err != nil {
		return libcluster.Update{}, s.apiError(c, "list", err)
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("kubernetes: reading the %s list: %v", s.resource(), err)
	}
	var cands []candidate
	for _, o := range objs {
		cands = append(cands, candidatesOf(o)...)
	}
	nodes, dropped := s.build(cands)
	return libcluster.Seen(nodes).WithDropped(dropped).WithSource(s.source(c, "LIST")), nil
}

func (s *Strategy) list(ctx context.Context, c *conn, opts metav1.ListOptions) (runtime.Object, error) {
	ns := c.namespace
	switch s.lookup() {
	case LookupEndpoints:
		return c.client.CoreV1().Endpoints(ns).List(ctx, opts)
	case LookupPods:
		return c.client.CoreV1().Pods(ns).List(ctx, opts)
	}
	return c.client.DiscoveryV1().EndpointSlices(ns).List(ctx, opts)
}

func (s *Strategy) watchObjects(ctx context.Context, c *conn, opts metav1.ListOptions) (watch.Interface, error) {
	ns := c.namespace
	switch s.lookup() {
	case LookupEndpoints:
		return c.client.CoreV1().Endpoints(ns).Watch(ctx, opts)
	case LookupPods:
		return c.client.CoreV1().Pods(ns).Watch(ctx, opts)
	}
	return c.client.DiscoveryV1().EndpointSlices(ns).Watch(ctx, opts)
}

func (s *Strategy) objectType() runtime.Object {
	switch s.lookup() {
	case LookupEndpoints:
		return &corev1.Endpoints{}
	case LookupPods:
		return &corev1.Pod{}
	}
	return &discoveryv1.EndpointSlice{}
}

func (s *Strategy) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// lw is the ListerWatcher the reflector drives. It adds the label
// selector, bounds LISTs and passes request errors and recoveries to the
// watch loop. It opts out of streaming lists, so the reflector makes one
// plain LIST and then WATCHes, which every API server version serves.
type lw struct {
	s         *Strategy
	c         *conn
	errs      chan error    // latest request error
	recovered chan struct{} // a watch started after an error
}

func (l *lw) IsWatchListSemanticsUnSupported() bool { return true }

func (l *lw) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	opts.LabelSelector = l.s.Selector
	ctx, cancel := context.WithTimeout(ctx, watchListTimeout)
	defer cancel()
	obj, err := l.s.list(ctx, l.c, opts)
	if err != nil {
		l.fail(ctx, "list", err)
	}
	return obj, err
}

func (l *lw) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.LabelSelector = l.s.Selector
	w, err := l.s.watchObjects(ctx, l.c, opts)
	if err != nil {
		l.fail(ctx, "watch", err)
		return nil, err
	}
	select {
	case l.recovered <- struct{}{}:
	default:
	}
	return w, nil
}

// List and Watch satisfy cache.ListerWatcher; the reflector calls the
// context versions.
func (l *lw) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

// Watch is the context-free form of WatchWithContext.
func (l *lw) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

func (l *lw) fail(ctx context.Context, verb string, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // shutting down
	}
	e := l.s.apiError(l.c, verb, err)
	for {
		select {
		case l.errs <- e:
			return
		default:
		}
		select { // replace a stale error with the latest
		case <-l.errs:
		default:
		}
	}
}

// setStore is the reflector's store: for each object (namespace/name) the
// candidates it holds. Every change marks it dirty.
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

func key(obj any) (string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", err
	}
	return m.GetNamespace() + "/" + m.GetName(), nil
}

// Add stores obj's candidates.
func (st *setStore) Add(obj any) error {
	k, err := key(obj)
	if err != nil {
		return err
	}
	st.mu.Lock()
	st.objs[k] = candidatesOf(obj)
	st.mu.Unlock()
	st.mark()
	return nil
}

// Update is Add.
func (st *setStore) Update(obj any) error { return st.Add(obj) }

// Delete forgets obj.
func (st *setStore) Delete(obj any) error {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	k, err := key(obj)
	if err != nil {
		return err
	}
	st.mu.Lock()
	delete(st.objs, k)
	st.mu.Unlock()
	st.mark()
	return nil
}

// Replace takes a full LIST.
func (st *setStore) Replace(list []any, _ string) error {
	objs := make(map[string][]candidate, len(list))
	for _, o := range list {
		k, err := key(o)
		if err != nil {
			return err
		}
		objs[k] = candidatesOf(o)
	}
	st.mu.Lock()
	st.objs, st.synced = objs, true
	st.mu.Unlock()
	st.mark()
	return nil
}

// Resync does nothing; the reflector is built without a resync period.
func (st *setStore) Resync() error { return nil }

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

// watch runs a client-go Reflector (LIST, then WATCH from the list's
// resourceVersion with bookmarks; a new LIST after 410 Gone; back-off on
// errors) into a setStore, and reports the complete set after changes.
func (s *Strategy) watch(ctx context.Context, r libcluster.Reporter, c *conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &setStore{objs: map[string][]candidate{}, dirty: make(chan struct{}, 1)}
	l := &lw{s: s, c: c, errs: make(chan error, 1), recovered: make(chan struct{}, 1)}
	quiet := logr.Discard()
	refl := cache.NewReflectorWithOptions(l, s.objectType(), st, cache.ReflectorOptions{
		Name:   "libcluster " + s.resource().String(),
		Logger: &quiet,
	})
	// client-go reports through klog; the errors reach the topology as
	// error updates instead, so its own logging is silenced here.
	rctx := klog.NewContext(ctx, quiet)
	var wg wait.Group
	wg.StartWithContext(rctx, refl.RunWithContext)
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
		case <-l.recovered:
			if failing {
				s.logger().Info("kubernetes: watching again", "resource", s.resource().String(), "namespace", c.namespace)
				arm()
			}
		case err := <-l.errs:
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
