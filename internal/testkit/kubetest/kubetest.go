// Package kubetest gives tests a real Kubernetes API: an etcd and a
// kube-apiserver process listening on loopback, started per test and killed
// by PID when the test ends.
//
// The binaries are built from the Go module proxy by build.sh next to this
// file (it takes several minutes the first time, then is cached):
//
//	bash internal/testkit/kubetest/build.sh
//
// They land in $LIBCLUSTER_KUBE_BIN_DIR, or by default in
// $XDG_CACHE_HOME/libcluster-go/kube/<kube>_etcd-<etcd> (~/.cache when
// XDG_CACHE_HOME is unset); versions.env names the versions. When they are
// missing, Start skips the test with that instruction, and fails it under
// CI=true.
//
// The API server authenticates with static bearer tokens (an "admin" user
// in system:masters and a "nobody" user without rights, plus any users from
// Options) and with service-account tokens from the TokenRequest API, and
// authorizes with RBAC. There is no controller-manager, scheduler or
// kubelet: CreateNamespace also creates the namespace's "default"
// ServiceAccount, pods stay unscheduled unless a test sets their status
// itself, and Endpoints/EndpointSlices are only what a test writes (the API
// server refuses loopback addresses in them, so tests use addresses such as
// 10.0.0.1 that nothing dials).
//
// Typical use in a test:
//
//	c := kubetest.Start(t)
//	c.CreateNamespace("demo")
//	pods, err := c.Client().CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

//go:embed versions.env
var versionsEnv string

// Versions of the control plane binaries, read from versions.env (which
// build.sh reads too).
var (
	KubeVersion = envValue("KUBE_VERSION")
	EtcdVersion = envValue("ETCD_VERSION")
)

func envValue(key string) string {
	sc := bufio.NewScanner(strings.NewReader(versionsEnv))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == key {
			return v
		}
	}
	panic("kubetest: versions.env lacks " + key) // a build-time constant file; cannot happen at run time
}

// Static token users every cluster has.
const (
	// AdminUser is in system:masters: it may do anything.
	AdminUser = "admin"
	// NobodyUser is authenticated but holds no RBAC rights, so every
	// resource request it makes is refused with 403.
	NobodyUser = "nobody"
)

// BinDir returns the directory that holds (or will hold) the etcd and
// kube-apiserver binaries: $LIBCLUSTER_KUBE_BIN_DIR when set, else the
// per-version directory under the user cache directory.
func BinDir() (string, error) {
	if d := os.Getenv("LIBCLUSTER_KUBE_BIN_DIR"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (%v): set LIBCLUSTER_KUBE_BIN_DIR or HOME", err)
	}
	return filepath.Join(cache, "libcluster-go", "kube", KubeVersion+"_etcd-"+EtcdVersion), nil
}

// User is a static bearer-token user of the API server.
type User struct {
	Name   string
	Groups []string
}

// Options adjust the cluster that StartWith starts.
type Options struct {
	// Users are static token users besides AdminUser and NobodyUser.
	// Their tokens come from Cluster.Token. They have no RBAC rights
	// unless a group grants them (system:masters) or a test calls Grant.
	Users []User
	// ExtraAPIServerArgs are appended to the kube-apiserver flags.
	ExtraAPIServerArgs []string
}

// Cluster is a running etcd plus kube-apiserver. Its methods that take no
// error return fail the test on error, so call them from the test
// goroutine (not from goroutines the test starts).
type Cluster struct {
	t      testing.TB
	binDir string
	dir    string

	etcdURL string
	port    int
	caPEM   []byte
	tokens  map[string]string // user name -> token
	apiArgs []string

	client *kubernetes.Clientset

	mu        sync.Mutex
	etcd, api *proc
	stopped   bool
}

// proc is one child process, started and killed by PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

// Start starts etcd and kube-apiserver for the test and waits until the API
// server is ready. The processes are killed and their files removed when
// the test ends. The test is skipped when the binaries are not built (see
// the package doc), and fails when they are missing under CI=true.
func Start(t testing.TB) *Cluster { t.Helper(); return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	binDir, err := BinDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			testenv.Missing(t, "%s not built in %s (run: bash internal/testkit/kubetest/build.sh; builds etcd %s and kube-apiserver %s from the Go module proxy, several minutes the first time)", b, binDir, EtcdVersion, KubeVersion)
		}
	}
	c := &Cluster{t: t, binDir: binDir, dir: t.TempDir(), tokens: map[string]string{}}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	if err := c.writeFiles(opts); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if err := c.startEtcd(); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if err := c.startAPIServer(opts.ExtraAPIServerArgs); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatalf("kubetest: admin client: %v", err)
	}
	c.client = cs
	return c
}

