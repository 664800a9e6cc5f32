package kubernetes

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kubeconfig is the part of a kubeconfig file the strategy reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string    `yaml:"token"`
			TokenFile             string    `yaml:"tokenFile"`
			ClientCertificate     string    `yaml:"client-certificate"`
			ClientCertificateData string    `yaml:"client-certificate-data"`
			ClientKey             string    `yaml:"client-key"`
			ClientKeyData         string    `yaml:"client-key-data"`
			Username              string    `yaml:"username"`
			Password              string    `yaml:"password"`
			Exec                  yaml.Node `yaml:"exec"`
			AuthProvider          yaml.Node `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster   string `yaml:"cluster"`
			User      string `yaml:"user"`
			Namespace string `yaml:"namespace"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// fromKubeconfig reads the credentials of the current context. With
// several files (KUBECONFIG=a:b) the first file that sets a value wins,
// as kubectl merges them; missing files in a list are skipped. Relative
// paths in a file are relative to that file. Credential plugins (exec,
// auth-provider) are not run.
func fromKubeconfig(paths []string, ns string) (credentials, string, error) {
	joined := strings.Join(paths, string(filepath.ListSeparator))
	fail := func(format string, args ...any) (credentials, string, error) {
		return credentials{}, "", fmt.Errorf("kubernetes: kubeconfig %s: %s; fix the file or point kubeconfig/KUBECONFIG at a valid one", joined, fmt.Sprintf(format, args...))
	}
	type entry struct {
		file string
		kc   *kubeconfig
	}
	var files []entry
	for _, p := range paths {
		if p == "" {
			continue
		}
		b, err := readSmall(p, maxKubeconfigBytes)
		if err != nil {
			if os.IsNotExist(err) && len(paths) > 1 {
				continue
			}
			return fail("%v", err)
		}
		kc := &kubeconfig{}
		if err := yaml.Unmarshal(b, kc); err != nil {
			return fail("%s is not a kubeconfig: %v", p, err)
		}
		files = append(files, entry{p, kc})
	}
	if len(files) == 0 {
		return fail("no such file")
	}
	current := ""
	for _, f := range files {
		if current == "" {
			current = f.kc.CurrentContext
		}
	}
	if current == "" {
		return fail("no current-context; set one with kubectl config use-context")
	}
	var cluster, user, cns string
	found := false
	for _, f := range files {
		for _, c := range f.kc.Contexts {
			if c.Name == current && !found {
				cluster, user, cns, found = c.Context.Cluster, c.Context.User, c.Context.Namespace, true
			}
		}
	}
	if !found {
		return fail("current-context %q is not among the contexts", current)
	}
	var cr credentials
	found = false
	for _, f := range files {
		dir := filepath.Dir(f.file)
		for _, c := range f.kc.Clusters {
			if c.Name != cluster || found {
				continue
			}
			found = true
			cr.host, cr.insecure, cr.serverName = c.Cluster.Server, c.Cluster.InsecureSkipTLSVerify, c.Cluster.TLSServerName
			var err error
			if cr.caPEM, err = dataOrFile(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority, dir); err != nil {
				return fail("cluster %q certificate authority: %v", cluster, err)
			}
		}
	}
	if !found {
		return fail("context %q names cluster %q, which is not defined", current, cluster)
	}
	if cr.host == "" {
		return fail("cluster %q has no server", cluster)
	}
	found = user == ""
	for _, f := range files {
		dir := filepath.Dir(f.file)
		for _, u := range f.kc.Users {
			if u.Name != user || found {
				continue
			}
			found = true
			if !u.User.Exec.IsZero() || !u.User.AuthProvider.IsZero() {
				return fail("user %q uses a credential plugin (exec or auth-provider), which this strategy does not run; give it a token, tokenFile or client certificate", user)
			}
			cr.token, cr.user, cr.pass = u.User.Token, u.User.Username, u.User.Password
			if u.User.TokenFile != "" && u.User.Token == "" {
				cr.tokenFile = resolvePath(u.User.TokenFile, dir)
			}
			var err error
			if cr.certPEM, err = dataOrFile(u.User.ClientCertificateData, u.User.ClientCertificate, dir); err != nil {
				return fail("user %q client certificate: %v", user, err)
			}
			if cr.keyPEM, err = dataOrFile(u.User.ClientKeyData, u.User.ClientKey, dir); err != nil {
				return fail("user %q client key: %v", user, err)
			}
		}
	}
	if !found {
		return fail("context %q names user %q, which is not defined", current, user)
	}
	if ns == "" {
		ns = cns
	}
	if ns == "" {
		ns = "default" // as kubectl does for a context without a namespace
	}
	return cr, ns, nil
}

// dataOrFile returns base64-decoded data, else the contents of file
// (relative to dir), else nil.
func dataOrFile(data, file, dir string) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return nil, fmt.Errorf("the -data value is not base64: %v", err)
		}
		return b, nil
	}
	if file == "" {
		return nil, nil
	}
	return readSmall(resolvePath(file, dir), maxKubeconfigBytes)
}

func resolvePath(p, dir string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return p
	}
	return filepath.Join(dir, p)
}
