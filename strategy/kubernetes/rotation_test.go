package kubernetes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/libcluster-go/libcluster/internal/testkit/kubetest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// boundToken returns a token of service account namespace/sa bound to a
// new Secret named secret: deleting that Secret invalidates the token at
// once, which is how the tests retire a token at a chosen moment (the
// kubelet binds its tokens to the pod the same way).
func (c *cluster) boundToken(t *testing.T, namespace, sa, secret string) string {
	t.Helper()
	ctx := ctxT(t)
	sec, err := c.Client().CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: namespace},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret %s/%s: %v", namespace, secret, err)
	}
	c.ServiceAccountToken(namespace, sa, time.Hour) // creates the ServiceAccount
	secs := int64(time.Hour / time.Second)
	tr, err := c.Client().CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &secs,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret, UID: sec.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s bound to secret %s: %v", namespace, sa, secret, err)
	}
	return tr.Status.Token
}

// writeToken replaces the token file the way the kubelet does: the new
// content appears at once, never half written.
func writeToken(t *testing.T, dir, token string) {
	t.Helper()
	tmp := filepath.Join(dir, ".token.tmp")
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
}

// tokenWorks lists EndpointSlices in namespace with token; it returns nil
// when the API server accepts it, the error otherwise.
func (c *cluster) tokenWorks(t *testing.T, namespace, token string) error {
	t.Helper()
	cs, err := k8s.NewForConfig(c.Config(token))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.DiscoveryV1().EndpointSlices(namespace).List(ctxT(t), metav1.ListOptions{Limit: 1})
	return err
}

// waitRejected polls until the API server answers token with 401.
func (c *cluster) waitRejected(t *testing.T, namespace, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.tokenWorks(t, namespace, token)
		if apierrors.IsUnauthorized(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retired token is still accepted after 30s (last result: %v)", err)
		}
		time.Sleep(100 * time.Millisecond) // polling the API server, not synchronising
	}
}

// TestServiceAccountTokenRotation: the strategy runs from a service-account
// directory (token, ca.crt, namespace) against the API server. The token
// file is rewritten with a new bound token B and the old token A is
// invalidated right after, the worst case of a rotation (the kubelet keeps
// A valid for a while). Discovery carries on with B without a restart and
// without disconnecting anyone: in poll mode the next polls succeed, in
// watch mode the watch resumed after the API server cut it uses B.
func TestServiceAccountTokenRotation(t *testing.T) {
	c := newCluster(t, "rot-poll", "rot-watch")
	for _, mode := range []string{"poll", "watch"} {
		t.Run(mode, func(t *testing.T) {
			ns := "rot-" + mode
			c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules...)
			sa := c.serviceAccountDir(t, ns, "app")
			tokA := c.boundToken(t, ns, "app", "token-a")
			writeToken(t, sa, tokA)

			c.putSlice(t, ns, "demo", ready(ns, "10.4.0.1", "app-0"))
			s, err := fromParams(params(map[string]any{
				"kubernetes_node_basename":        "app",
				"kubernetes_selector":             "app=demo",
				"kubernetes_master":               c.Host(),
				"kubernetes_service_account_path": sa,
				"watch":                           mode == "watch",
				"polling_interval":                "500ms",
			}))
			if err != nil {
				t.Fatal(err)
			}
			r := startTopology(t, s)
			r.waitDesired(t, "app@10.4.0.1")

			// Rotate: B goes into the file, then A stops working.
			tokB := c.boundToken(t, ns, "app", "token-b")
			t0 := time.Now()
			writeToken(t, sa, tokB)
			if err := c.Client().CoreV1().Secrets(ns).Delete(ctxT(t), "token-a", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			c.waitRejected(t, ns, tokA)
			tInvalid := time.Since(t0)
			if err := c.tokenWorks(t, ns, tokB); err != nil {
				t.Fatalf("token B does not work: %v", err)
			}

			if mode == "watch" {
				// The open watch was authenticated with A and lives on.
				c.putSlice(t, ns, "demo", ready(ns, "10.4.0.1", "app-0"), ready(ns, "10.4.0.2", "app-1"))
				r.waitDesired(t, "app@10.4.0.1 app@10.4.0.2")
				// Cut it: the reflector must come back with B.
				c.StopAPIServer()
				c.StartAPIServer()
			}
			t1 := time.Now()
			c.putSlice(t, ns, "demo", ready(ns, "10.4.0.1", "app-0"), ready(ns, "10.4.0.2", "app-1"), ready(ns, "10.4.0.3", "app-2"))
			// client-go alone would keep sending A until its cached copy
			// of the file expires (50 s after it was read); the strategy
			// drops the cached token on a 401, so B is in use within a
			// retry or two.
			r.waitFor(t, 30*time.Second, "the set after the rotation is not seen", func() bool {
				return join(r.topo.Status().Desired) == "app@10.4.0.1 app@10.4.0.2 app@10.4.0.3"
			})
			unauth := r.errorsMatching("(401)")
			t.Logf("%s: A rejected %v after the file rewrite; change seen %v after the EndpointSlice write (%v after the rotation); 401 errors reported meanwhile: %d",
				mode, tInvalid.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), len(unauth))
			for _, e := range unauth {
				if !strings.Contains(e.Error(), "re-read as it rotates") {
					t.Errorf("401 error without the rotation hint: %v", e)
				}
			}

			st := r.topo.Status()
			if st.Restarts != 0 {
				t.Errorf("strategy restarted %d times; rotation must not need a restart", st.Restarts)
			}
			if st.LastError != nil {
				t.Errorf("error not cleared after recovery: %v", st.LastError)
			}
			if d := r.rec.disconnected(); len(d) != 0 {
				t.Errorf("disconnects during the rotation: %v", d)
			}
			r.mu.Lock()
			for _, d := range r.desired {
				if !strings.Contains(d.nodes, "app@10.4.0.1") {
					t.Errorf("desired set lost a member: %q at %v", d.nodes, d.at)
				}
			}
			r.mu.Unlock()
			r.waitFor(t, 30*time.Second, "app@10.4.0.3 not connected", func() bool {
				return slices.Contains(r.rec.Nodes(), "app@10.4.0.3")
			})
		})
	}
}