// Host returns the API server URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

// CAData returns the PEM certificate that signs the API server's serving
// certificate.
func (c *Cluster) CAData() []byte { return bytes.Clone(c.caPEM) }

// Token returns the static bearer token of a user: AdminUser, NobodyUser
// or one from Options.Users. It fails the test for an unknown user.
func (c *Cluster) Token(user string) string {
	c.t.Helper()
	tok, ok := c.tokens[user]
	if !ok {
		c.t.Fatalf("kubetest: no static user %q (declare it in Options.Users)", user)
	}
	return tok
}

// Config returns a client configuration that authenticates with token.
// The result is a fresh copy the caller may change.
func (c *Cluster) Config(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData()},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
}

// AdminConfig returns a client configuration for AdminUser.
func (c *Cluster) AdminConfig() *rest.Config { return c.Config(c.tokens[AdminUser]) }

// Client returns a clientset authenticated as AdminUser.
func (c *Cluster) Client() *kubernetes.Clientset { return c.client }

// Kubeconfig writes a kubeconfig file for the cluster that authenticates
// with token and returns path.
func (c *Cluster) Kubeconfig(path, token string) string {
	c.t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.Host(), CertificateAuthorityData: c.CAData()}
	cfg.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		c.t.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return path
}

func (c *Cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// CreateNamespace creates a namespace and its "default" ServiceAccount
// (which a controller-manager would otherwise create, and without which
// the API server refuses pods in it).
func (c *Cluster) CreateNamespace(name string) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	c.ensureServiceAccount(ctx, name, "default")
}

func (c *Cluster) ensureServiceAccount(ctx context.Context, namespace, name string) {
	c.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("kubetest: create service account %s/%s: %v", namespace, name, err)
	}
}

// ServiceAccountToken creates the ServiceAccount namespace/name if it does
// not exist and returns a bound token for it from the TokenRequest API,
// valid for ttl (at least 10 minutes, as the API server demands).
func (c *Cluster) ServiceAccountToken(namespace, name string, ttl time.Duration) string {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	c.ensureServiceAccount(ctx, namespace, name)
	secs := int64(ttl / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	tr, err := c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("kubetest: token for service account %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// ServiceAccountSubject names a ServiceAccount as an RBAC subject.
func ServiceAccountSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// UserSubject names a user (such as a static token user) as an RBAC subject.
func UserSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// Grant gives subject the rules in namespace, through a new Role and
// RoleBinding, and returns once the API server's authorizer applies them.
// (RBAC reads roles through an informer cache, so a request right after
// the binding is created can still be refused; Grant asks the API server
// with SubjectAccessReviews until the first verb of every rule is allowed.)
func (c *Cluster) Grant(namespace string, subject rbacv1.Subject, rules ...rbacv1.PolicyRule) {
	c.t.Helper()
	c.bind(namespace, subject, rules)
	ctx, cancel := c.ctx()
	defer cancel()
	for _, r := range rules {
		if len(r.Verbs) == 0 || len(r.Resources) == 0 {
			continue
		}
		group := ""
		if len(r.APIGroups) > 0 {
			group = r.APIGroups[0]
		}
		spec := authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: r.Verbs[0], Group: group, Resource: r.Resources[0]}}
		switch subject.Kind {
		case rbacv1.ServiceAccountKind:
			spec.User = "system:serviceaccount:" + subject.Namespace + ":" + subject.Name
		case rbacv1.GroupKind:
			spec.Groups = []string{subject.Name}
		default:
			spec.User = subject.Name
		}
		err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			res, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx,
				&authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			return res.Status.Allowed, nil
		})
		if err != nil {
			c.t.Fatalf("kubetest: %s %s for %s in %s not in effect after the grant: %v", r.Verbs[0], r.Resources[0], subject.Name, namespace, err)
		}
	}
}

