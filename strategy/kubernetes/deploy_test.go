package kubernetes

//lint:file-ignore SA1019 the endpoints lookup mode reads the deprecated core v1 Endpoints on purpose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// applyFile creates every object of a manifest in namespace ns through the
// real API server, which validates it.
func (c *cluster) applyFile(t *testing.T, ns, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	cs := c.Client()
	for i, doc := range strings.Split(string(b), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i+1, err)
		}
		opts := metav1.CreateOptions{}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, o, opts)
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(ns).Create(ctx, o, opts)
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, o, opts)
		case *corev1.Service:
			_, err = cs.CoreV1().Services(ns).Create(ctx, o, opts)
		case *corev1.ConfigMap:
			_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, o, opts)
		case *appsv1.Deployment:
			_, err = cs.AppsV1().Deployments(ns).Create(ctx, o, opts)
		case *appsv1.StatefulSet:
			_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, o, opts)
		default:
			t.Fatalf("%s document %d: unexpected %T", path, i+1, obj)
		}
		if err != nil {
			t.Fatalf("%s document %d (%T): the API server refused it: %v", path, i+1, obj, err)
		}
	}
}

// TestDeployManifests applies the example manifests to a real API server
// and checks that each RBAC file lets the service account it creates use
// its lookup mode.
func TestDeployManifests(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	modes := []string{LookupEndpointSlices, LookupEndpoints, LookupPods}
	c := newCluster(t, append(modes, "examples-d", "examples-s")...)
	c.applyFile(t, "examples-d", filepath.Join(dir, "deployment.yaml"))
	c.applyFile(t, "examples-s", filepath.Join(dir, "statefulset.yaml"))
	for _, mode := range modes {
		ns := mode
		c.applyFile(t, ns, filepath.Join(dir, "rbac-"+mode+".yaml"))
		c.putSlice(t, ns, "myapp-x", ready(ns, "10.7.0.1", "myapp-0"))
		c.createPod(t, ns, "myapp-0", "10.7.0.1", true)
		if mode == LookupEndpoints {
			ep := &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: "myapp", Namespace: ns, Labels: map[string]string{"app": "demo"}},
				Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.7.0.1"}}}},
			}
			if _, err := c.Client().CoreV1().Endpoints(ns).Create(ctxT(t), ep, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		sa := c.serviceAccountDir(t, ns, "myapp")
		for _, watch := range []bool{false, true} {
			s := &Strategy{cfg: Config{NodeBasename: "app", Selector: "app=demo", Lookup: mode, Master: c.Host(), ServiceAccountPath: sa, Poll: !watch}}
			if watch {
				r := startTopology(t, s)
				r.waitDesired(t, "app@10.7.0.1")
				continue
			}
			u, err := s.Discover(ctxT(t))
			if err != nil || join(u.Nodes()) != "app@10.7.0.1" {
				t.Errorf("%s with rbac-%s.yaml: %v, %v", mode, mode, u.Nodes(), err)
			}
		}
	}
}