// TestServiceAccountTokenPeriodicReread is the kubelet's own rotation: the
// token file gets a new token while the old one stays valid, so no 401
// prompts a re-read and the file must be read again on a timer (client-go
// reads it again once its copy is 50 s old). Here the new token belongs to
// another service account and the old one loses its Role at the moment of
// the rewrite: polls fail with 403 until the file is read again, then
// succeed as the new account, without a restart or disconnects. It waits
// for that timer, so -short skips it.
func TestServiceAccountTokenPeriodicReread(t *testing.T) {
	testenv.Short(t)
	const ns = "rot-period"
	c := newCluster(t, ns)
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "app"), readRules...)
	c.Grant(ns, kubetest.ServiceAccountSubject(ns, "next"), readRules...)
	sa := c.serviceAccountDir(t, ns, "app")
	c.putSlice(t, ns, "demo", ready(ns, "10.5.0.1", "app-0"))
	s, err := fromParams(params(map[string]any{
		"kubernetes_node_basename":        "app",
		"kubernetes_selector":             "app=demo",
		"kubernetes_master":               c.Host(),
		"kubernetes_service_account_path": sa,
		"watch":                           false,
		"polling_interval":                "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	r := startTopology(t, s)
	r.waitDesired(t, "app@10.5.0.1")

	// Rotate to the other account's token and take the old one's rights.
	writeToken(t, sa, c.ServiceAccountToken(ns, "next", time.Hour))
	t0 := time.Now()
	ctx := ctxT(t)
	rbs, err := c.Client().RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs.Items {
		if len(rb.Subjects) == 1 && rb.Subjects[0].Name == "app" {
			if err := c.Client().RbacV1().RoleBindings(ns).Delete(ctx, rb.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.waitFor(t, 30*time.Second, "no 403 for the old token after its Role binding was deleted", func() bool {
		return len(r.errorsMatching("(403)", "service account rot-period/app")) > 0
	})
	c.putSlice(t, ns, "demo", ready(ns, "10.5.0.1", "app-0"), ready(ns, "10.5.0.2", "app-1"))
	r.waitFor(t, 90*time.Second, "the new token was not read from the file", func() bool {
		return join(r.topo.Status().Desired) == "app@10.5.0.1 app@10.5.0.2"
	})
	t.Logf("new token in use %v after the file rewrite (%v after the strategy started); 403 errors meanwhile: %d",
		time.Since(t0).Round(time.Millisecond), time.Since(started).Round(time.Millisecond), len(r.errorsMatching("(403)")))
	if n := len(r.errorsMatching("(401)")); n != 0 {
		t.Errorf("%d 401 errors; both tokens were valid throughout", n)
	}
	st := r.topo.Status()
	if st.Restarts != 0 || st.LastError != nil {
		t.Errorf("restarts %d, last error %v; want none after recovery", st.Restarts, st.LastError)
	}
	if d := r.rec.disconnected(); len(d) != 0 {
		t.Errorf("disconnects during the rotation: %v", d)
	}
}
