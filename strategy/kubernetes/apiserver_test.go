package kubernetes

//lint:file-ignore SA1019 the endpoints lookup mode reads the deprecated core v1 Endpoints on purpose

import (
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/kubetest"
)

func sortedJoin(ns []libcluster.Node) string {
	ns = slices.Clone(ns)
	slices.Sort(ns)
	return join(ns)
}

func (c *cluster) createPod(t *testing.T, ns, name, ip string, readyCond bool, finalizers ...string) {
	t.Helper()
	ctx := ctxT(t)
	api := c.Client().CoreV1().Pods(ns)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "demo"}, Finalizers: finalizers},
		Spec: corev1.PodSpec{
			Hostname:   name,
			Subdomain:  "demo",
			Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}},
		},
	}
	p, err := api.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	st := corev1.ConditionFalse
	if readyCond {
		st = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}},
	}
	if _, err := api.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set status of pod %s: %v", name, err)
	}
}

// TestLookupModesAndNames reads the same three members through each lookup
// mode and builds each name form, with the in-cluster configuration (a
// service-account directory as the kubelet mounts it).
func TestLookupModesAndNames(t *testing.T) {
	const ns = "names"
	c := newCluster(t, ns)
	ctx := ctxT(t)
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules...)
	sa := c.serviceAccountDir(t, ns, "app")

	c.putSlice(t, ns, "demo-x1",
		ready(ns, "10.1.0.1", "app-0"), ready(ns, "10.1.0.2", "app-1"),
		endpoint(ns, "10.1.0.3", "app-2", false, false, false))
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns, Labels: map[string]string{"app": "demo"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{
				{IP: "10.1.0.1", Hostname: "app-0", TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "app-0"}},
				{IP: "10.1.0.2", Hostname: "app-1", TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "app-1"}},
			},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.1.0.3", Hostname: "app-2"}},
			Ports:             []corev1.EndpointPort{{Name: "epmd", Port: 4369}},
		}},
	}
	if _, err := c.Client().CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.createPod(t, ns, "app-0", "10.1.0.1", true)
	c.createPod(t, ns, "app-1", "10.1.0.2", true)
	c.createPod(t, ns, "app-2", "10.1.0.3", false)

	want := map[string]string{
		ModeIP:       "app@10.1.0.1 app@10.1.0.2",
		ModeDNS:      "app@10-1-0-1.names.pod.cluster.local app@10-1-0-2.names.pod.cluster.local",
		ModeHostname: "app@app-0.demo.names.svc.cluster.local app@app-1.demo.names.svc.cluster.local",
	}
	for _, lookup := range []string{LookupEndpointSlices, LookupEndpoints, LookupPods} {
		for _, mode := range []string{ModeIP, ModeDNS, ModeHostname} {
			s, err := fromParams(params(map[string]any{
				"kubernetes_node_basename":        "app",
				"kubernetes_selector":             "app=demo",
				"kubernetes_ip_lookup_mode":       ":" + lookup,
				"mode":                            ":" + mode,
				"kubernetes_service_name":         "demo",
				"kubernetes_master":               c.Host(),
				"kubernetes_service_account_path": sa,
			}))
			if err != nil {
				t.Fatal(err)
			}
			u, err := s.Discover(ctx)
			if err != nil {
				t.Fatalf("%s/%s: %v", lookup, mode, err)
			}
			if got := sortedJoin(u.Nodes()); got != want[mode] {
				t.Errorf("%s/%s: %s, want %s", lookup, mode, got, want[mode])
			}
			if len(u.Explain().Dropped) != 1 || !strings.Contains(u.Explain().Dropped[0].Candidate, "10.1.0.3") || !strings.Contains(u.Explain().Dropped[0].Reason, "not ready") {
				t.Errorf("%s/%s: dropped %+v, want only 10.1.0.3 as not ready", lookup, mode, u.Explain().Dropped)
			}
			if !strings.Contains(u.Explain().Source, "namespace names") {
				t.Errorf("source %q does not name the namespace", u.Explain().Source)
			}
		}
	}

	// The same through a kubeconfig file, with readiness all (the
	// not-ready member is kept) and the cached-list flag.
	kc := c.Kubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), c.Token(kubetest.AdminUser))
	s, err := fromParams(params(map[string]any{
		"kubernetes_node_basename": "app", "kubernetes_selector": "kubernetes.io/service-name=demo",
		"kubernetes_namespace": ns, "kubeconfig": kc, "readiness": "all", "kubernetes_use_cached_resources": true,
		"kubernetes_service_account_path": t.TempDir(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedJoin(u.Nodes()); got != "app@10.1.0.1 app@10.1.0.2 app@10.1.0.3" {
		t.Errorf("kubeconfig, readiness all: %s", got)
	}
}

// TestWatchFollowsChanges: with watch, adding and removing endpoints
// changes the desired set within a second; terminating and not-ready
// endpoints and pods follow the readiness policy.
func TestWatchFollowsChanges(t *testing.T) {
	const ns = "watch"
	c := newCluster(t, ns)
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules...)
	sa := c.serviceAccountDir(t, ns, "app")
	base := map[string]any{
		"kubernetes_node_basename": "app", "kubernetes_selector": "app=demo",
		"kubernetes_master": c.Host(), "kubernetes_service_account_path": sa,
	}
	newS := func(extra map[string]any) *Strategy {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		s, err := fromParams(params(m))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	c.putSlice(t, ns, "demo-a", ready(ns, "10.2.0.1", "app-0"))
	r := startTopology(t, newS(nil))
	r.waitDesired(t, "app@10.2.0.1")

	step := func(what, want string, change func()) {
		t.Helper()
		t0 := time.Now()
		change()
		r.waitDesired(t, want)
		at, ok := r.desiredSince(t0, want)
		if !ok {
			t.Fatalf("%s: no desired event for %s", what, want)
		}
		lat := at.Sub(t0)
		t.Logf("%s: desired set changed %v after the API write started", what, lat.Round(time.Millisecond))
		if lat > time.Second {
			t.Errorf("%s took %v, want under 1s", what, lat)
		}
	}
	step("add endpoint", "app@10.2.0.1 app@10.2.0.2", func() {
		c.putSlice(t, ns, "demo-a", ready(ns, "10.2.0.1", "app-0"), ready(ns, "10.2.0.2", "app-1"))
	})
	step("remove endpoint", "app@10.2.0.2", func() {
		c.putSlice(t, ns, "demo-a", ready(ns, "10.2.0.2", "app-1"))
	})
	r.waitFor(t, 10*time.Second, "10.2.0.1 disconnected", func() bool {
		return slices.Contains(r.rec.disconnected(), "app@10.2.0.1")
	})
	// Terminating (still serving) and not-ready endpoints are left out
	// under readiness: ready; a ready one in the same write is added.
	step("terminating and not-ready endpoints", "app@10.2.0.2 app@10.2.0.5", func() {
		c.putSlice(t, ns, "demo-a",
			ready(ns, "10.2.0.2", "app-1"),
			endpoint(ns, "10.2.0.3", "app-2", false, true, true),
			endpoint(ns, "10.2.0.4", "app-3", false, false, false),
			ready(ns, "10.2.0.5", "app-4"))
	})
	step("second slice", "app@10.2.0.2 app@10.2.0.5 app@10.2.0.6", func() {
		c.putSlice(t, ns, "demo-b", ready(ns, "10.2.0.6", "app-5"))
	})
	step("slice deleted", "app@10.2.0.2 app@10.2.0.5", func() {
		if err := c.Client().DiscoveryV1().EndpointSlices(ns).Delete(ctxT(t), "demo-b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	// The other policies over the same slices.
	for pol, want := range map[string]string{
		ReadinessServing: "app@10.2.0.2 app@10.2.0.5",
		ReadinessAll:     "app@10.2.0.2 app@10.2.0.3 app@10.2.0.4 app@10.2.0.5",
	} {
		u, err := newS(map[string]any{"readiness": pol}).Discover(ctxT(t))
		if err != nil || sortedJoin(u.Nodes()) != want {
			t.Errorf("readiness %s: %v, %v; want %s", pol, u.Nodes(), err, want)
		}
	}
	// With publishNotReadyAddresses a Service's endpoints are all ready;
	// serving tells the truth.
	c.putSlice(t, ns, "demo-a",
		ready(ns, "10.2.0.2", "app-1"), endpoint(ns, "10.2.0.7", "app-6", true, false, false))
	r.waitDesired(t, "app@10.2.0.2 app@10.2.0.7")
	if u, err := newS(map[string]any{"readiness": "serving"}).Discover(ctxT(t)); err != nil || sortedJoin(u.Nodes()) != "app@10.2.0.2" {
		t.Errorf("readiness serving with ready-but-not-serving endpoint: %v %v", u.Nodes(), err)
	}

	t.Run("pods", func(t *testing.T) {
		pr := startTopology(t, newS(map[string]any{"kubernetes_ip_lookup_mode": "pods"}))
		c.createPod(t, ns, "p-0", "10.2.1.1", true, "example.com/hold")
		c.createPod(t, ns, "p-1", "10.2.1.2", false)
		pr.waitDesired(t, "app@10.2.1.1")
		// p-1 becomes ready.
		t0 := time.Now()
		p, err := c.Client().CoreV1().Pods(ns).Get(ctxT(t), "p-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Conditions[0].Status = corev1.ConditionTrue
		if _, err := c.Client().CoreV1().Pods(ns).UpdateStatus(ctxT(t), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pr.waitDesired(t, "app@10.2.1.1 app@10.2.1.2")
		t.Logf("pod became ready: seen after %v", time.Since(t0).Round(time.Millisecond))
		// p-0 is deleted; its finalizer keeps it terminating.
		if err := c.Client().CoreV1().Pods(ns).Delete(ctxT(t), "p-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		pr.waitDesired(t, "app@10.2.1.2")
		got, err := c.Client().CoreV1().Pods(ns).Get(ctxT(t), "p-0", metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp == nil {
			t.Fatalf("p-0 should still exist, terminating: %v", err)
		}
		u, err := newS(map[string]any{"kubernetes_ip_lookup_mode": "pods", "readiness": "all"}).Discover(ctxT(t))
		if err != nil || sortedJoin(u.Nodes()) != "app@10.2.1.1 app@10.2.1.2" {
			t.Errorf("pods, readiness all keeps the terminating pod: %v %v", u.Nodes(), err)
		}
		_, err = c.Client().CoreV1().Pods(ns).Patch(ctxT(t), "p-0", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestWatchRequestsVsPolling counts the API requests of a watching and a
// 5 s polling strategy over the same window and compares them per
// node-hour.
func TestWatchRequestsVsPolling(t *testing.T) {
	c := newCluster(t, "w", "p")
	counting := func() (*countingTransport, *Strategy) {
		ct := &countingTransport{}
		kc := c.Kubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), c.Token(kubetest.AdminUser))
		wrap := func(rt http.RoundTripper) http.RoundTripper { ct.rt = rt; return ct }
		return ct, &Strategy{cfg: Config{NodeBasename: "app", Selector: "app=demo", Kubeconfig: kc}, opts: Options{WrapTransport: wrap}}
	}
	wct, ws := counting()
	ws.cfg.Namespace = "w"
	pct, ps := counting()
	ps.cfg.Namespace, ps.cfg.Poll, ps.cfg.PollingInterval = "p", true, 5*time.Second
	c.putSlice(t, "w", "demo", ready("w", "10.5.0.1", "a"))
	c.putSlice(t, "p", "demo", ready("p", "10.5.0.1", "a"))

	wr := startTopology(t, ws)
	pr := startTopology(t, ps)
	wr.waitDesired(t, "app@10.5.0.1")
	pr.waitDesired(t, "app@10.5.0.1")

	const window = 30 * time.Second
	start := time.Now()
	wl0, ww0, _ := wct.counts()
	pl0, _, _ := pct.counts()
	changes := 0
	for i := 2; time.Since(start) < window-6*time.Second; i++ {
		ip := "10.5.0." + strconv.Itoa(i)
		want := "app@10.5.0.1 app@" + ip
		c.putSlice(t, "w", "demo", ready("w", "10.5.0.1", "a"), ready("w", ip, "b"))
		c.putSlice(t, "p", "demo", ready("p", "10.5.0.1", "a"), ready("p", ip, "b"))
		wr.waitDesired(t, want)
		pr.waitDesired(t, want)
		changes++
	}
	// Let the window run out (the measurement needs a fixed length).
	<-time.After(time.Until(start.Add(window)))
	elapsed := time.Since(start)
	wl, ww, _ := wct.counts()
	pl, _, _ := pct.counts()
	wSteady := (wl - wl0) + (ww - ww0)
	pSteady := pl - pl0

	// The reflector ends each watch after its timeoutSeconds (random,
	// 5–10 min) and re-watches from the last resourceVersion: one
	// request per timeout, plus the initial LIST per node-hour.
	wct.mu.Lock()
	timeout := 0
	for _, q := range wct.queries {
		for kv := range strings.SplitSeq(q, "&") {
			if v, ok := strings.CutPrefix(kv, "timeoutSeconds="); ok {
				n, _ := strconv.Atoi(v)
				if timeout == 0 || n < timeout {
					timeout = n
				}
			}
		}
	}
	wct.mu.Unlock()
	if timeout < 60 {
		t.Fatalf("watch timeoutSeconds %d: want the reflector's 5-10 min", timeout)
	}
	hour := time.Hour.Seconds()
	// The poll rate from the spacing of the LISTs in the window (a
	// count over a short window is off by up to one poll).
	pct.mu.Lock()
	var inWindow []time.Time
	for _, at := range pct.listAt {
		if !at.Before(start) {
			inWindow = append(inWindow, at)
		}
	}
	pct.mu.Unlock()
	if len(inWindow) < 3 {
		t.Fatalf("poll made %d LISTs in %v, want at least 3", len(inWindow), elapsed)
	}
	span := inWindow[len(inWindow)-1].Sub(inWindow[0])
	pollPerHour := float64(len(inWindow)-1) / span.Seconds() * hour
	watchPerHour := 1 + hour/float64(timeout) + float64(wSteady)/elapsed.Seconds()*hour
	ratio := pollPerHour / watchPerHour
	t.Logf("window %v, %d changes: watch made %d LIST + %d WATCH in all (%d in the window), poll (5s) made %d LIST in the window",
		elapsed.Round(time.Millisecond), changes, wl, ww, wSteady, pSteady)
	t.Logf("per node-hour: poll %.0f requests, watch %.1f (1 LIST + %.1f re-watches at timeoutSeconds=%d + %.1f other): %.0fx fewer",
		pollPerHour, watchPerHour, hour/float64(timeout), timeout, float64(wSteady)/elapsed.Seconds()*hour, ratio)
	if wl != 1 || ww != 1 {
		t.Errorf("watch strategy made %d LIST and %d WATCH, want exactly 1 each", wl, ww)
	}
	if ratio < 50 {
		t.Errorf("watch makes only %.1fx fewer requests than 5 s polling, want >= 50x", ratio)
	}
	// The API server's own count (apiserver_request_total; a watch is
	// counted when it ends, so only LISTs are comparable) agrees. The server
	// bumps the counter after it has sent the response, so the last LIST
	// may show up a moment after the client saw it: poll toward a deadline.
	n := c.RequestCount("LIST", "endpointslices")
	for deadline := time.Now().Add(10 * time.Second); n < wl+pl && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		n = c.RequestCount("LIST", "endpointslices")
	}
	if n < wl+pl {
		t.Errorf("API server counted %d endpointslices LISTs, the clients %d", n, wl+pl)
	} else {
		t.Logf("API server apiserver_request_total LIST endpointslices: %d (clients counted %d)", n, wl+pl)
	}
}

// TestAPIServerRestart: the API server dies and comes back mid-watch;
// nothing is disconnected, the watch resumes and later changes are seen.
func TestAPIServerRestart(t *testing.T) {
	const ns = "restart"
	c := newCluster(t, ns)
	kc := c.Kubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), c.Token(kubetest.AdminUser))
	s := &Strategy{cfg: Config{NodeBasename: "app", Selector: "app=demo", Namespace: ns, Kubeconfig: kc, ServiceAccountPath: t.TempDir()}}
	c.putSlice(t, ns, "demo", ready(ns, "10.3.0.1", "a"), ready(ns, "10.3.0.2", "b"))
	r := startTopology(t, s)
	r.waitDesired(t, "app@10.3.0.1 app@10.3.0.2")

	t0 := time.Now()
	c.StopAPIServer()
	// While it is down, the strategy reports errors and keeps the set.
	r.waitFor(t, 30*time.Second, "a discovery error while the API server is down", func() bool {
		return len(r.errorsMatching("endpointslices", "keeping the last good set")) > 0
	})
	c.StartAPIServer()
	t.Logf("API server down and back in %v; errors reported meanwhile: %d", time.Since(t0).Round(time.Millisecond), len(r.errorsMatching()))
	t1 := time.Now()
	c.putSlice(t, ns, "demo", ready(ns, "10.3.0.1", "a"), ready(ns, "10.3.0.2", "b"), ready(ns, "10.3.0.3", "c"))
	r.waitDesired(t, "app@10.3.0.1 app@10.3.0.2 app@10.3.0.3")
	t.Logf("change after restart seen in %v", time.Since(t1).Round(time.Millisecond))
	if d := r.rec.disconnected(); len(d) != 0 {
		t.Errorf("disconnects across the restart: %v", d)
	}
	r.mu.Lock()
	for _, d := range r.desired {
		if !strings.Contains(d.nodes, "app@10.3.0.1 app@10.3.0.2") {
			t.Errorf("desired set shrank to %q at %v", d.nodes, d.at)
		}
	}
	r.mu.Unlock()
	if err := r.topo.Status().LastError; err != nil {
		t.Errorf("error not cleared after recovery: %v", err)
	}
}

const sliceRule = `rules: [{apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get","list","watch"]}]`

// TestForbiddenServiceAccount: a service account without the RBAC rule
// gets an error event naming it, the namespace, verb, resource and the
// rule; once a Role is bound, discovery recovers without a restart.
func TestForbiddenServiceAccount(t *testing.T) {
	const ns = "rbac"
	c := newCluster(t, ns)
	sa := c.serviceAccountDir(t, ns, "app")
	c.putSlice(t, ns, "demo", ready(ns, "10.4.0.1", "a"))
	s, err := fromParams(params(map[string]any{
		"kubernetes_node_basename": "app", "kubernetes_selector": "app=demo",
		"kubernetes_master": c.Host(), "kubernetes_service_account_path": sa,
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := startTopology(t, s)
	want := []string{"service account rbac/app", `namespace "rbac"`, "list endpointslices.discovery.k8s.io", "403", sliceRule}
	r.waitFor(t, 30*time.Second, "a discovery error with the RBAC hint", func() bool { return len(r.errorsMatching(want...)) > 0 })
	t.Logf("error event: %v", r.errorsMatching(want...)[0])
	if d := r.topo.Status().Desired; len(d) != 0 {
		t.Errorf("desired %v without any good answer", d)
	}
	t0 := time.Now()
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules[0])
	r.waitDesired(t, "app@10.4.0.1")
	t.Logf("recovered %v after the Role was bound", time.Since(t0).Round(time.Millisecond))
	if err := r.topo.Status().LastError; err != nil {
		t.Errorf("error not cleared after recovery: %v", err)
	}
	if d := r.rec.disconnected(); len(d) != 0 {
		t.Errorf("disconnects: %v", d)
	}
}

// TestPollKeepsSetOnForbidden: in poll mode, losing the RBAC rule keeps
// the last good set (no empty set, no disconnects); restoring it clears
// the error.
func TestPollKeepsSetOnForbidden(t *testing.T) {
	const ns = "pollrbac"
	c := newCluster(t, ns)
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules[1])
	sa := c.serviceAccountDir(t, ns, "app")
	c.createPod(t, ns, "a", "10.6.0.1", true)
	c.createPod(t, ns, "b", "10.6.0.2", true)
	s, err := fromParams(params(map[string]any{
		"kubernetes_node_basename": "app", "kubernetes_selector": "app=demo", "kubernetes_ip_lookup_mode": "pods",
		"kubernetes_master": c.Host(), "kubernetes_service_account_path": sa, "watch": false, "polling_interval": "200ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := startTopology(t, s)
	r.waitDesired(t, "app@10.6.0.1 app@10.6.0.2")
	ctx := ctxT(t)
	rbs, err := c.Client().RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs.Items {
		if err := c.Client().RbacV1().RoleBindings(ns).Delete(ctx, rb.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podRule := `rules: [{apiGroups: [""], resources: ["pods"], verbs: ["get","list","watch"]}]`
	r.waitFor(t, 30*time.Second, "a 403 with the pods rule", func() bool {
		return len(r.errorsMatching("service account pollrbac/app", "list pods", podRule)) > 0
	})
	// Several polls fail; the set stays.
	n := len(r.errorsMatching())
	r.waitFor(t, 30*time.Second, "more failing polls", func() bool { return len(r.errorsMatching()) >= n+3 })
	if got := join(r.topo.Status().Desired); got != "app@10.6.0.1 app@10.6.0.2" {
		t.Errorf("desired after 403s: %q, want the last good set", got)
	}
	if d := r.rec.disconnected(); len(d) != 0 {
		t.Errorf("disconnects on 403: %v", d)
	}
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules[1])
	r.waitFor(t, 30*time.Second, "the error cleared", func() bool { return r.topo.Status().LastError == nil })
}
