package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy/gossip"
)

// Web is the live web view of a node: the page at / and the read-only
// JSON and event stream it reads. Set it as [Source].Web.
//
//	GET /             the page (HTML, CSS and JS in one document, embedded)
//	GET /api/view     JSON [View]: this node, every topology, its last discovery
//	GET /api/mesh     JSON [Mesh]: this node's view joined with its peers' views
//	GET /api/events   Server-Sent Events: one JSON [EventView] per event
//
// Every URL the page uses is relative, so it works behind a reverse proxy
// that serves it under a path prefix.
type Web struct {
	// Events feeds the event stream; nil: no events. Its Observe method
	// must be an observer of every topology.
	Events *EventLog
	// Discovery records what each strategy answered; nil: none shown.
	// Wrap every topology with it before they start.
	Discovery *DiscoveryLog
	// Topologies describes each topology by name: strategy and policy.
	Topologies map[string]TopologyInfo
	// Connector names the connector, e.g. "dist" or "memberlist".
	Connector string
	// PeerPage returns the base URL of a peer's page (e.g.
	// "http://10.0.0.6:4000/"), or "" when the peer serves none or it is
	// not known. Nil: the mesh shows only what this node sees.
	PeerPage func(libcluster.Node) string
	// Redact lists texts never shown (the cookie, secrets): any occurrence
	// in an error, source or candidate becomes "[redacted]".
	Redact []string
	// Client fetches peers' views; nil: a client with a 1 s timeout.
	Client *http.Client

	once    sync.Once
	started time.Time
}

// TopologyInfo is what the page shows of a topology's configuration.
type TopologyInfo struct {
	Strategy string // the strategy's name, e.g. "dnspoll"
	Policy   libcluster.Policy
}

// View is one node's picture (GET /api/view). It carries no secret: no
// cookie, no strategy parameters.
type View struct {
	Self       string         `json:"self"`
	Connector  string         `json:"connector,omitempty"`
	Time       time.Time      `json:"time"`
	Started    time.Time      `json:"started"`
	Nodes      []string       `json:"nodes"` // connected nodes, sorted
	Ready      bool           `json:"ready"` // every topology met its min_nodes
	Topologies []TopologyView `json:"topologies"`
	Figures    []Figure       `json:"figures"` // the Prometheus figures that matter
}

// TopologyView is one topology in a [View].
type TopologyView struct {
	Name      string       `json:"name"`
	Strategy  string       `json:"strategy,omitempty"`
	Prune     string       `json:"prune"`
	MinNodes  int          `json:"min_nodes"`
	Running   bool         `json:"running"`
	Ready     bool         `json:"ready"`
	Desired   []string     `json:"desired"`   // sorted
	Connected []string     `json:"connected"` // desired and connected, sorted
	Missing   []string     `json:"missing"`   // desired, not connected, sorted
	Restarts  int          `json:"restarts"`
	LastError string       `json:"last_error,omitempty"`
	Discovery *Discovery   `json:"discovery,omitempty"`
	Gossip    *GossipStats `json:"gossip,omitempty"`
}

// GossipStats are a gossip strategy's packet counters.
type GossipStats struct {
	Received     uint64            `json:"received"`
	Accepted     uint64            `json:"accepted"`
	Sent         uint64            `json:"sent"`
	SendErrors   uint64            `json:"send_errors"`
	DroppedTotal uint64            `json:"dropped_total"`
	Dropped      map[string]uint64 `json:"dropped"` // by reason, e.g. "auth"
}

// Figure is one Prometheus sample.
type Figure struct {
	Name   string  `json:"name"`
	Labels string  `json:"labels,omitempty"` // e.g. `topology="app"`
	Value  float64 `json:"value"`
}

// The figures the page shows besides every libcluster_ series.
var processFigures = []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"}

const maxFigures = 200

func (wb *Web) routes(mux *http.ServeMux, src Source) {
	wb.once.Do(func() { wb.started = time.Now() })
	red := newRedactor(wb.Redact)
	if wb.Events != nil {
		wb.Events.setRedactor(red)
	}
	if wb.Discovery != nil {
		wb.Discovery.setRedactor(red)
	}
	mux.Handle("GET /{$}", Page())
	mux.HandleFunc("GET /api/view", func(w http.ResponseWriter, r *http.Request) {
		writeAPI(w, wb.View(src))
	})
	mux.HandleFunc("GET /api/mesh", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		writeAPI(w, JoinMesh(ctx, wb.client(), wb.View(src), wb.PeerPage))
	})
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		if wb.Events == nil {
			http.Error(w, "this node keeps no event log", http.StatusNotFound)
			return
		}
		wb.Events.serveStream(w, r)
	})
}

