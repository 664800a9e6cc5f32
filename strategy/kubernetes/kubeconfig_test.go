package kubernetes

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKubeconfigFields reads the current context's server, CA, user and
// namespace, with relative paths taken from the file's directory and
// several files merged first-wins, as kubectl does.
func TestKubeconfigFields(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ca.pem", "CA")
	writeFile(t, dir, "tok", "file-token")
	a := writeFile(t, dir, "a", `
current-context: dev
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team}
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.pem, tls-server-name: api.internal}
`)
	b := writeFile(t, dir, "b", `
current-context: other
users:
- name: u1
  user: {tokenFile: tok}
clusters:
- name: c1
  cluster: {server: "https://ignored:1"}
`)
	cr, ns, err := fromKubeconfig([]string{a, filepath.Join(dir, "missing"), b}, "")
	if err != nil {
		t.Fatal(err)
	}
	if cr.host != "https://10.0.0.1:6443" || string(cr.caPEM) != "CA" || cr.serverName != "api.internal" ||
		cr.tokenFile != filepath.Join(dir, "tok") || ns != "team" {
		t.Errorf("got %+v, namespace %q", cr, ns)
	}
	if _, ns, _ := fromKubeconfig([]string{a, b}, "given"); ns != "given" {
		t.Errorf("kubernetes_namespace not preferred: %q", ns)
	}

	data := base64.StdEncoding.EncodeToString([]byte("PEM"))
	c := writeFile(t, dir, "c", `
current-context: x
contexts: [{name: x, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k:443", certificate-authority-data: `+data+`}}]
users: [{name: u, user: {token: abc, client-certificate-data: `+data+`, client-key-data: `+data+`}}]
`)
	cr, ns, err = fromKubeconfig([]string{c}, "")
	if err != nil || string(cr.caPEM) != "PEM" || string(cr.certPEM) != "PEM" || cr.token != "abc" || ns != "default" {
		t.Errorf("data fields: %+v %q %v", cr, ns, err)
	}
}

func TestKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"is not a kubeconfig":                       "current-context: [",
		"no current-context":                        "clusters: []",
		"current-context \"x\" is not among":        "current-context: x",
		"names cluster \"k\", which is not defined": "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]",
		"has no server":                             "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\nclusters: [{name: k, cluster: {}}]",
		"credential plugin":                         "current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]",
		"not base64":                                "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\nclusters: [{name: k, cluster: {server: 'https://k', certificate-authority-data: '%%%'}}]",
	}
	i := 0
	for want, body := range cases {
		i++
		p := writeFile(t, dir, "kc"+strings.Repeat("x", i), body)
		_, _, err := fromKubeconfig([]string{p}, "")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want it to name the file and say %q", body, err, want)
		}
	}
}
