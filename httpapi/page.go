package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
)

// The page's sources: plain HTML, CSS and JavaScript, no build step. The
// server inlines the style sheet and the script into the document once,
// so the page is one request and every other URL it uses is relative.
//
//go:embed web/index.html web/style.css web/app.js
var webFS embed.FS

type page struct {
	body []byte
	csp  string
}

var (
	pageOnce  sync.Once
	pageBuilt page
)

func buildPage() page {
	read := func(name string) []byte {
		b, err := webFS.ReadFile("web/" + name)
		if err != nil {
			panic("httpapi: embedded " + name + " missing: " + err.Error()) // a build defect, caught by every test
		}
		return b
	}
	html, css, js := read("index.html"), read("style.css"), read("app.js")
	hash := func(b []byte) string {
		s := sha256.Sum256(b)
		return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
	}
	html = bytes.Replace(html, []byte(`<link rel="stylesheet" href="style.css">`), append(append([]byte("<style>"), css...), "</style>"...), 1)
	html = bytes.Replace(html, []byte(`<script src="app.js"></script>`), append(append([]byte("<script>"), js...), "</script>"...), 1)
	csp := fmt.Sprintf("default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", hash(js), hash(css))
	return page{body: html, csp: csp}
}

// PageSize is the size in bytes of the page document served at /, with
// its style sheet and script inlined. It is everything the page loads
// besides the JSON and the event stream.
func PageSize() int {
	pageOnce.Do(func() { pageBuilt = buildPage() })
	return len(pageBuilt.body)
}

// Page returns the handler of the web view's document. It reads
// api/view, api/mesh and api/events relative to its own URL; see [Web].
func Page() http.Handler {
	pageOnce.Do(func() { pageBuilt = buildPage() })
	p := pageBuilt
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", p.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		w.Write(p.body)
	})
}