func (wb *Web) client() *http.Client {
	if wb.Client != nil {
		return wb.Client
	}
	return &http.Client{Timeout: time.Second}
}

// View builds this node's picture.
func (wb *Web) View(src Source) View {
	red := newRedactor(wb.Redact)
	v := View{
		Self:      string(src.Connector.Self()),
		Connector: wb.Connector,
		Time:      time.Now(),
		Started:   wb.started,
		Nodes:     names(src.Connector.Nodes()),
		Ready:     true,
	}
	for _, s := range status(src) {
		info := wb.Topologies[s.Name]
		tv := TopologyView{
			Name:      s.Name,
			Strategy:  info.Strategy,
			Prune:     info.Policy.Prune.String(),
			MinNodes:  info.Policy.MinNodes,
			Running:   s.Running,
			Ready:     s.Ready,
			Desired:   names(s.Desired),
			Connected: names(s.Connected),
			Restarts:  s.Restarts,
		}
		tv.Missing = []string{}
		for _, d := range tv.Desired {
			if !slices.Contains(tv.Connected, d) {
				tv.Missing = append(tv.Missing, d)
			}
		}
		if s.LastError != nil {
			tv.LastError = red.apply(s.LastError.Error())
		}
		if !s.Ready {
			v.Ready = false
		}
		if wb.Discovery != nil {
			if d, ok := wb.Discovery.Get(s.Name); ok {
				tv.Discovery = &d
			}
			if g, ok := wb.Discovery.strategy(s.Name).(interface{ Stats() gossip.Stats }); ok {
				st := g.Stats()
				gs := &GossipStats{Received: st.Received, Accepted: st.Accepted, Sent: st.Sent, SendErrors: st.SendErrors,
					DroppedTotal: st.DroppedTotal(), Dropped: map[string]uint64{}}
				for r, n := range st.Dropped {
					gs.Dropped[string(r)] = n
				}
				tv.Gossip = gs
			}
		}
		v.Topologies = append(v.Topologies, tv)
	}
	if v.Topologies == nil {
		v.Topologies = []TopologyView{}
	}
	v.Figures = figures(src)
	return v
}

func figures(src Source) []Figure {
	out := []Figure{}
	if src.Metrics == nil {
		return out
	}
	for _, sm := range src.Metrics.Snapshot() {
		if !strings.HasPrefix(sm.Name, "libcluster_") && !slices.Contains(processFigures, sm.Name) {
			continue
		}
		if len(out) == maxFigures {
			return out
		}
		var labels []string
		for _, l := range sm.Labels {
			labels = append(labels, fmt.Sprintf("%s=%q", l.Name, l.Value))
		}
		out = append(out, Figure{Name: sm.Name, Labels: strings.Join(labels, ","), Value: sm.Value})
	}
	return out
}

// Mesh is the cluster as this node and the peers whose pages answered
// see it (GET /api/mesh).
type Mesh struct {
	Self  string     `json:"self"`
	Time  time.Time  `json:"time"`
	Nodes []MeshNode `json:"nodes"` // this node first, then sorted
	Links []MeshLink `json:"links"` // sorted by A, B
}

// MeshNode is one node of a [Mesh].
type MeshNode struct {
	Name string `json:"name"`
	// State: "self"; "up" (connected to this node); "down" (desired by a
	// topology of this node, not connected); "remote" (known only from a
	// peer's view).
	State string `json:"state"`
	// View: "ok" when the node's own view was joined; else why not
	// (empty when it was not asked: down, or no way to find its page).
	View string `json:"view,omitempty"`
}

// MeshLink is a connection between two nodes, A < B.
type MeshLink struct {
	A      string   `json:"a"`
	B      string   `json:"b"`
	SeenBy []string `json:"seen_by"` // the nodes whose views list it
	// Direct: this node is one end and sees the link itself. A link that
	// is not direct is known only from peers' views: this node cannot see
	// it.
	Direct bool `json:"direct"`
	// OneSided: both ends' views were joined and only one lists the
	// other (a half-open connection or a view taken mid-change).
	OneSided bool `json:"one_sided,omitempty"`
}

