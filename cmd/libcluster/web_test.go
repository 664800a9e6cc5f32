package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// browser starts headless Chromium (Debian's chromium package) with a new
// empty profile and returns a tab's context. Cleanup closes the browser.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium not found on PATH (apt-get install -y chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium puts its singleton socket dir in TMPDIR and leaves it.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// js evaluates expr in the page.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitPage polls the boolean expression expr in the page until it holds.
func waitPage(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !js[bool](t, ctx, expr) {
		if time.Now().After(deadline) {
			t.Fatalf("page: %s: not within %v (%s); page text:\n%s", what, d, expr, js[string](t, ctx, "document.body.innerText"))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// screenshot saves the page as a PNG in the test's temp dir, or in
// $LIBCLUSTER_SCREENSHOTS when set (to look at them after the run).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveShot(t, name, png)
}

func saveShot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("LIBCLUSTER_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

func waitHTTP(t *testing.T, addr string) {
	t.Helper()
	eventually(t, 20*time.Second, addr+" serves /healthz", func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

const webCookie = "web-test-cookie-9f2c"

// TestWebMesh runs three real nodes on 127.0.0.1, .2 and .3 (one shared
// distribution port, no EPMD, one shared HTTP port, so each finds its
// peers' pages) and watches node a's page in Chromium: peers appear within
// a second of connecting, the mesh shows all three links (b–c only from
// the peers' views), the event filter works, and a killed node turns down
// with its node_down event.
func TestWebMesh(t *testing.T) {
	ctx := browser(t)
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	distPort := clustertest.FreeSharedPort(t, hosts...)
	httpPort := clustertest.FreeSharedPort(t, hosts...)
	names := []string{"a@127.0.0.1", "b@127.0.0.2", "c@127.0.0.3"}
	start := func(i int) *erltest.Proc {
		cfg := fmt.Sprintf(`node:
  name: %s
  cookie: %s
  listen: %s:%d
  epmd: none
  tick_time: 2s
http:
  listen: %s:%d
topologies:
  mesh:
    strategy: epmd
    config:
      hosts: [%s]
    policy: {min_nodes: 2, connect_timeout: 1s, resync: 500ms, backoff: {initial: 50ms, max: 250ms}}
`, names[i], webCookie, hosts[i], distPort, hosts[i], httpPort, strings.Join(names, ", "))
		return erltest.Start(t, nil, binary, "run", "--config", writeFile(t, fmt.Sprintf("n%d.yaml", i), cfg))
	}
	addr := func(i int) string { return fmt.Sprintf("%s:%d", hosts[i], httpPort) }

	start(0)
	waitHTTP(t, addr(0))
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr(0)+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 10*time.Second, "self and two desired peers down",
		`document.getElementById("self").textContent === "a@127.0.0.1" && document.querySelectorAll('tr.member[data-state="down"]').length === 2`)
	waitPage(t, ctx, 10*time.Second, "event stream live", `document.getElementById("stream").textContent === "events: live"`)
	screenshot(t, ctx, "web-alone.png")

	// Peers appear on the page within a second of connecting: poll node
	// a's /members and the page side by side.
	procs := []*erltest.Proc{nil, start(1), start(2)}
	connectedAt := map[string]time.Time{}
	shownAt := map[string]time.Time{}
	deadline := time.Now().Add(30 * time.Second)
	for len(shownAt) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("peers not shown connected within 30s: connected %v, shown %v; page:\n%s", connectedAt, shownAt, js[string](t, ctx, "document.body.innerText"))
		}
		if m, err := getMembers(addr(0)); err == nil {
			for _, n := range m.Nodes {
				if _, ok := connectedAt[n]; !ok {
					connectedAt[n] = time.Now()
				}
			}
		}
		for _, n := range names[1:] {
			if _, ok := shownAt[n]; !ok && js[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('tr.member[data-node=%q][data-state="up"]')`, n)) {
				shownAt[n] = time.Now()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range names[1:] {
		c, ok := connectedAt[n]
		if !ok { // shown before /members was polled again: no lag at all
			c = shownAt[n]
		}
		lag := shownAt[n].Sub(c)
		t.Logf("%s: shown on the page %v after /members listed it", n, lag.Round(time.Millisecond))
		if lag > time.Second {
			t.Errorf("%s shown %v after it connected, want within 1s", n, lag)
		}
	}

	// The mesh: a–b and a–c seen by a itself, b–c only in the peers' views.
	waitPage(t, ctx, 15*time.Second, "three links, b–c from peers' views",
		`document.querySelectorAll("#mesh line").length === 3 &&
		 document.querySelectorAll('#mesh line[data-direct]').length === 2 &&
		 !!document.querySelector('#mesh line[data-a="b@127.0.0.2"][data-b="c@127.0.0.3"]:not([data-direct])')`)
	waitPage(t, ctx, 10*time.Second, "topology ready", `!!document.querySelector('.topology [data-ready]')`)
	screenshot(t, ctx, "web-mesh.png")

	// The event filter by kind.
	js[bool](t, ctx, `(() => { const s = document.getElementById("fkind"); s.value = "node_up"; s.dispatchEvent(new Event("change")); return true })()`)
	waitPage(t, ctx, 5*time.Second, "only node_up events listed",
		`(() => { const l = [...document.querySelectorAll("#events li")]; return l.length >= 2 && l.every((e) => e.dataset.kind === "node_up") })()`)
	js[bool](t, ctx, `(() => { const s = document.getElementById("fkind"); s.value = ""; s.dispatchEvent(new Event("change")); return true })()`)

	// Kill c: the page turns it down and shows the node_down event.
	killed := time.Now()
	procs[2].Kill()
	waitPage(t, ctx, 15*time.Second, "c down with its node_down event",
		`!!document.querySelector('tr.member[data-node="c@127.0.0.3"][data-state="down"]') &&
		 !!document.querySelector('#events li[data-kind="node_down"][data-node="c@127.0.0.3"]') &&
		 !!document.querySelector('#mesh g[data-node="c@127.0.0.3"][data-state="down"]')`)
	t.Logf("killed node shown down after %v", time.Since(killed).Round(time.Millisecond))
	screenshot(t, ctx, "web-killed.png")

	// Newest first, nothing loaded from elsewhere, no secret shown.
	if !js[bool](t, ctx, `(() => { const ids = [...document.querySelectorAll("#events li")].map((e) => +e.dataset.id); return ids.length > 0 && ids.every((v, i) => i === 0 || ids[i-1] > v) })()`) {
		t.Error("events are not listed newest first")
	}
	if bad := js[[]string](t, ctx, `performance.getEntriesByType("resource").map((e) => e.name).filter((u) => !u.startsWith(location.origin + "/"))`); len(bad) > 0 {
		t.Errorf("the page loaded from elsewhere: %v", bad)
	}
	if js[bool](t, ctx, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, webCookie)) {
		t.Error("the page shows the cookie")
	}
	for _, p := range []string{"/", "/api/view", "/api/mesh"} {
		if _, body := httpGet(t, "http://"+addr(0)+p); strings.Contains(body, webCookie) {
			t.Errorf("%s shows the cookie", p)
		}
	}
	// Read-only: no endpoint accepts a change.
	resp, err := http.Post("http://"+addr(0)+"/api/view", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/view = %s, want 405", resp.Status)
	}
}

// TestWebDNSBehindPrefix runs a node whose DNS SRV answer holds a target
// that makes no node, and opens its page through a reverse proxy under a
// path prefix: the dropped candidate shows its reason, and the page's
// data and event stream work through the proxy.
func TestWebDNSBehindPrefix(t *testing.T) {
	ctx := browser(t)
	dns := dnstest.New(t)
	dns.SetSRV("app.default.svc.cluster.local",
		dnstest.SRV{Target: "127.0.0.9", Port: 4369},
		dnstest.SRV{Target: ".", Port: 4369})
	distPort := clustertest.FreePort(t)
	httpPort := clustertest.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: app@127.0.0.1
  cookie: %s
  listen: 127.0.0.1:%d
  epmd: none
http:
  listen: 127.0.0.1:%d
topologies:
  k8s:
    strategy: kubernetes_dnssrv
    config:
      service: app
      namespace: default
      application_name: app
      polling_interval: 500ms
      resolver: [%s]
    policy: {connect_timeout: 500ms, backoff: {initial: 100ms, max: 1s}}
`, webCookie, distPort, httpPort, dns.Addr())
	erltest.Start(t, nil, binary, "run", "--config", writeFile(t, "dns.yaml", cfg))
	addr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	waitHTTP(t, addr)

	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // pass the event stream through at once
	proxy := httptest.NewServer(http.StripPrefix("/ops/libcluster", rp))
	t.Cleanup(func() { proxy.CloseClientConnections(); proxy.Close() })

	if err := chromedp.Do(ctx, chromedp.Navigate(proxy.URL+"/ops/libcluster/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 15*time.Second, "dropped SRV target with its reason",
		`(() => { const d = document.querySelector('li.dropped'); return !!d && d.textContent.includes('target "." means the service is not available') })()`)
	waitPage(t, ctx, 10*time.Second, "kept candidate, desired but down, with its connect failure event",
		`!!document.querySelector('li.kept[data-candidate="app@127.0.0.9"]') &&
		 !!document.querySelector('tr.member[data-node="app@127.0.0.9"][data-state="down"]') &&
		 !!document.querySelector('#events li[data-kind="connect_failed"][data-node="app@127.0.0.9"]') &&
		 document.getElementById("stream").textContent === "events: live"`)
	if src := js[string](t, ctx, `document.querySelector(".source").textContent`); !strings.Contains(src, "DNS SRV app.default.svc.cluster.local") {
		t.Errorf("source shown = %q, want the SRV query", src)
	}
	screenshot(t, ctx, "web-dns.png")

	// The DNS server fails: the discovery error and the last error show,
	// the last good answer is kept, and the event appears; the topology
	// filter keeps only this topology's events.
	dns.SetSERVFAIL("app.default.svc.cluster.local")
	waitPage(t, ctx, 15*time.Second, "discovery error shown with the last good answer kept",
		`!!document.querySelector(".discovery-error") && document.querySelector(".last-error").textContent.includes("SERVFAIL") &&
		 !!document.querySelector('li.kept[data-candidate="app@127.0.0.9"]') &&
		 !!document.querySelector('#events li[data-kind="discovery_error"]')`)
	js[bool](t, ctx, `(() => { const s = document.getElementById("ftopo"); s.value = "k8s"; s.dispatchEvent(new Event("change")); return true })()`)
	waitPage(t, ctx, 5*time.Second, "topology filter",
		`(() => { const l = [...document.querySelectorAll("#events li")]; return l.length > 0 && l.every((e) => e.dataset.topology === "k8s") })()`)
	screenshot(t, ctx, "web-dns-error.png")
	if bad := js[[]string](t, ctx, `performance.getEntriesByType("resource").map((e) => e.name).filter((u) => !u.startsWith(location.origin + "/ops/libcluster/"))`); len(bad) > 0 {
		t.Errorf("the page left its prefix: %v", bad)
	}
}

// TestDemoWeb runs `libcluster demo --web` and watches its page: the
// cluster forms (every node up, all three links), loses a node (down, with
// its node_down event) and heals, live; Ctrl-C ends the demo cleanly.
func TestDemoWeb(t *testing.T) {
	ctx := browser(t)
	p := erltest.Start(t, nil, binary, "demo", "--web", "--nodes", "3", "--web-pause", "2s", "--timeout", "30s")
	m := p.WaitOutput(t, 20*time.Second, `web view: (http://127\.0\.0\.1:\d+/)`)
	if err := chromedp.Do(ctx, chromedp.Navigate(m[1])); err != nil {
		t.Fatal(err)
	}
	formed := `document.querySelectorAll('#mesh g[data-state="up"]').length === 2 && document.querySelectorAll("#mesh line").length === 3 &&
		document.querySelectorAll('#mesh line[data-direct]').length === 2`
	waitPage(t, ctx, 30*time.Second, "the demo cluster formed", formed)
	screenshot(t, ctx, "demo-formed.png")
	waitPage(t, ctx, 30*time.Second, "a node lost, with its node_down event",
		`(!!document.querySelector('#mesh g[data-node="demo2@127.0.0.1"][data-state="down"]') || !!document.querySelector('tr.member[data-node="demo2@127.0.0.1"][data-state="down"]')) &&
		 !!document.querySelector('#events li[data-kind="node_down"][data-node="demo2@127.0.0.1"]')`)
	screenshot(t, ctx, "demo-lost.png")
	waitPage(t, ctx, 30*time.Second, "healed", formed)
	p.WaitOutput(t, 30*time.Second, `keeps running`)
	screenshot(t, ctx, "demo-healed.png")
	// The small one for the README (docs/web-view.png): the top of the page.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 720)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 10*time.Second, "healed at the small size", formed)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) > 150<<10 {
		t.Errorf("the README screenshot is %d bytes, want under 150 KiB", len(png))
	}
	saveShot(t, "demo-readme.png", png)
	stop(t, p)
	if out := p.Output(); !strings.Contains(out, "healed in") {
		t.Errorf("demo output lacks its summary:\n%s", out)
	}
}
