// Package httpapi serves a node's membership and health over HTTP:
//
//	GET /members  JSON: this node, its connected nodes, and per topology the
//	              desired and connected nodes and readiness ([Members])
//	GET /healthz  200 "ok" while the process serves
//	GET /readyz   200 when every topology met its min_nodes and the
//	              connector is healthy, else 503 saying what is wrong
//	GET /metrics  Prometheus metrics (text format 0.0.4), when Metrics is set
//
// With [Source].Web set it also serves the live web view at / ([Web]).
package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/metrics"
)

// Members is the body of GET /members.
type Members struct {
	Self       string                     `json:"self"`
	Nodes      []string                   `json:"nodes"` // connected nodes, sorted
	Topologies map[string]TopologyMembers `json:"topologies"`
}

// TopologyMembers is one topology's part of [Members].
type TopologyMembers struct {
	Desired   []string `json:"desired"`
	Connected []string `json:"connected"`
	Ready     bool     `json:"ready"`
	LastError string   `json:"last_error,omitempty"`
}

// Source is what the handler reports on.
type Source struct {
	// Connector gives this node's name and its connected nodes. Required.
	Connector libcluster.Connector
	// Status returns every topology's status, e.g. a Supervisor's Status
	// method. Nil: no topologies.
	Status func() []libcluster.TopologyStatus
	// Metrics serves /metrics and the web view's figures, typically a
	// *metrics.Metrics; nil: no /metrics endpoint and no figures.
	Metrics MetricsSource
	// Web serves the live web view at /; nil: no page.
	Web *Web
	// Health returns nil while the connector works, or what broke it (such
	// as erldist.Node's Err: its listener failed for good); /readyz then
	// answers 503 with the error. Nil: not checked.
	Health func() error
}

// MetricsSource is what serves GET /metrics: [metrics.Metrics] is one.
type MetricsSource interface {
	// WriteText writes the metrics in the Prometheus text exposition
	// format, version 0.0.4 (metrics.ContentType).
	WriteText(w io.Writer) error
	// Snapshot returns the samples the web view shows as figures.
	Snapshot() []metrics.Sample
}

// Handler returns the HTTP handler for src.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /members", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Snapshot(src))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		var notReady []string
		if src.Health != nil {
			if err := src.Health(); err != nil {
				notReady = append(notReady, err.Error())
			}
		}
		for _, s := range status(src) {
			if !s.Ready {
				notReady = append(notReady, fmt.Sprintf("%s (%d of %d desired nodes connected)", s.Name, len(s.Connected), len(s.Desired)))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(notReady) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", strings.Join(notReady, ", "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if src.Metrics != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			if err := src.Metrics.WriteText(&buf); err != nil {
				http.Error(w, "reading the metrics failed: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", metrics.ContentType)
			_, _ = w.Write(buf.Bytes())
		})
	}
	if src.Web != nil {
		src.Web.routes(mux, src)
	}
	return mux
}

func status(src Source) []libcluster.TopologyStatus {
	if src.Status == nil {
		return nil
	}
	return src.Status()
}

// Snapshot builds the /members answer.
func Snapshot(src Source) Members {
	m := Members{
		Self:       string(src.Connector.Self()),
		Nodes:      names(src.Connector.Nodes()),
		Topologies: map[string]TopologyMembers{},
	}
	for _, s := range status(src) {
		tm := TopologyMembers{Desired: names(s.Desired), Connected: names(s.Connected), Ready: s.Ready}
		if s.LastError != nil {
			tm.LastError = s.LastError.Error()
		}
		m.Topologies[s.Name] = tm
	}
	return m
}

func names(ns []libcluster.Node) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, string(n))
	}
	slices.Sort(out)
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