// maxPeerViews bounds how many peers' views one mesh request asks for.
const maxPeerViews = 64

// maxViewBytes bounds a peer's view read from the network.
const maxViewBytes = 4 << 20

// FetchView reads the View served by the page at base (a URL ending in
// "/", e.g. "http://10.0.0.6:4000/").
func FetchView(ctx context.Context, c *http.Client, base string) (View, error) {
	var v View
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/view", nil)
	if err != nil {
		return v, fmt.Errorf("peer page URL %q: %v", base, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return v, fmt.Errorf("no page answered: %v", shortErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%s answered %s", req.URL.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxViewBytes+1))
	if err != nil {
		return v, fmt.Errorf("reading %s: %v", req.URL.Redacted(), err)
	}
	if len(body) > maxViewBytes {
		return v, fmt.Errorf("%s answered more than %d bytes", req.URL.Redacted(), maxViewBytes)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("%s did not answer a libcluster view: %v", req.URL.Redacted(), err)
	}
	return v, nil
}

func shortErr(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

// JoinMesh joins self's view with the views of its connected peers, each
// read from the page pageOf returns for it (nil or "": not asked). A page
// that answers for another node than the one asked is not joined.
func JoinMesh(ctx context.Context, c *http.Client, self View, pageOf func(libcluster.Node) string) Mesh {
	m := Mesh{Self: self.Self, Time: time.Now()}
	views := map[string]*View{self.Self: &self}
	viewState := map[string]string{self.Self: "ok"}
	if pageOf != nil {
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, n := range self.Nodes {
			if i == maxPeerViews {
				break
			}
			base := pageOf(libcluster.Node(n))
			if base == "" {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				v, err := FetchView(ctx, c, base)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					viewState[n] = err.Error()
				case v.Self != n:
					viewState[n] = fmt.Sprintf("the page at %s belongs to %s", base, v.Self)
				default:
					views[n], viewState[n] = &v, "ok"
				}
			})
		}
		wg.Wait()
	}

	state := map[string]string{self.Self: "self"}
	for _, n := range self.Nodes {
		state[n] = "up"
	}
	for _, t := range self.Topologies {
		for _, n := range t.Desired {
			if state[n] == "" {
				state[n] = "down"
			}
		}
	}
	type pair struct{ a, b string }
	links := map[pair]*MeshLink{}
	viewers := slices.Sorted(maps.Keys(views))
	for _, viewer := range viewers {
		for _, n := range views[viewer].Nodes {
			if n == viewer {
				continue
			}
			if state[n] == "" {
				state[n] = "remote"
			}
			p := pair{viewer, n}
			if p.b < p.a {
				p = pair{n, viewer}
			}
			l := links[p]
			if l == nil {
				l = &MeshLink{A: p.a, B: p.b, Direct: p.a == self.Self || p.b == self.Self}
				links[p] = l
			}
			l.SeenBy = append(l.SeenBy, viewer)
		}
	}
	for _, l := range links {
		if views[l.A] != nil && views[l.B] != nil && len(l.SeenBy) == 1 {
			l.OneSided = true
		}
	}
	m.Nodes = append(m.Nodes, MeshNode{Name: self.Self, State: "self", View: "ok"})
	others := make([]string, 0, len(state))
	for n := range state {
		if n != self.Self {
			others = append(others, n)
		}
	}
	sort.Strings(others)
	for _, n := range others {
		m.Nodes = append(m.Nodes, MeshNode{Name: n, State: state[n], View: viewState[n]})
	}
	m.Links = []MeshLink{}
	for _, l := range links {
		m.Links = append(m.Links, *l)
	}
	slices.SortFunc(m.Links, func(x, y MeshLink) int {
		if c := strings.Compare(x.A, y.A); c != 0 {
			return c
		}
		return strings.Compare(x.B, y.B)
	})
	return m
}

func writeAPI(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeJSON(w, http.StatusOK, v)
}

// redactor replaces secrets in texts shown on the page.
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets []string) *redactor {
	var args []string
	for _, s := range secrets {
		if len(s) >= 4 { // shorter texts are not secrets worth the false hits
			args = append(args, s, "[redacted]")
		}
	}
	if len(args) == 0 {
		return nil
	}
	return &redactor{strings.NewReplacer(args...)}
}

func (r *redactor) apply(s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.r.Replace(s)
}
