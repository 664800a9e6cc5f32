package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/config"
	"github.com/libcluster-go/libcluster/httpapi"
)

// newWeb returns the web view of a node run from f, serving on ln. Wrap
// the topologies with its Discovery log and add its Events.Observe to
// their observers before they start.
func newWeb(f *config.File, ln net.Listener) *httpapi.Web {
	w := &httpapi.Web{
		Events:     httpapi.NewEventLog(0),
		Discovery:  &httpapi.DiscoveryLog{},
		Topologies: map[string]httpapi.TopologyInfo{},
		Connector:  f.Node.Connector,
		Redact:     secrets(f),
	}
	for _, t := range f.Topologies {
		w.Topologies[t.Name] = httpapi.TopologyInfo{Strategy: t.Strategy.Name, Policy: t.Policy}
	}
	if ln != nil {
		w.PeerPage = samePortPage(ln.Addr().(*net.TCPAddr).Port)
	}
	return w
}

// samePortPage finds a peer's page on the host of its node name and the
// port this node serves on: the layout of a fleet whose nodes share one
// config (a StatefulSet, a VM image).
func samePortPage(port int) func(libcluster.Node) string {
	return func(n libcluster.Node) string {
		host := n.Host()
		if host == "" || port == 0 {
			return ""
		}
		return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
	}
}

// secrets lists the texts the page must never show: the cookie and every
// strategy parameter whose name says it is a secret.
func secrets(f *config.File) []string {
	out := []string{f.Node.Cookie}
	if k := f.Node.Memberlist.SecretKey; len(k) > 0 {
		out = append(out, string(k), base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k))
	}
	for _, t := range f.Topologies {
		for k, v := range t.Params {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "secret") || strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "password") {
				out = append(out, fmt.Sprint(v))
			}
		}
	}
	return out
}
