package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/httpapi"
)

// demoWeb serves the web view of the demo cluster: the page itself, the
// first node's view and event stream (proxied), and the mesh joined from
// every node's view (the demo knows where each node serves its page).
type demoWeb struct {
	srv    *http.Server
	ln     net.Listener
	opened chan struct{} // closed when a browser first asks for the view
	once   sync.Once

	mu    sync.Mutex
	focus libcluster.Node
	addrs map[libcluster.Node]string // node -> host:port of its HTTP endpoint
}

func startDemoWeb(addr string, focus libcluster.Node) (*demoWeb, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	w := &demoWeb{ln: ln, opened: make(chan struct{}), focus: focus, addrs: map[libcluster.Node]string{}}
	client := &http.Client{Timeout: time.Second}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: w.addrOf(w.focus)})
		},
		FlushInterval: -1, // the event stream goes through at once
		ErrorHandler: func(rw http.ResponseWriter, r *http.Request, err error) {
			http.Error(rw, "the demo's first node does not answer yet", http.StatusServiceUnavailable)
		},
	}
	toFocus := func(rw http.ResponseWriter, r *http.Request) {
		if w.addrOf(w.focus) == "" {
			http.Error(rw, "the demo nodes are starting", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(rw, r)
	}
	page := httpapi.Page()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		w.once.Do(func() { close(w.opened) })
		page.ServeHTTP(rw, r)
	})
	mux.HandleFunc("GET /api/view", toFocus)
	mux.HandleFunc("GET /api/events", toFocus)
	mux.HandleFunc("GET /api/mesh", func(rw http.ResponseWriter, r *http.Request) {
		a := w.addrOf(w.focus)
		if a == "" {
			http.Error(rw, "the demo nodes are starting", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		v, err := httpapi.FetchView(ctx, client, "http://"+a+"/")
		if err != nil {
			http.Error(rw, "the demo's first node: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		m := httpapi.JoinMesh(ctx, client, v, func(n libcluster.Node) string {
			if a := w.addrOf(n); a != "" {
				return "http://" + a + "/"
			}
			return ""
		})
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(rw).Encode(m)
	})
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go w.srv.Serve(ln)
	return w, nil
}

// URL is where the page is served.
func (w *demoWeb) URL() string { return "http://" + w.ln.Addr().String() + "/" }

func (w *demoWeb) addrOf(n libcluster.Node) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addrs[n]
}

// set records where node n serves its page ("" when it is not running).
func (w *demoWeb) set(n libcluster.Node, addr string) {
	w.mu.Lock()
	w.addrs[n] = addr
	w.mu.Unlock()
}

func (w *demoWeb) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	w.srv.Shutdown(ctx)
	w.srv.Close()
}