// bind creates the Role and RoleBinding of Grant.
func (c *Cluster) bind(namespace string, subject rbacv1.Subject, rules []rbacv1.PolicyRule) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	name := "kubetest-" + randomHex(4)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: rules}
	if _, err := c.client.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("kubetest: create role %s/%s: %v", namespace, name, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{subject},
	}
	if _, err := c.client.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("kubetest: create role binding %s/%s: %v", namespace, name, err)
	}
}

// RequestCount returns how many requests the API server has served since
// it last started, from its apiserver_request_total metric, counting only
// those with the given verb (e.g. "LIST", "WATCH", "GET") and resource
// (e.g. "endpointslices"); an empty argument matches any.
func (c *Cluster) RequestCount(verb, resource string) int {
	c.t.Helper()
	n, err := c.requestCount(verb, resource)
	if err != nil {
		c.t.Fatalf("kubetest: %v", err)
	}
	return n
}

func (c *Cluster) requestCount(verb, resource string) (int, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	body, err := c.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("read /metrics: %v", err)
	}
	total := 0.0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		if (verb != "" && !strings.Contains(","+labels+",", `,verb="`+verb+`",`)) ||
			(resource != "" && !strings.Contains(","+labels+",", `,resource="`+resource+`",`)) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("bad metric line %q: %v", line, err)
		}
		total += v
	}
	return int(total), sc.Err()
}

// StopAPIServer kills the kube-apiserver process (etcd keeps running), so
// clients see the API go away. StartAPIServer brings it back.
func (c *Cluster) StopAPIServer() {
	c.t.Helper()
	c.mu.Lock()
	p := c.api
	c.api = nil
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// StartAPIServer starts the kube-apiserver again on the same port with the
// same data and credentials, and waits until it is ready.
func (c *Cluster) StartAPIServer() {
	c.t.Helper()
	c.mu.Lock()
	running := c.api != nil
	c.mu.Unlock()
	if running {
		c.t.Fatalf("kubetest: StartAPIServer: the API server is already running (call StopAPIServer first)")
	}
	if err := c.runAPIServer(); err != nil {
		c.t.Fatalf("kubetest: restart API server: %v", err)
	}
}

// Restart kills the kube-apiserver process and starts it again on the same
// port with the same data, as a crash and restart would; open watches are
// cut.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.StopAPIServer()
	c.StartAPIServer()
}

// Stop kills kube-apiserver and etcd. It is safe to call more than once;
// the test's cleanup calls it too.
func (c *Cluster) Stop() {
	c.mu.Lock()
	api, etcd := c.api, c.etcd
	c.api, c.etcd, c.stopped = nil, nil, true
	c.mu.Unlock()
	if api != nil {
		api.kill()
	}
	if etcd != nil {
		etcd.kill()
	}
}

func (c *Cluster) dumpLogs() {
	for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
		b, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			continue
		}
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		c.t.Logf("kubetest: tail of %s:\n%s", name, b)
	}
}

