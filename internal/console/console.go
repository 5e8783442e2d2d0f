// Package console serves herald's browser console under /console/: a static page that
// logs a user in over the VCD OpenAPI (VCD-COMPAT §2.1), opens MQTT over WebSocket at
// /messaging/mqtt with user@org and the JWT as the CONNECT credentials (auth form B,
// §6.2), subscribes to what the user's role allows (§7.2) and shows the notifications
// as they arrive (§8): events, tasks with a progress bar that updates in place, denied
// subscriptions, the token's expiry, and for system administrators a sparkline per VM
// metric of each vApp (§9.3).
//
// The files are embedded in the binary, so the console needs no CDN and works offline.
// static/mqtt.min.js is the browser bundle of the npm package mqtt, version 5.16.0
// (dist/mqtt.min.js, MIT licence, in static/mqtt.LICENSE.md), copied byte for byte;
// mqttJSSHA256 in the tests pins it.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Prefix is the path under which Handler serves the console.
const Prefix = "/console/"

//go:embed static
var static embed.FS

// securityHeaders go on every answer of the console. The policy allows scripts, styles
// and connections (fetch, and the WebSocket: CSP Level 3 'self' covers wss: on the same
// host) to this origin only; notification data is only ever inserted as text. mqtt.js
// runs its keepalive timer in a Worker made from a blob: URL, because browsers throttle
// the timers of background tabs below MQTT's keepalive; only the page's own scripts can
// make such a blob, hence worker-src blob:.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; worker-src 'self' blob:; style-src 'self'; " +
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	// Revalidate every time: the ETag makes that a 304 until the binary changes.
	"Cache-Control": "no-cache",
}

// asset is one embedded file with its strong ETag.
type asset struct {
	body []byte
	etag string
}

// assets reads the embedded files once; the map is never written after that.
var assets = sync.OnceValue(func() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[strings.TrimPrefix(p, "static/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("console: read embedded files: " + err.Error())
	}
	return m
})

// Handler returns the console's handler. GET or HEAD of Prefix serves the page and
// Prefix+name its other files; "/console" redirects to Prefix. Other methods get 405,
// other paths 404. Answers carry a strong ETag (If-None-Match gives 304) and the
// security headers above.
//
// Mount it for both "/console/" and "/console" (or "GET /console").
func Handler() http.Handler {
	files := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == strings.TrimSuffix(Prefix, "/") {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(p, Prefix)
		if name == "" {
			name = "index.html"
		}
		a, found := files[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		for k, v := range securityHeaders {
			h.Set(k, v)
		}
		h.Set("ETag", a.etag)
		// ServeContent sets Content-Type from the extension and answers conditional and
		// range requests.
		http.ServeContent(w, r, path.Base(name), time.Time{}, bytes.NewReader(a.body))
	})
}
