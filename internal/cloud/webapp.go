package cloud

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"vigil/internal/release"
)

// Browser routes. The web app (Options.App, normally web.App()) is served
// from every GET path outside /v1/: files under /assets/ are content-hashed
// and cached for a year; every other path answers index.html (the app routes
// in the browser), which is never cached. API and app share one origin, so
// the session cookie (SameSite=Strict) and the CSP's 'self' cover both.

// contentSecurityPolicy allows only the app's own scripts and styles: no
// inline script or style, no eval, no other origin, no framing. Media and
// images may be blob: URLs because the app decrypts footage into them.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; " +
	"manifest-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders are sent with every answer, API and app alike.
func (s *Server) securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(self), geolocation=(), payment=(), usb=()")
	if s.opt.SecureCookies {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// hardened wraps the whole service: security headers everywhere, no caching
// of API answers.
func (s *Server) hardened(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.securityHeaders(w.Header())
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// serveApp answers browser routes: a file of the app, or index.html.
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request) {
	if s.opt.App == nil || strings.HasPrefix(r.URL.Path, "/v1/") || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		writeError(w, errNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	p := path.Clean(r.URL.Path)
	if strings.HasPrefix(p, "/assets/") {
		name := strings.TrimPrefix(p, "/")
		b, err := fs.ReadFile(s.opt.App, name)
		if err != nil {
			writeError(w, errNotFound)
			return
		}
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		if release.IsServiceWorker(p) {
			// The worker lives under /assets/ (hashed, signed with the
			// release) but controls the whole app.
			h.Set("Service-Worker-Allowed", "/")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
		return
	}
	f, err := s.opt.App.Open("index.html")
	if err != nil {
		writeError(w, errNotFound)
		return
	}
	defer f.Close()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		io.Copy(w, f)
	}
}