// writeFiles writes the serving certificate, the service-account key and
// the static token file.
func (c *Cluster) writeFiles(opts Options) error {
	certPEM, keyPEM, err := selfSignedCert()
	if err != nil {
		return err
	}
	c.caPEM = certPEM
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("service-account key: %v", err)
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return fmt.Errorf("service-account key: %v", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return fmt.Errorf("service-account key: %v", err)
	}
	users := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}, {Name: NobodyUser}}, opts.Users...)
	var tf strings.Builder
	for i, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ",\"\n") {
			return fmt.Errorf("bad user name %q in Options.Users: use a non-empty name without commas or quotes", u.Name)
		}
		if _, dup := c.tokens[u.Name]; dup {
			return fmt.Errorf("user %q declared twice in Options.Users", u.Name)
		}
		for _, g := range u.Groups {
			if g == "" || strings.ContainsAny(g, ",\"\n") {
				return fmt.Errorf("bad group %q of user %q: use a non-empty group without commas or quotes", g, u.Name)
			}
		}
		tok := randomHex(24)
		c.tokens[u.Name] = tok
		fmt.Fprintf(&tf, "%s,%s,uid-%d,\"%s\"\n", tok, u.Name, i, strings.Join(u.Groups, ","))
	}
	files := map[string][]byte{
		"serving.crt": certPEM,
		"serving.key": keyPEM,
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
		"sa.pub":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		"tokens.csv":  []byte(tf.String()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// selfSignedCert makes a CA certificate that serves 127.0.0.1, ::1 and
// localhost itself, so clients trust it as their root.
func selfSignedCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("serving key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kubetest-apiserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("serving certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. Start retries with new ports when one is taken meanwhile.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

const startAttempts = 3

func (c *Cluster) startEtcd() error {
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		dataDir := filepath.Join(c.dir, "etcd-data")
		if err := os.RemoveAll(dataDir); err != nil {
			return err
		}
		p, err := c.spawn("etcd",
			"--name=kubetest",
			"--data-dir="+dataDir,
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster=kubetest="+peer,
			"--initial-cluster-state=new",
			"--unsafe-no-fsync",
			"--log-level=warn",
		)
		if err != nil {
			return err
		}
		if err := waitReady(p, 60*time.Second, func(ctx context.Context) error {
			return probe(ctx, http.DefaultClient, client+"/health", "", `"health":"true"`)
		}); err != nil {
			p.kill()
			lastErr = fmt.Errorf("etcd did not become healthy: %v (log: %s)", err, lastLines(p.log, 5))
			continue
		}
		c.mu.Lock()
		c.etcd, c.etcdURL = p, client
		c.mu.Unlock()
		return nil
	}
	return lastErr
}

func (c *Cluster) startAPIServer(extra []string) error {
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		c.port = ports[0]
		c.apiArgs = append([]string{
			"--etcd-servers=" + c.etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(c.port),
			"--cert-dir=" + filepath.Join(c.dir, "certs"),
			"--tls-cert-file=" + filepath.Join(c.dir, "serving.crt"),
			"--tls-private-key-file=" + filepath.Join(c.dir, "serving.key"),
			"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + filepath.Join(c.dir, "sa.pub"),
			"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
			"--service-cluster-ip-range=10.96.0.0/16",
			"--authorization-mode=RBAC",
			// No controller-manager: nothing reconciles the kubernetes
			// Service's endpoints, and with 127.0.0.1 the reconciler fails.
			"--endpoint-reconciler-type=none",
			"--enable-admission-plugins=NamespaceLifecycle,ServiceAccount",
			"--disable-admission-plugins=" + disabledAdmission,
			"--enable-priority-and-fairness=false",
			"--profiling=false",
			"--v=1",
		}, extra...)
		err = c.runAPIServer()
		if err == nil {
			return nil
		}
		lastErr = err
	}
	return lastErr
}

// disabledAdmission turns off the default-on admission plugins that need
// controllers this harness does not run or that tests do not need.
const disabledAdmission = "LimitRanger,PodSecurity,Priority,DefaultTolerationSeconds,DefaultStorageClass," +
	"StorageObjectInUseProtection,PersistentVolumeClaimResize,RuntimeClass,CertificateApproval," +
	"CertificateSigning,ClusterTrustBundleAttest,CertificateSubjectRestriction,DefaultIngressClass," +
	"MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota," +
	"TaintNodesByCondition"

func (c *Cluster) runAPIServer() error {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return errors.New("the cluster was stopped")
	}
	p, err := c.spawn("kube-apiserver", c.apiArgs...)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	if err := waitReady(p, 120*time.Second, func(ctx context.Context) error {
		return probe(ctx, hc, c.Host()+"/readyz", c.tokens[AdminUser], "ok")
	}); err != nil {
		p.kill()
		return fmt.Errorf("kube-apiserver did not become ready: %v (log: %s)", err, lastLines(p.log, 10))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		p.kill()
		return errors.New("the cluster was stopped")
	}
	c.api = p
	return nil
}

// spawn starts a binary from the cache dir with its output in a log file.
func (c *Cluster) spawn(name string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "---- %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(c.binDir, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.dir
	// Dies with the test binary even if cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// kill kills the process by its PID and waits for it to exit.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls check until it succeeds, the process exits or the
// deadline passes.
func waitReady(p *proc, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		last = check(pctx)
		return last == nil, nil
	})
	if err != nil && last != nil && ctx.Err() != nil {
		return fmt.Errorf("%v; last probe: %v", err, last)
	}
	return err
}

// probe GETs url and wants status 200 with want in the body.
func probe(ctx context.Context, hc *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: status %d: %.300s", url, resp.StatusCode, body)
	}
	return nil
}

// lastLines returns the last n lines of a log file, for error messages.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
