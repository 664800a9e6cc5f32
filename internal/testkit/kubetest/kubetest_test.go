package kubetest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/libcluster-go/libcluster/internal/testkit/kubetest"
)

const ns = "kubetest-demo"

func TestCluster(t *testing.T) {
	t0 := time.Now()
	c := kubetest.Start(t)
	t.Logf("etcd %s + kube-apiserver %s ready at %s in %v", kubetest.EtcdVersion, kubetest.KubeVersion, c.Host(), time.Since(t0).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Client()

	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	t.Logf("server reports %s", v.GitVersion)
	if v.GitVersion != kubetest.KubeVersion {
		t.Errorf("server version %s, want %s", v.GitVersion, kubetest.KubeVersion)
	}

	c.CreateNamespace(ns)
	createObjects(ctx, t, cs)
	checkObjects(ctx, t, cs)

	t.Run("watch", func(t *testing.T) {
		// A watch with bookmarks, as informers open it: it must deliver
		// a new object promptly (etcd older than 3.5 made it hang).
		list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{
			ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true,
		})
		if err != nil {
			t.Fatalf("watch endpointslices: %v", err)
		}
		defer w.Stop()
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "watched", Labels: map[string]string{discoveryv1.LabelServiceName: "other"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.9"}}},
		}
		if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create endpointslice: %v", err)
		}
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("watch closed before the new slice arrived")
				}
				if s, isSlice := ev.Object.(*discoveryv1.EndpointSlice); ev.Type == watch.Added && isSlice && s.Name == "watched" {
					return
				}
			case <-deadline:
				t.Fatal("no ADDED event for the new endpointslice within 30s")
			}
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		nobody, err := kubernetes.NewForConfig(c.Config(c.Token(kubetest.NobodyUser)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = nobody.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("static user without rights: got %v, want 403 Forbidden", err)
		}
		saTok := c.ServiceAccountToken(ns, "reader", 15*time.Minute)
		sa, err := kubernetes.NewForConfig(c.Config(saTok))
		if err != nil {
			t.Fatal(err)
		}
		if _, err = sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("service account without rights: got %v, want 403 Forbidden", err)
		}
		c.Grant(ns, kubetest.ServiceAccountSubject(ns, "reader"), rbacv1.PolicyRule{
			APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"},
		})
		pods, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("service account granted pods: got %v pods, err %v; want 1 pod", len(pods.Items), err)
		}
		if _, err = sa.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("service account granted only pods, listing services: got %v, want 403", err)
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		path := c.Kubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), c.Token(kubetest.AdminUser))
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatalf("load written kubeconfig: %v", err)
		}
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kc.CoreV1().Services(ns).Get(ctx, "demo", metav1.GetOptions{}); err != nil {
			t.Fatalf("get through kubeconfig: %v", err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Fatalf("kubeconfig file: %v", err)
		}
	})

	if n := c.RequestCount("LIST", "endpointslices"); n < 1 {
		t.Errorf("RequestCount(LIST, endpointslices) = %d, want >= 1", n)
	}

	t.Run("restart", func(t *testing.T) {
		w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("watch pods: %v", err)
		}
		defer w.Stop()
		t1 := time.Now()
		c.Restart()
		t.Logf("kube-apiserver restarted in %v", time.Since(t1).Round(time.Millisecond))
		// The open watch is cut by the restart: its channel closes.
		deadline := time.After(30 * time.Second)
	drain:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					break drain
				}
				if ev.Type == watch.Error {
					break drain
				}
			case <-deadline:
				t.Fatal("watch survived the API server restart; want it closed")
			}
		}
		checkObjects(ctx, t, cs)
		if n := c.RequestCount("LIST", "endpointslices"); n < 1 {
			t.Errorf("after restart RequestCount(LIST, endpointslices) = %d, want >= 1", n)
		}
	})

	t.Run("stop", func(t *testing.T) {
		c.StopAPIServer()
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := cs.CoreV1().Pods(ns).List(short, metav1.ListOptions{}); err == nil {
			t.Fatal("list succeeded with the API server stopped")
		}
		c.StartAPIServer()
		checkObjects(ctx, t, cs)
		c.Stop()
		c.Stop() // idempotent
	})
}

func createObjects(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	labels := map[string]string{"app": "demo"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-0", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      "10.1.0.5",
		PodIPs:     []corev1.PodIP{{IP: "10.1.0.5"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update pod status: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "epmd", Port: 4369}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "demo-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "demo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.1.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			Hostname:   ptr("demo-0"),
		}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}
	// v1 Endpoints is deprecated but still served, and the strategy reads it.
	//lint:ignore SA1019 the strategy must support clusters that use v1 Endpoints
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		//lint:ignore SA1019 as above
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.1.0.5", Hostname: "demo-0"}},
			Ports:     []corev1.EndpointPort{{Name: "epmd", Port: 4369}},
		}},
	}
	if _, err := cs.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpoints: %v", err)
	}
}

func checkObjects(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.PodIP != "10.1.0.5" || pods.Items[0].Status.Phase != corev1.PodRunning {
		t.Fatalf("list pods: %v %+v; want one running pod with IP 10.1.0.5", err, pods)
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "demo", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("get headless service: %v %+v", err, svc)
	}
	slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=demo"})
	if err != nil || len(slices.Items) != 1 || slices.Items[0].Endpoints[0].Addresses[0] != "10.1.0.5" {
		t.Fatalf("list endpointslices: %v %+v; want one with 10.1.0.5", err, slices)
	}
	ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, "demo", metav1.GetOptions{})
	if err != nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "10.1.0.5" {
		t.Fatalf("get endpoints: %v %+v; want 10.1.0.5", err, ep)
	}
}

func ptr[T any](v T) *T { return &v }

// ExampleStart shows a test using the harness; it is compiled, not run,
// because it needs a *testing.T.
func ExampleStart() {
	test := func(t *testing.T) {
		c := kubetest.Start(t) // skips (fails under CI=true) when build.sh has not run
		c.CreateNamespace("demo")
		tok := c.ServiceAccountToken("demo", "reader", time.Hour)
		c.Grant("demo", kubetest.ServiceAccountSubject("demo", "reader"), rbacv1.PolicyRule{
			APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"},
		})
		reader, _ := kubernetes.NewForConfig(c.Config(tok))
		_, _ = reader.DiscoveryV1().EndpointSlices("demo").List(context.Background(), metav1.ListOptions{})
		c.Restart() // cuts open watches; data survives in etcd
	}
	_ = test
}

// BenchmarkStart measures how long a test waits for a ready cluster
// (etcd and kube-apiserver started, /readyz answered) plus its teardown.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		c := kubetest.Start(b)
		c.Stop()
	}
}
